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
        # default_handler: values JSON has no type for (UUID, ...) are written as their text
        sys.stdout.write(frame.to_json(orient="records", indent=2, date_format="iso",
                                       default_handler=str) + "\n")
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for column in frame.columns:
            table.add_column(str(column), justify="right" if frame[column].dtype.kind in "iuf" else "left")
        for row in frame.itertuples(index=False):
            table.add_row(*("" if _isna(v) else (f"{v:.4f}" if isinstance(v, float) else str(v)) for v in row))
        Console().print(table)


def as_text(frame, types: list[str]):
    """BIT and BLOB columns (raw bytes in the frame, which no output format can write) as the
    text DuckDB itself shows: '0101', and '\\xFF' escapes for bytes that are not printable ASCII."""
    for i, kind in enumerate(types):
        if kind in ("BIT", "BLOB"):
            show = _bits if kind == "BIT" else _blob
            frame.isetitem(i, frame.iloc[:, i].map(
                lambda v, show=show: show(bytes(v)) if isinstance(v, (bytes, bytearray)) else v))
    return frame


def _bits(data: bytes) -> str:
    """DuckDB's BIT layout: the first byte counts the padding bits that lead the rest."""
    return "".join(f"{b:08b}" for b in data[1:])[data[0]:] if data else ""


def _blob(data: bytes) -> str:
    return "".join(chr(b) if 32 <= b < 127 and b != 92 else f"\\x{b:02X}" for b in data)


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
    from harness.run.store import execute

    store = Store(args.db)
    if store.path.is_file():
        scan(store.path, store.wait_s)   # a damaged store is refused, not half answered
    # The SQL sees only the store: no files, no ATTACH, no extensions (the reader's sandbox).
    with store.reader() as con:
        frame = execute(con, args.sql, args.timeout, store.path)
        types = [str(d[1]) for d in con.description or []]
    print_frame(as_text(frame, types), args.format)
    return 0
