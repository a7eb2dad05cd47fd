"""run_grid: one linear function from a grid file to stored results (the CLI, tests and benches
all call it; the CLI only parses arguments and prints).

    plan = plan_run("grids/demo.yaml")              # load, validate, expand, pre-flight, skip stored
    report = run_grid(plan, console=Console())      # Ray session, run row, run dir, Tune, end row

A run's directory is `<ray.storage_path or <store dir>/runs/<grid name>>/<run_id>` (the grid
file's setting, recorded beside the store in `<store>.runs`); it holds plan.json, the journal,
progress.json and Ray's logs. A stored run's directory is found by `run_directory` through
`rundirs`, never from the store's own `grid_json`.
"""
from __future__ import annotations

import contextlib
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
from harness.grid.expand import protocol_extra
from harness.run.journal import ingest_journals  # noqa: F401  (harness run and status call it)
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
    waiting: int = 0       # journaled results the store could not take yet (busy): not rerun
    warnings: list[str] = field(default_factory=list)   # journal files skipped, one line each

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
    if spec._search_only:   # its cells would be run on the test split: not what a search grid means
        raise HarnessError(f"{grid_path} is a search grid (a `search:` block, no `grid:` block): run "
                           "`harness search` on it, and `harness run` on the grid that uses its choice")
    specs = expand(spec)
    check_models(specs, grid_path)
    store = Store(Path(db or spec.store))
    if store.path.is_file():   # a damaged store is refused before anything is written into it
        from harness.run.health import scan

        scan(store.path, store.wait_s)
    with _short_wait(store):
        ingested = ingest_journals(store)
    stored = store.trial_status()
    # A result held in a journal (the store was busy) is never computed again: it counts as stored.
    for trial_id, status in ingested.waiting.items():
        if stored.get(trial_id) != "complete":
            stored[trial_id] = status
    todo = [s for s in specs if s.trial_id not in stored
            or (rerun_failed and stored[s.trial_id] == "failed")]
    return Plan(spec, grid_path, store, specs, stored, todo, ingested=ingested.stored,
                waiting=len(ingested.waiting), warnings=ingested.warnings)


def storage_root(grid: dict | GridSpec, store_path: str | Path) -> Path:
    """Where a grid's run directories live (Tune's storage)."""
    grid = grid.model_dump(mode="json") if isinstance(grid, GridSpec) else (grid or {})
    storage = (grid.get("ray") or {}).get("storage_path")
    return Path(storage) if storage else Path(store_path).parent / "runs" / str(grid.get("name", "grid"))


def run_directory(store: Store, run) -> Path | None:
    """The directory of a stored run (a `runs` row), if it still exists: looked for under the
    store's trusted run roots only; the row's `grid_json` (which a loaded dump may set to any
    folder) is never used as a path."""
    from harness.run.rundirs import find_run_dir

    return find_run_dir(store.path, run.run_id)


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
                       cache_dir=os.environ.get("HARNESS_CACHE_DIR"), keep_adapters=grid.keep_adapters,
                       trial_extra=lambda spec: protocol_extra(grid, spec))


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
    notes: list[str] = field(default_factory=list)   # what the user should know (backup skipped)


def prepare_store(store: Store, storage: Path) -> list[str]:
    """Before Ray starts and anything is written: refuse a damaged store (one line naming its
    backup), take the rolling backup (`<store>.bak`), make sure the run folder can exist and
    record it beside the store (`rundirs`). A store someone holds open does not stop the run:
    the backup is skipped, and the returned note says so."""
    from harness.run.health import prepare_for_run
    from harness.run.rundirs import register_root
    from harness.run.store import StoreBusy

    notes = []
    try:
        with _short_wait(store):
            prepare_for_run(store)
    except StoreBusy as exc:
        notes.append(f"no backup taken this run: {exc}")
    try:
        storage.mkdir(parents=True, exist_ok=True)
        register_root(store.path, storage)
    except OSError as exc:
        raise HarnessError(f"cannot create the run folder {storage}: {exc.strerror or exc}") from None
    return notes


@contextlib.contextmanager
def _short_wait(store: Store, seconds: float = 2.0):
    """Start and end of a run: a store held open is not waited for (the journal keeps it all)."""
    before = store.wait_s
    store.wait_s = min(before, seconds)
    try:
        yield store
    finally:
        store.wait_s = before


def run_grid(plan: Plan, address: str | None = None, raw_dir: str | None = None,
             console: Console | None = None, on_start=None, store_wait_s: float = 30.0) -> RunReport:
    """Run `plan.todo` on Ray Tune; every result is journaled, then stored as it arrives.

    The run never needs the store to start or finish: the run row, each result and the end
    status are journaled in `<run dir>` first and stored when the store is free. `on_start(report)`
    is called once the run directory exists (the CLI prints there). Results the store has not
    taken `store_wait_s` after the last trial wait in `<run dir>/journal/` (`report.journaled`);
    the next `harness run` / `harness status` stores them. A full disk stops the run with one line.
    """
    from harness.run.rundirs import new_run_id

    grid, store = plan.grid, plan.store
    storage = storage_root(grid, store.path)
    report = RunReport(run_id=new_run_id())
    try:
        report.notes = prepare_store(store, storage)
        options = tune_options(grid, storage, address=address, raw_dir=raw_dir)
        report.address = options.address
        _run(plan, options, storage, report, console, on_start, store_wait_s)
    except Exception as exc:
        from harness.tune.writer import DiskFull

        if isinstance(exc, HarnessError) and not isinstance(exc, DiskFull):
            raise                      # already one line that names the problem
        disk = disk_error(exc)
        if disk is None:
            raise
        if report.run_dir is None:
            raise HarnessError(f"cannot start the run (store {store.path}, run folder {storage}): "
                               f"{disk}; free space and run the grid again") from None
        raise HarnessError(f"run {report.run_id} stopped: {disk}; the results computed before are "
                           f"stored or journaled in {report.run_dir}/journal; free space and run "
                           "the grid again") from None
    return report


