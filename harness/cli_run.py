"""`harness run GRID`: validate and expand a grid, skip what the store has, run the rest on Ray Tune.

    harness run GRID [--db PATH] [--dry-run] [--rerun-failed] [--address ADDR] [--raw-dir DIR]

GRID is a file, or the name of a shipped grid (`demo`, `paper`, `smoke` -> grids/NAME.yaml).
Re-running the same grid skips every trial already stored (complete or failed: a failed trial is
retried with --rerun-failed). Exit code 0 when every trial of the grid is complete, 1 when some
failed, 2 for a problem with the grid, the store or the cluster (nothing is written then).
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.errors import HarnessError
from harness.provenance import PROJECT_ROOT
from harness.store import Store

GRID_DIRS = (PROJECT_ROOT / "grids", Path(__file__).parent / "grids")


def add_arguments(parser) -> None:
    parser.add_argument("grid", metavar="GRID",
                        help="grid YAML file, or a shipped grid's name (demo, paper, smoke)")
    parser.add_argument("--db", default=None,
                        help="results file (default: the grid's `store`, results.duckdb)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the plan (trials per method/variant, stored, to run) and exit")
    parser.add_argument("--rerun-failed", action="store_true",
                        help="also run the trials stored as failed")
    parser.add_argument("--address", default=None,
                        help="join this Ray cluster (e.g. auto, HOST:6379) instead of a local Ray")
    parser.add_argument("--raw-dir", default=None,
                        help="raw datasets directory (default: $HARNESS_RAW_DIR, then the cache)")


def resolve_grid_path(name: str) -> Path:
    path = Path(name)
    if path.exists() or path.suffix in (".yaml", ".yml") or "/" in name:
        return path
    for folder in GRID_DIRS:
        candidate = folder / f"{name}.yaml"
        if candidate.is_file():
            return candidate
    return path


def plan_frame(specs, stored: dict[str, str], todo_ids: set[str], grid):
    """One row per (method, variant): trials, stored complete / failed, to run, resources."""
    import pandas as pd

    from harness.methods import method_info

    rows: dict[tuple, Counter] = {}
    for spec in specs:
        key = (spec.method, spec.variant or "")
        c = rows.setdefault(key, Counter())
        c["trials"] += 1
        c["complete"] += stored.get(spec.trial_id) == "complete"
        c["failed"] += stored.get(spec.trial_id) == "failed"
        c["to run"] += spec.trial_id in todo_ids
    out = []
    for (method, variant), c in rows.items():
        info = method_info(method)
        cpus, gpus = grid.resources_for(method, info.uses_llm)
        phase = "1" if variant and variant in info.first_phase_variants else "2"
        out.append({"method": method, "variant": variant, "phase": phase, "trials": c["trials"],
                    "complete": c["complete"], "failed": c["failed"], "to run": c["to run"],
                    "per trial": f"{cpus:g} CPU" + (f", {gpus} GPU" if gpus == "auto" else
                                                     f", {gpus:g} GPU" if gpus else "")})
    return pd.DataFrame(out)


def print_plan(console: Console, frame, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for col in frame.columns:
        table.add_column(col, justify="right" if frame[col].dtype.kind in "iu" else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(v) for v in row))
    totals = frame[["trials", "complete", "failed", "to run"]].sum()
    table.add_row("[bold]total[/]", "", "", *(f"[bold]{int(totals[c])}[/]" for c in
                                              ("trials", "complete", "failed", "to run")), "")
    console.print(table)


def check_models(specs, grid_path) -> None:
    """Fail before anything runs or is stored if a model block names no model we can find
    (an unknown alias or local path; hub ids are checked when a worker loads them)."""
    from harness.config import ModelConfig
    from models.loading import resolve_source

    for model in {json.dumps(s.model, sort_keys=True) for s in specs if s.model}:
        try:
            resolve_source(ModelConfig.model_validate(json.loads(model)))
        except HarnessError as exc:
            raise HarnessError(f"{grid_path}: model.name: {exc}") from exc


def main(args) -> int:
    from harness.grid import expand, load_grid

    console = Console()
    grid_path = resolve_grid_path(args.grid)
    grid = load_grid(grid_path)
    db = Path(args.db or grid.store)
    specs = expand(grid)
    check_models(specs, grid_path)
    store = Store(db)
    stored = store.trial_status()
    todo = [s for s in specs if s.trial_id not in stored
            or (args.rerun_failed and stored[s.trial_id] == "failed")]
    frame = plan_frame(specs, stored, {s.trial_id for s in todo}, grid)
    print_plan(console, frame, f"plan: {grid.name} ({grid_path}) -> {db}")
    if args.dry_run:
        return 0
    if not todo:
        failed = sum(stored.get(s.trial_id) == "failed" for s in specs)
        console.print(f"nothing to run: all {len(specs)} trials are stored"
                      + (f" ({failed} failed: --rerun-failed retries them)" if failed else ""))
        return 1 if failed else 0
    return _run(console, grid, specs, todo, store, args)


def _run(console: Console, grid, specs, todo, store: Store, args) -> int:
    from harness import provenance
    from harness.progress import RunProgress, fmt_duration, summary_frame, summary_table
    from harness.tune import options_from_grid, ray_session, resolve_resources, run_trials

    storage = Path(grid.ray.storage_path) if grid.ray.storage_path else store.path.parent / "runs" / grid.name
    options = options_from_grid(grid, storage, address=args.address, raw_dir=args.raw_dir)
    run_id, status = None, "error"
    with ray_session(options, storage) as session:
        resources = resolve_resources(todo, options, strict=not options.address)
        run_id = store.begin_run(grid.name, grid.model_dump(mode="json"), host=provenance.host(),
                                 git_sha=provenance.git_state()[0])
        run_dir = storage / run_id
        session["logs_dir"] = run_dir / "ray_logs"
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "plan.json").write_text(json.dumps(
            {"run_id": run_id, "db": str(store.path.resolve()), "grid": str(args.grid),
             "trial_ids": [s.trial_id for s in specs], "to_run": [s.trial_id for s in todo]}))
        if session["init_s"]:
            console.print(f"Ray: {'joined ' + options.address if options.address else 'local'} "
                          f"in {session['init_s']:.1f}s; run {run_id}, {len(todo)} trials; "
                          f"logs: {run_dir}", highlight=False)
        progress = RunProgress(todo, title=f"{grid.name} · {run_id}",
                               state_file=run_dir / "progress.json", console=console, run_id=run_id)
        try:
            with progress:
                outcome = run_trials(todo, options, store, run_id, resources, observer=progress)
            missing = [s for s in todo if s.trial_id not in outcome.results]
            status = "interrupted" if missing else ("failed" if outcome.failed else "finished")
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            if run_id:
                store.end_run(run_id, status)
    ids = [s.trial_id for s in specs]
    console.print(summary_table(summary_frame(store, ids), title=f"summary: {grid.name} -> {store.path}"))
    for label, mb in outcome.leaks:
        console.print(f"[yellow]warning:[/] {label} left {mb:.0f} MiB of GPU memory allocated after "
                      "cleanup; set ray.reuse_actors: false if workers run out of memory")
    final = store.trial_status()
    failed = sum(final.get(i) == "failed" for i in ids)
    if status == "interrupted":
        console.print(f"interrupted: {len(missing)} trial(s) did not run; run the same command "
                      "again to finish the grid")
        return 130
    if failed:
        console.print(f"[red]{failed} trial(s) failed[/]: see `harness query \"SELECT method, variant, "
                      f"train_mix, k, seed, error FROM trials WHERE status = 'failed'\" --db {store.path}`"
                      "; `--rerun-failed` retries them")
        return 1
    console.print(f"done: {len(todo)} trials in {fmt_duration(outcome.tune_s)}; query with "
                  f"`harness query \"SELECT * FROM results\" --db {store.path}`")
    return 0
