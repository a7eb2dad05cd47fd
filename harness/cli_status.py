"""`harness status [--db PATH]`: the run's view (done / running / failed / queued, latest AUCs,
ETA) and a per-method summary, read from the store and the run directory's progress.json.

Read-only, so it works while `harness run` is writing: the store is opened only between writes.
"""
from __future__ import annotations

import json
import socket
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.store import DEFAULT_DB, Store


def add_arguments(parser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")
    parser.add_argument("--run", default=None, help="a run id (default: the latest run)")


def _run_dir(store: Store, run) -> Path | None:
    """Where `harness run` kept this run's plan.json and progress.json."""
    try:
        grid = json.loads(run.grid_json or "{}")
    except ValueError:
        return None
    storage = (grid.get("ray") or {}).get("storage_path")
    root = Path(storage) if storage else store.path.parent / "runs" / str(grid.get("name", run.name))
    path = root / run.run_id
    return path if path.is_dir() else None


def _driver_state(progress: dict | None, run_status: str) -> str:
    if run_status != "running":
        return run_status
    if not progress:
        return "running?"
    if progress.get("host") == socket.gethostname():
        from harness.tune import _pid_alive

        if not _pid_alive(int(progress.get("pid", 0))):
            return "interrupted (driver gone; run the grid again to finish it)"
    return "running"


def build_view(store: Store, run, run_dir: Path | None):
    from harness.progress import View

    plan = progress = None
    if run_dir:
        if (run_dir / "plan.json").exists():
            plan = json.loads((run_dir / "plan.json").read_text())
        if (run_dir / "progress.json").exists():
            progress = json.loads((run_dir / "progress.json").read_text())
    state = _driver_state(progress, run.status)
    statuses = store.trial_status()
    ids = plan["trial_ids"] if plan else list(statuses)
    done = sum(statuses.get(i) == "complete" for i in ids)
    failed = sum(statuses.get(i) == "failed" for i in ids)
    live = progress["view"] if progress and state == "running" else {}
    running = live.get("running", [])
    view = View(title=f"{run.name} · {run.run_id} · {state}", total=len(ids), done=done,
                failed=failed, running=running, queued=max(0, len(ids) - done - failed - len(running)),
                latest=_latest(store, ids), eta_s=live.get("eta_s"),
                elapsed_s=(progress or {}).get("updated_at", time.time()) - _ts(run.started_at)
                if progress else None)
    return view, (ids if plan else None)


def _ts(value) -> float:
    return value.timestamp() if hasattr(value, "timestamp") else time.time()


def _latest(store: Store, ids: list[str], n: int = 8) -> list:
    from harness.progress import LATEST

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
    from harness.progress import render_view, summary_frame, summary_table
    from harness.store import StoreError

    console = Console()
    store = Store(args.db)
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
    view, ids = build_view(store, run, _run_dir(store, run))
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