def disk_error(exc: BaseException) -> str | None:
    """The real disk error (full, quota, read-only) behind `exc`, wherever Ray or DuckDB put it:
    a HarnessError naming it, an OSError in the chain, else the line of a wrapped traceback."""
    import errno

    from harness.tune.writer import DiskFull

    chain, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        chain.append(exc)
        # `raise ... from None` says the new error is the whole story: do not look behind it
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    for e in chain:
        if isinstance(e, DiskFull):
            return str(e)
    for e in chain:
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            return f"{e.filename}: {e.strerror}" if e.filename else f"{e.strerror or e}"
    for e in chain:
        for line in reversed(str(e).splitlines()):
            if any(m in line for m in ("No space left on device", "Disk quota exceeded",
                                        "Read-only file system")):
                return line.strip()[:300]
    return None


def _run(plan: Plan, options, storage: Path, report: RunReport, console, on_start,
         store_wait_s: float) -> None:
    from harness.run.journal import Journal
    from harness.run.progress import RunProgress
    from harness.tune.session import ray_session

    grid, store, todo = plan.grid, plan.store, plan.todo
    with ray_session(options, storage) as session:
        from harness.tune.driver import resolve_resources, run_trials

        resources = resolve_resources(todo, options, strict=not options.address)
        report.run_dir = run_dir = storage / report.run_id
        report.ray_init_s = session["init_s"]
        session["logs_dir"] = run_dir / "ray_logs"
        run_dir.mkdir(parents=True, exist_ok=True)
        journal = Journal(run_dir / "journal")
        journal.hold()     # ours while this driver lives: ingest leaves it alone
        row = _write_plan(plan, run_dir, report.run_id)
        record_row = lambda: store.record_run(report.run_id, *row)   # noqa: E731
        with _short_wait(store):
            row_stored = _try_store(record_row)
        if on_start:
            on_start(report)
        progress = RunProgress(todo, title=f"{grid.name} · {report.run_id}",
                               state_file=run_dir / "progress.json", console=console,
                               run_id=report.run_id)
        try:
            with progress:
                outcome = run_trials(todo, options, store, report.run_id, resources, observer=progress,
                                     journal=journal, store_wait_s=store_wait_s,
                                     before_first=None if row_stored else record_row)
            report.results, report.leaks, report.tune_s = outcome.results, outcome.leaks, outcome.tune_s
            report.journaled = len(outcome.unwritten)
            report.store_error = outcome.store_errors[-1] if outcome.store_errors else ""
            report.missing = [s for s in todo if s.trial_id not in outcome.results]
            report.status = "interrupted" if report.missing else \
                ("failed" if outcome.failed else "finished")
        except KeyboardInterrupt:   # a second Ctrl-C: end now, the store is not waited for
            report.status = "interrupted"
            with contextlib.suppress(OSError):
                journal.end_run(report.status)
            journal.release()
            raise
        except BaseException:
            report.status = "error"
            _end_run(store, journal, report.run_id, report.status, record_row)
            raise
        _end_run(store, journal, report.run_id, report.status, record_row)


def _write_plan(plan: Plan, run_dir: Path, run_id: str) -> tuple:
    """plan.json: what ingest checks journal entries against, and the run's row (stored later
    from here if the store is busy now). Returns that row's fields for `Store.record_run`."""
    import time

    from harness.run.journal import _durable_write

    grid_json = json.dumps(plan.grid.model_dump(mode="json"))
    host, git_sha, started = provenance.host(), provenance.git_state()[0], time.time()
    _durable_write(run_dir / "plan.json", json.dumps(
        {"run_id": run_id, "db": str(plan.store.path.resolve()), "grid": str(plan.grid_path),
         "trial_ids": [s.trial_id for s in plan.specs], "to_run": [s.trial_id for s in plan.todo],
         "host": host, "pid": os.getpid(), "name": plan.grid.name, "grid_json": grid_json,
         "started_at": started, "git_sha": git_sha}))
    return plan.grid.name, grid_json, started, host, git_sha


def _try_store(write) -> bool:
    """One store write that may find the store busy or unwritable: False then (it is journaled)."""
    import duckdb

    from harness.run.store import StoreError

    try:
        write()
    except (StoreError, duckdb.Error):
        return False
    return True


def _end_run(store: Store, journal, run_id: str, status: str, record_row) -> None:
    """Close the run row (inserted first if the store was busy at the start); with the store
    busy now, journal the end status for ingest."""
    try:
        with _short_wait(store):
            if _try_store(record_row) and _try_store(lambda: store.end_run(run_id, status)):
                return
        with contextlib.suppress(OSError):   # a full disk: the row stays "running" (status says why)
            journal.end_run(status)
    finally:
        journal.release()
