"""`harness search GRID`: choose the training protocol on validation rows (the grid's `search:`).

    harness search GRID [--db PATH] [--dry-run] [--address ADDR] [--raw-dir DIR]

Runs one Ray Tune search per searched cell (train_mix, K), stores every search trial (the
`search_trials` table; finished ones also as trials scored on the valid split), and writes the
best settings per cell to `<grid>.chosen.yaml` (or `search.output`), which a study grid uses with
`protocol: {from: <that file>}`. `harness report --spec search` shows the search. Exit 0 when
every cell has a choice, 1 when some cell has none, 2 for a bad grid.
"""
from __future__ import annotations

from rich.console import Console
from rich.table import Table


def add_arguments(parser) -> None:
    parser.add_argument("grid", metavar="GRID", help="grid YAML with a `search:` block")
    parser.add_argument("--db", default=None, help="results file (default: the grid's `store`)")
    parser.add_argument("--dry-run", action="store_true", help="print the cells and the space, and exit")
    parser.add_argument("--address", default=None, help="join this Ray cluster instead of a local Ray")
    parser.add_argument("--raw-dir", default=None,
                        help="raw datasets directory (default: $HARNESS_RAW_DIR, then the cache)")


def main(args) -> int:
    from harness.run.search import base_specs, chosen_path, run_search, search_grid, small_validation

    console = Console()
    grid_path, grid, search = search_grid(args.grid)
    warning = small_validation(search)
    if warning:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)
    space = ", ".join(f"{name} {rng.kind} {rng.values}" for name, rng in search.space.items())
    cells = list(base_specs(grid, search))
    console.print(f"search {grid.name}: {search.method} {search.variant or ''} on {', '.join(cells)}; "
                  f"{search.num_samples} samples per cell, {search.scheduler.name}, objective valid "
                  f"{search.metric} ({search.direction}) on {search.valid_samples} spread rows per domain; "
                  f"space: {space}; writes {chosen_path(grid_path, search)}", highlight=False)
    if args.dry_run:
        return 0

    def on_cell(outcome) -> None:
        done = sum(t.status == "complete" for t in outcome.trials)
        stopped = sum(t.status == "stopped" for t in outcome.trials)
        best = f"{outcome.objective:.4f} with {outcome.chosen}" if outcome.chosen else "nothing chosen"
        again = f" (searched by run {outcome.reused_from}: not run again)" if outcome.reused_from else ""
        console.print(f"{outcome.cell}{again}: {len(outcome.trials)} trials ({done} complete, {stopped} stopped "
                      f"early); best {search.metric} {best}", highlight=False)

    report = run_search(grid_path, db=args.db, raw_dir=args.raw_dir, address=args.address, on_cell=on_cell)
    table = Table(title=f"chosen on validation (run {report.run_id}, {report.seconds / 60:.1f} min)",
                  title_justify="left")
    for col in ("cell", f"valid {search.metric}", "settings"):
        table.add_column(col)
    for cell in report.cells:
        table.add_row(cell.cell, f"{cell.objective:.4f}" if cell.chosen else "-",
                      ", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                                for k, v in (cell.chosen or {}).items()))
    console.print(table)
    if report.chosen_path:
        console.print(f"wrote {report.chosen_path}: use it with `protocol: {{from: {report.chosen_path.name}}}`",
                      highlight=False)
    return 0 if report.cells and all(c.chosen for c in report.cells) else 1
