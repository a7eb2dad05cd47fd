"""The contract every plugin imports: spec, result, config, context, errors, locks, registry,
methods, provenance, processes, trial (run_trial) and metrics. It imports no plugin and no upper
floor of the harness (scripts/check_layers.py checks it)."""
