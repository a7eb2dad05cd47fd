"""`harness status [--db PATH]`: the run's view (done / running / failed / queued, latest AUCs,
ETA) and a per-method summary, read from the store and the run directory's progress.json.

Read-only, so it works while `harness run` is writing: the store is opened only between writes.
It also stores the journaled results of runs whose driver is gone (checked entries only; a
skipped file gets one warning line) and cleans up what a killed driver's Ray left behind.
`--timeout S` bounds the whole command (store waits and queries); Ctrl-C ends it at once.
"""
from __future__ import annotations

import socket
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.core.processes import pid_alive
from harness.run.runner import run_directory
from harness.run.store import DEFAULT_DB, Store


def add_arguments(parser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")
    parser.add_argument("--run", default=None, help="a run id (default: the latest run)")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="stop after this many seconds (store waits and queries; default: no "
                             "limit; Ctrl-C also stops it)")


def _driver_state(progress: dict | None, run_status: str, plan: dict | None = None) -> str:
    """The run row says `running` until its driver ends it: check that driver (its host and pid
    are in progress.json, and in plan.json from before the first progress write)."""
    if run_status != "running":
        return run_status
    where = progress or plan or {}
    if "pid" not in where:
        return "running?"
    pid = where.get("pid")
    pid = pid if isinstance(pid, int) and not isinstance(pid, bool) and 0 < pid < 2**22 else 0
    if where.get("host") == socket.gethostname() and not pid_alive(pid):
        return "interrupted (driver gone; run the grid again to finish it)"
    return "running" if progress else "starting"


def _read_json(path: Path) -> dict | None:
    """A run folder's JSON file; a missing, half-written or odd one (a FIFO, a folder, too deep)
    is treated as absent, never waited on."""
    from harness.run.validate import BadFile, read_json

    try:
        data = read_json(path)
    except BadFile:
        return None
    return data if isinstance(data, dict) else None


def build_view(store: Store, run, run_dir: Path | None):
    from harness.run.progress import View

    plan = progress = None
    if run_dir:
        plan, progress = _read_json(run_dir / "plan.json"), _read_json(run_dir / "progress.json")
    state = _driver_state(progress, run.status, plan)
    statuses = store.trial_status()
    ids = plan.get("trial_ids") if plan else None
    plan = plan if isinstance(ids, list) and all(isinstance(i, str) for i in ids) else None
    ids = ids if plan else list(statuses)
    done = sum(statuses.get(i) == "complete" for i in ids)
    failed = sum(statuses.get(i) == "failed" for i in ids)
    live = progress.get("view") if progress and state == "running" else {}
    live = live if isinstance(live, dict) else {}
    running = [r for r in live.get("running") or [] if isinstance(r, list) and len(r) == 2
               and isinstance(r[0], str) and isinstance(r[1], (int, float))] \
        if isinstance(live.get("running"), list) else []
    eta = live.get("eta_s") if isinstance(live.get("eta_s"), (int, float)) else None
    updated = (progress or {}).get("updated_at")
    now = time.time()
    updated = updated if isinstance(updated, (int, float)) else now
    if state == "running":     # progress.json is written on events: age its numbers to now
        eta = max(0.0, eta - (now - updated)) if eta is not None else None
        updated = now
    view = View(title=f"{run.name} · {run.run_id} · {state}", total=len(ids), done=done,
                failed=failed, running=running, queued=max(0, len(ids) - done - failed - len(running)),
                latest=_latest(store, ids), eta_s=eta,
                elapsed_s=updated - _ts(run.started_at) if progress else None)
    return view, (ids if plan else None)


def _ts(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else time.time()


def _latest(store: Store, ids: list[str], n: int = 8) -> list:
    from harness.run.progress import LATEST

    frame = store.query("""
        SELECT t.trial_id, t.method, t.variant, t.train_mix, t.k, t.seed, t.status, t.wall_s,
               t.finished_at, m.eval_domain, m.auc
        FROM trials t LEFT JOIN metrics m USING (trial_id)
        ORDER BY t.finished_at DESC NULLS LAST LIMIT 400""")
    wanted, rows = set(ids), {}
    for r in frame.itertuples(index=False):
        if r.trial_id not in wanted:
            continue
        if r.trial_id not in rows:
            if len(rows) >= min(n, LATEST):
                continue
            parts = [r.method] + ([r.variant] if isinstance(r.variant, str) else []) + \
                ([f"{r.train_mix}@K{r.k}"] if isinstance(r.train_mix, str) else []) + [f"s{r.seed}"]
            rows[r.trial_id] = ["/".join(parts), r.status, {}, r.wall_s]
        if isinstance(r.eval_domain, str) and r.auc == r.auc:
            rows[r.trial_id][2][r.eval_domain] = None if r.auc is None else float(r.auc)
    return list(rows.values())


def main(args) -> int:
    from harness.run.store import StoreError

    if args.timeout is not None and not args.timeout > 0:
        raise StoreError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    store = Store(args.db)
    if args.timeout is not None:
        store.deadline = time.monotonic() + args.timeout
    try:
        return _status(args, store, Console())
    except StoreError as exc:
        if store.deadline is not None and time.monotonic() >= store.deadline:
            raise StoreError(f"harness status stopped at its {args.timeout:g} s timeout: {exc}") from None
        raise


def _ingest(store: Store, console: Console) -> None:
    """Store what killed or busy-ended runs left journaled; clean up their Ray leftovers."""
    from harness.run.rundirs import run_roots
    from harness.run.runner import ingest_journals
    from harness.tune.cleanup import sweep_stale

    for root in run_roots(store.path):
        sweep_stale(root)
    before, store.wait_s = store.wait_s, min(store.wait_s, 2.0)   # a reader: do not wait long
    try:
        ingested = ingest_journals(store)
    finally:
        store.wait_s = before
    for warning in ingested.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if ingested.stored:
        console.print(f"stored {ingested.stored} journaled result(s) of a run whose driver had stopped")
    if ingested.left:
        console.print(f"[yellow]{ingested.left} journaled result(s) not stored yet: "
                      f"{ingested.errors[-1]}[/]", highlight=False, soft_wrap=True)


def _status(args, store: Store, console: Console) -> int:
    from harness.run.progress import render_view, summary_frame, summary_table
    from harness.run.store import StoreError

    if store.path.is_file():   # a damaged store: one line naming its backup, before any read or write
        from harness.run.health import scan

        scan(store.path, store.wait_for_lock_s())
    _ingest(store, console)
    runs = store.query("SELECT * FROM runs ORDER BY started_at DESC")
    if runs.empty:
        console.print(f"{store.path}: no runs yet")
        return 0
    if args.run:
        chosen = runs[runs["run_id"] == args.run]
        if chosen.empty:
            raise StoreError(f"no run {args.run!r} in {store.path}; runs: {', '.join(runs['run_id'][:5])}")
        run = next(chosen.itertuples(index=False))
    else:
        run = next(runs.itertuples(index=False))
    view, ids = build_view(store, run, run_directory(store, run))
    console.print(render_view(view))
    console.print(summary_table(summary_frame(store, ids),
                                title=f"by method ({'this run' if ids is not None else 'whole store'})"))
    table = Table(title=f"runs in {store.path}", title_justify="left")
    for col in ("run", "name", "status", "started", "finished"):
        table.add_column(col)
    for r in runs.head(5).itertuples(index=False):
        table.add_row(r.run_id, str(r.name), str(r.status), str(r.started_at)[:19],
                      "" if r.finished_at is None or r.finished_at != r.finished_at else str(r.finished_at)[:19])
    console.print(table)
    return 0
