"""`harness query "SQL"`: read-only SQL over the results store, printed as a table, CSV or JSON."""
from __future__ import annotations

import sys

from harness.run.store import DEFAULT_DB


def add_arguments(parser) -> None:
    parser.add_argument("sql", help="SQL to run (tables: runs, trials, metrics, predictions; view: results)")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")
    parser.add_argument("--format", choices=("table", "csv", "json"), default="table")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="stop the query after this many seconds (default: no limit; Ctrl-C "
                             "also stops it)")


def print_frame(frame, fmt: str, title: str | None = None) -> None:
    if fmt == "csv":
        frame.to_csv(sys.stdout, index=False)
    elif fmt == "json":
        sys.stdout.write(frame.to_json(orient="records", indent=2, date_format="iso") + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for column in frame.columns:
            table.add_column(str(column), justify="right" if frame[column].dtype.kind in "iuf" else "left")
        for row in frame.itertuples(index=False):
            table.add_row(*("" if _isna(v) else (f"{v:.4f}" if isinstance(v, float) else str(v)) for v in row))
        Console().print(table)


def _isna(value) -> bool:
    try:
        return value is None or value != value
    except Exception:  # noqa: BLE001 - arrays and the like are never "missing"
        return False


def main(args) -> int:
    from harness.run.store import Store, StoreError

    if args.timeout is not None and not args.timeout > 0:
        raise StoreError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    from harness.run.health import scan

    store = Store(args.db)
    if store.path.is_file():
        scan(store.path, store.wait_s)   # a damaged store is refused, not half answered
    # The SQL sees only the store: no files, no ATTACH, no extensions (Store.query's sandbox).
    print_frame(store.query(args.sql, timeout_s=args.timeout), args.format)
    return 0
