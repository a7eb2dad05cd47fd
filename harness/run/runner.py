"""run_grid: one linear function from a grid file to stored results (the CLI, tests and benches
all call it; the CLI only parses arguments and prints).

    plan = plan_run("grids/demo.yaml")              # load, validate, expand, pre-flight, skip stored
    report = run_grid(plan, console=Console())      # Ray session, run row, run dir, Tune, end row

A run's directory is `<ray.storage_path or <store dir>/runs/<grid name>>/<run_id>`; it holds
plan.json, progress.json and Ray's logs. `run_directory` is the one place that rule lives.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console

from harness.core import provenance
from harness.core.errors import HarnessError
from harness.core.methods import method_info
from harness.core.provenance import PROJECT_ROOT
from harness.core.spec import TrialSpec
from harness.grid import GridSpec, expand, load_grid
from harness.run.store import Store

GRID_DIRS = (PROJECT_ROOT / "grids", Path(__file__).resolve().parents[1] / "grids")


def resolve_grid_path(name: str | Path) -> Path:
    """A grid file, or the name of a shipped grid (`demo` -> grids/demo.yaml)."""
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in str(name):
        return path
    for folder in GRID_DIRS:
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return path


@dataclass
class Plan:
    """What a run of `grid` would do: every trial, what the store holds, what is left to run."""
    grid: GridSpec
    grid_path: Path
    store: Store
    specs: list[TrialSpec]
    stored: dict[str, str]
    todo: list[TrialSpec]
    ingested: int = 0      # journaled results of earlier runs stored by plan_run

    def frame(self):
        """One row per (method, variant): trials, stored complete / failed, to run, resources."""
        import pandas as pd

        todo_ids = {s.trial_id for s in self.todo}
        rows: dict[tuple, Counter] = {}
        for spec in self.specs:
            c = rows.setdefault((spec.method, spec.variant or ""), Counter())
            c["trials"] += 1
            c["complete"] += self.stored.get(spec.trial_id) == "complete"
            c["failed"] += self.stored.get(spec.trial_id) == "failed"
            c["to run"] += spec.trial_id in todo_ids
        out = []
        for (method, variant), c in rows.items():
            info = method_info(method)
            cpus, gpus = self.grid.resources_for(method, info.uses_llm)
            phase = "1" if variant and variant in info.first_phase_variants else "2"
            out.append({"method": method, "variant": variant, "phase": phase, "trials": c["trials"],
                        "complete": c["complete"], "failed": c["failed"], "to run": c["to run"],
                        "per trial": f"{cpus:g} CPU" + (f", {gpus} GPU" if gpus == "auto" else
                                                         f", {gpus:g} GPU" if gpus else "")})
        return pd.DataFrame(out)


def check_models(specs: list[TrialSpec], grid_path) -> None:
    """Fail before anything runs or is stored if a model block names no model the method can
    find (each method's `MethodInfo.check_model`, reached through the registry)."""
    seen = set()
    for spec in specs:
        check = method_info(spec.method).check_model
        key = (check, json.dumps(spec.model, sort_keys=True))
        if not spec.model or check is None or key in seen:
            continue
        seen.add(key)
        try:
            check(spec.model)
        except HarnessError as exc:
            raise HarnessError(f"{grid_path}: model.{getattr(exc, 'field', 'name')}: {exc}") from exc


def plan_run(grid: str | Path, db: str | Path | None = None, rerun_failed: bool = False) -> Plan:
    grid_path = resolve_grid_path(grid)
    spec = load_grid(grid_path)
    specs = expand(spec)
    check_models(specs, grid_path)
    store = Store(Path(db or spec.store))
    if store.path.is_file():   # a damaged store is refused before anything is written into it
        from harness.run.health import scan

        scan(store.path, store.wait_s)
    ingested = ingest_journals(store)
    if ingested.busy:   # a result we hold but cannot store now must not be computed again
        raise HarnessError(f"{ingested.busy} finished result(s) are journaled but could not be "
                           f"stored in {store.path} ({ingested.errors[-1]}); try again in a moment")
    stored = store.trial_status()
    todo = [s for s in specs if s.trial_id not in stored
            or (rerun_failed and stored[s.trial_id] == "failed")]
    return Plan(spec, grid_path, store, specs, stored, todo, ingested=ingested.stored)


def ingest_journals(store: Store):
    """Store the journaled results of every run of `store` whose driver is gone (a killed
    driver, or a store that stayed busy to the end): `harness run` and `harness status` call it."""
    from harness.run.journal import Ingested, ingest

    out = Ingested()
    if not store.path.exists():
        return out
    for run in store.query("SELECT run_id, name, grid_json FROM runs").itertuples(index=False):
        run_dir = run_directory(store, run)
        if run_dir is not None:
            ingest(store, run.run_id, run_dir / "journal", out)
    return out


def storage_root(grid: dict | GridSpec, store_path: str | Path) -> Path:
    """Where a grid's run directories live (Tune's storage)."""
    grid = grid.model_dump(mode="json") if isinstance(grid, GridSpec) else (grid or {})
    storage = (grid.get("ray") or {}).get("storage_path")
    return Path(storage) if storage else Path(store_path).parent / "runs" / str(grid.get("name", "grid"))


def run_directory(store: Store, run) -> Path | None:
    """The directory of a stored run (a `runs` row), if it still exists."""
    try:
        grid = json.loads(run.grid_json or "{}")
    except ValueError:
        return None
    grid.setdefault("name", run.name)
    path = storage_root(grid, store.path) / run.run_id
    return path if path.is_dir() else None


def tune_options(grid: GridSpec, storage_path: Path, address: str | None = None,
                 raw_dir: str | None = None):
    from harness.tune.options import TuneOptions

    def resources(spec: TrialSpec):
        return grid.resources_for(spec.method, method_info(spec.method).uses_llm)

    ray = grid.ray
    return TuneOptions(resources=resources, storage_path=Path(storage_path),
                       # RAY_ADDRESS joins a cluster, as for Ray itself (harness.tune.session)
                       address=address or ray.address or os.environ.get("RAY_ADDRESS") or None,
                       max_concurrent_trials=ray.max_concurrent_trials,
                       max_retries=ray.max_retries, reuse_actors=ray.reuse_actors,
                       num_cpus=ray.num_cpus, num_gpus=ray.num_gpus, gpu_leak_mb=ray.gpu_leak_mb,
                       imports=tuple(grid.imports),
                       raw_dir=str(Path(raw_dir).resolve()) if raw_dir else None,
                       cache_dir=os.environ.get("HARNESS_CACHE_DIR"), keep_adapters=grid.keep_adapters)


@dataclass
class RunReport:
    """What `run_grid` did: the run's id and directory, its end status, every last attempt."""
    run_id: str | None = None
    run_dir: Path | None = None
    status: str = "error"            # finished | failed | interrupted | error
    results: dict = field(default_factory=dict)
    missing: list[TrialSpec] = field(default_factory=list)
    leaks: list[tuple[str, float]] = field(default_factory=list)
    tune_s: float = 0.0
    ray_init_s: float = 0.0
    address: str | None = None
    journaled: int = 0               # results computed but not in the store (busy): journaled
    store_error: str = ""


def prepare_store(store: Store, storage: Path) -> None:
    """Before Ray starts and anything is written: refuse a damaged store (one line naming its
    backup), take the rolling backup (`<store>.bak`), and make sure the run folder can exist."""
    from harness.run.health import prepare_for_run

    prepare_for_run(store)
    try:
        storage.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HarnessError(f"cannot create the run folder {storage}: {exc.strerror or exc}") from None


def run_grid(plan: Plan, address: str | None = None, raw_dir: str | None = None,
             console: Console | None = None, on_start=None, store_wait_s: float = 300.0) -> RunReport:
    """Run `plan.todo` on Ray Tune; every result is journaled, then stored as it arrives.

    `on_start(report)` is called once the run row and directory exist (the CLI prints there).
    A store kept busy beyond `store_wait_s` after the last trial leaves results journaled in
    `<run dir>/journal/` (`report.journaled`); the next `harness run` / `harness status` stores them.
    """
    from harness.run.journal import Journal
    from harness.run.progress import RunProgress
    from harness.tune.session import ray_session

    grid, store, todo = plan.grid, plan.store, plan.todo
    storage = storage_root(grid, store.path)
    prepare_store(store, storage)
    options = tune_options(grid, storage, address=address, raw_dir=raw_dir)
    report = RunReport(address=options.address)
    with ray_session(options, storage) as session:
        from harness.tune.driver import resolve_resources, run_trials

        resources = resolve_resources(todo, options, strict=not options.address)
        report.run_id = store.begin_run(grid.name, grid.model_dump(mode="json"),
                                        host=provenance.host(), git_sha=provenance.git_state()[0])
        report.run_dir = run_dir = storage / report.run_id
        report.ray_init_s = session["init_s"]
        session["logs_dir"] = run_dir / "ray_logs"
        run_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal(run_dir / "journal")
        journal.hold()     # ours while this driver lives: ingest leaves it alone
        (run_dir / "plan.json").write_text(json.dumps(
            {"run_id": report.run_id, "db": str(store.path.resolve()), "grid": str(plan.grid_path),
             "trial_ids": [s.trial_id for s in plan.specs], "to_run": [s.trial_id for s in todo],
             "host": provenance.host(), "pid": os.getpid()}))
        if on_start:
            on_start(report)
        progress = RunProgress(todo, title=f"{grid.name} · {report.run_id}",
                               state_file=run_dir / "progress.json", console=console,
                               run_id=report.run_id)
        try:
            with progress:
                outcome = run_trials(todo, options, store, report.run_id, resources, observer=progress,
                                     journal=journal, store_wait_s=store_wait_s)
            report.results, report.leaks, report.tune_s = outcome.results, outcome.leaks, outcome.tune_s
            report.journaled = len(outcome.unwritten)
            report.store_error = outcome.store_errors[-1] if outcome.store_errors else ""
            report.missing = [s for s in todo if s.trial_id not in outcome.results]
            report.status = "interrupted" if report.missing else \
                ("failed" if outcome.failed else "finished")
        except KeyboardInterrupt:
            report.status = "interrupted"
            raise
        finally:
            _end_run(store, journal, report.run_id, report.status)
    return report


def _end_run(store: Store, journal, run_id: str, status: str) -> None:
    """Close the run row; with the store still busy, journal the end status for ingest."""
    from harness.run.store import StoreError

    try:
        store.end_run(run_id, status)
    except StoreError:
        journal.end_run(status)
    finally:
        journal.release()
