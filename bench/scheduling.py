"""Scheduling benchmark: what Ray Tune costs per trial, and how well trials pack onto slots.

    python bench/scheduling.py [--trials 64] [--packing 12] [--sleep 1.0] [--defaults 0]

1. Overhead: N trials of a method that returns at once (`test-instant`), run through the real
   harness path (harness.tune.run_trials: Tune trials, driver callback, one store transaction
   each) against the same N calls of run_trial in a plain loop, with and without the store
   writes. `ray.init` is timed separately. Target: < 0.5 s extra per trial.
2. Packing: trials of known length (`test-sleep`: base x (1 + seed % 3) seconds) on the local
   Ray's N CPU slots: makespan (first trial start to last trial end) against (total trial time
   / N). Target: within 10%. Greedy list scheduling of this sequence on 2 slots ends one base
   unit late (+4.2% for 24 trials) even with no overhead; the rest is the harness's gap between
   trials. Worker start-up (once per run) is reported separately, as ray.init is.
3. Optional (--defaults N): N trials with Tune's defaults (function trainable, no actor reuse),
   for comparison with the ~3 s/trial measured before.

Prints a table and writes bench/results/scheduling.json. Run it from the repository root.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)   # Ray workers start in the driver's directory and import tests.fixtures from it


def _specs(method: str, n: int, **params):
    from harness.core.spec import EvalSpec, TrialSpec

    return [TrialSpec(method=method, seed=i, params=params, eval=EvalSpec(domains=("movie",)))
            for i in range(n)]


def _options(storage: Path, cpus: int | None):
    from harness.tune.options import TuneOptions

    return TuneOptions(resources=lambda spec: (1.0, 0.0), storage_path=storage, num_cpus=cpus,
                       max_retries=0, imports=("tests.fixtures.methods",))


def bench_loop(specs, store) -> tuple[float, float]:
    from harness.core.trial import run_trial

    started = time.perf_counter()
    results = [run_trial(s) for s in specs]
    bare = time.perf_counter() - started
    started = time.perf_counter()
    for s in specs:
        store.write_result(run_trial(s))
    return bare, time.perf_counter() - started if results else 0.0


def bench_tune(specs, options, store, tag: str):
    from harness.tune.driver import resolve_resources, run_trials

    resources = resolve_resources(specs, options, strict=True)
    outcome = run_trials(specs, options, store, f"bench-{tag}-{int(time.time())}", resources)
    assert len(outcome.results) == len(specs) and not outcome.failed, "benchmark trials failed"
    return outcome


def bench_defaults(n: int, storage: Path) -> float:
    """Tune's defaults: a function trainable, fresh actor per trial (for comparison only)."""
    from ray import tune

    def trainable(config):
        from harness.core.spec import TrialSpec
        from harness.core.trial import run_trial
        import tests.fixtures.methods  # noqa: F401  registers test-instant

        result = run_trial(TrialSpec.from_json(config["spec"]))
        tune.report({"status": result.status})

    specs = _specs("test-instant", n)
    tuner = tune.Tuner(tune.with_resources(trainable, {"cpu": 1}),
                       param_space={"spec": tune.grid_search([s.canonical_json() for s in specs])},
                       run_config=tune.RunConfig(storage_path=str(storage), name="defaults", verbose=0))
    started = time.perf_counter()
    tuner.fit()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--packing", type=int, default=24, help="trials in the packing test")
    parser.add_argument("--sleep", type=float, default=1.0, help="base trial length (s) for packing")
    parser.add_argument("--cpus", type=int, default=None, help="local Ray CPUs (default: all)")
    parser.add_argument("--defaults", type=int, default=0, help="also time N trials with Tune's defaults")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "scheduling.json"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    import ray  # noqa: F401

    import_s = time.perf_counter() - t0
    import tests.fixtures.methods  # noqa: F401
    from harness.run.store import Store
    from harness.tune.session import ray_session

    work = Path(tempfile.mkdtemp(prefix="bench-sched-"))
    options = _options(work / "runs", args.cpus)
    out: dict = {"python": platform.python_version(), "machine": platform.machine(),
                 "cpus_visible": os.cpu_count(), "ray_import_s": round(import_s, 2)}
    with ray_session(options, work / "runs") as session:
        import ray

        slots = int(ray.cluster_resources().get("CPU", 1))
        out.update(ray_init_s=round(session["init_s"], 2), slots=slots)
        specs = _specs("test-instant", args.trials)
        loop_bare, loop_store = bench_loop(specs, Store(work / "loop.duckdb"))
        bench_tune(_specs("test-instant", 4, warmup=True), options, Store(work / "warm.duckdb"), "warm")
        tune_s = bench_tune(specs, options, Store(work / "tune.duckdb"), "instant").tune_s
        n = args.trials
        out.update(trials=n, loop_s=round(loop_bare, 3), loop_with_store_s=round(loop_store, 3),
                   tune_s=round(tune_s, 3),
                   overhead_per_trial_s=round((tune_s - loop_store) / n, 4),
                   overhead_vs_bare_loop_per_trial_s=round((tune_s - loop_bare) / n, 4))
        sleepy = _specs("test-sleep", args.packing, sleep_s=args.sleep)
        total = sum(args.sleep * (1 + s.seed % 3) for s in sleepy)
        packed = bench_tune(sleepy, options, Store(work / "pack.duckdb"), "packing")
        results = packed.results.values()
        # From the first trial's start to the last one's end: worker start-up, like ray.init,
        # is a once-per-run cost and is reported separately (packing_fit_s).
        makespan = max(r.finished_at for r in results) - min(r.started_at for r in results)
        ideal = total / slots
        out.update(packing_trials=len(sleepy), packing_total_trial_s=round(total, 2),
                   packing_ideal_s=round(ideal, 2), packing_makespan_s=round(makespan, 2),
                   packing_fit_s=round(packed.tune_s, 2), packing_excess=round(makespan / ideal - 1, 4))
        if args.defaults:
            d = bench_defaults(args.defaults, work / "runs")
            out.update(defaults_trials=args.defaults, defaults_s=round(d, 2),
                       defaults_per_trial_s=round(d / args.defaults, 3))
    shutil.rmtree(work, ignore_errors=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")

    from rich.console import Console
    from rich.table import Table

    table = Table(title="scheduling benchmark (harness.tune)", title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_column("target", justify="right")
    rows = [("ray import", f"{out['ray_import_s']:.2f} s", ""),
            ("ray.init (local)", f"{out['ray_init_s']:.2f} s", "counted separately"),
            (f"{n} instant trials, plain loop", f"{loop_bare:.2f} s", ""),
            (f"{n} instant trials, loop + store writes", f"{loop_store:.2f} s", ""),
            (f"{n} instant trials, Ray Tune", f"{tune_s:.2f} s", ""),
            ("overhead per trial (vs loop + store)", f"{out['overhead_per_trial_s']:.3f} s", "< 0.5 s"),
            ("overhead per trial (vs bare loop)", f"{out['overhead_vs_bare_loop_per_trial_s']:.3f} s", ""),
            (f"packing: {len(sleepy)} trials, {total:.0f} s of work on {slots} slots",
             f"{makespan:.2f} s (ideal {ideal:.2f} s, +{out['packing_excess']:.1%})", "< +10%"),
            ("packing: Tuner.fit wall (incl. worker start)", f"{packed.tune_s:.2f} s", "")]
    if args.defaults:
        rows.append((f"Tune defaults, {args.defaults} trials", f"{out['defaults_per_trial_s']:.2f} s/trial", ""))
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    print(f"wrote {args.out}")
    ok = out["overhead_per_trial_s"] < 0.5 and out["packing_excess"] < 0.10
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
