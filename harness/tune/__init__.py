"""Ray Tune: the only package that imports Ray.

- `options`: TuneOptions (how to run: resources, retries, actor reuse).
- `phases`: trial order and first-phase dependencies (pure).
- `session`: `ray_session` (local Ray or a cluster) and its housekeeping.
- `worker`: the Trainable that runs one TrialSpec per Tune trial.
- `driver`: `run_trials`, `resolve_resources`: schedules the specs, hands results to the writer.
- `writer`: the store writer thread (no Ray in it).

Import the modules directly; this package imports nothing, so `harness --help` never loads Ray.
"""
