"""`harness run GRID`: validate and expand a grid, skip what the store has, run the rest on Ray Tune.

    harness run GRID [--db PATH] [--dry-run] [--rerun-failed] [--address ADDR] [--raw-dir DIR]
                     [--store-wait SECONDS]

GRID is a file, or the name of a shipped grid (`demo`, `paper`, `smoke` -> grids/NAME.yaml).
Re-running the same grid skips every trial already stored (complete or failed: a failed trial is
retried with --rerun-failed). Exit code 0 when every trial of the grid is complete, 1 when some
failed, 2 for a problem with the grid, the store or the cluster (nothing is written then), 75
when the store stayed busy past the end (results wait in the run's journal; the next run or
`harness status` stores them). A reader holding the store open never stops a run: it starts and
finishes without the store's write lock, and Ctrl-C ends its wait for the store at once.
"""
from __future__ import annotations

from rich.console import Console
from rich.table import Table

from harness.run.runner import plan_run, run_grid


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
    parser.add_argument("--store-wait", type=float, default=30.0, metavar="SECONDS",
                        help="after the last trial, wait this long for a store someone holds open; "
                             "results not stored by then wait in the run's journal (default: 30)")
    parser.add_argument("--raw-dir", default=None,
                        help="raw datasets directory (default: $HARNESS_RAW_DIR, then the cache)")


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


def main(args) -> int:
    console = Console()
    if not args.store_wait >= 0:
        from harness.core.errors import HarnessError

        raise HarnessError(f"--store-wait must be 0 or more seconds, not {args.store_wait:g}")
    plan = plan_run(args.grid, db=args.db, rerun_failed=args.rerun_failed)
    for warning in plan.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    if plan.ingested:
        console.print(f"stored {plan.ingested} journaled result(s) of an earlier run whose driver had stopped")
    if plan.waiting:
        console.print(f"[yellow]{plan.waiting} result(s) of earlier runs wait in their journals "
                      f"(the store is busy); they count as done and are not run again[/]")
    print_plan(console, plan.frame(), f"plan: {plan.grid.name} ({plan.grid_path}) -> {plan.store.path}")
    if args.dry_run:
        return 0
    specs, todo = plan.specs, plan.todo
    if not todo:
        failed = sum(plan.stored.get(s.trial_id) == "failed" for s in specs)
        console.print(f"nothing to run: all {len(specs)} trials are stored"
                      + (f" ({failed} failed: --rerun-failed retries them)" if failed else ""))
        return 1 if failed else 0

    def started(report) -> None:
        for note in report.notes:
            console.print(f"[yellow]note:[/] {note}", highlight=False, soft_wrap=True)
        if report.ray_init_s:
            console.print(f"Ray: {'joined ' + report.address if report.address else 'local'} "
                          f"in {report.ray_init_s:.1f}s; run {report.run_id}, {len(todo)} trials; "
                          f"logs: {report.run_dir}", highlight=False)

    report = run_grid(plan, address=args.address, raw_dir=args.raw_dir, console=console,
                      on_start=started, store_wait_s=args.store_wait)
    return _print_outcome(console, plan, report)


def _print_outcome(console: Console, plan, report) -> int:
    from harness.run.progress import fmt_duration, summary_frame, summary_table

    grid, specs, todo, store = plan.grid, plan.specs, plan.todo, plan.store
    status, missing = report.status, report.missing
    ids = [s.trial_id for s in specs]
    from harness.run.store import StoreError

    try:
        console.print(summary_table(summary_frame(store, ids),
                                    title=f"summary: {grid.name} -> {store.path}"))
    except StoreError as exc:
        if not report.journaled:
            raise
        # the results are safe in the journal: say so below rather than end on the store's error
        console.print(f"[yellow]no summary: {exc}[/]", highlight=False, soft_wrap=True)
    for label, mb in report.leaks:
        console.print(f"[yellow]warning:[/] {label} left {mb:.0f} MiB of GPU memory allocated after "
                      "cleanup; set ray.reuse_actors: false if workers run out of memory")
    if report.journaled:   # computed, kept on disk, not yet in the (busy) store
        console.print(f"[yellow]{report.journaled} finished result(s) are waiting in "
                      f"{report.run_dir}/journal, not yet in {store.path}, because "
                      f"{report.store_error or 'the store could not be written'}; "
                      "`harness status` or the next `harness run` stores them[/]",
                      highlight=False, soft_wrap=True)
        return 75
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
    console.print(f"done: {len(todo)} trials in {fmt_duration(report.tune_s)}; query with "
                  f"`harness query \"SELECT * FROM results\" --db {store.path}`")
    return 0
