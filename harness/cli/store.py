"""`harness store check|restore [--db PATH]`: read every block of a results store (DuckDB verifies
each block's checksum), or set a damaged store back to the backup each `harness run` takes at
its start (`<store>.bak`). The replaced file is kept beside it, renamed, never deleted."""
from __future__ import annotations

from harness.run.store import DEFAULT_DB


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("check", "restore"),
                        help="check: read the whole store; restore: put its backup in its place")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")
    parser.add_argument("--force", action="store_true",
                        help="restore even though the store passes its check")


def main(args) -> int:
    from harness.run.health import restore, scan
    from harness.run.store import Store, StoreError, backup_path

    if args.action == "check":
        store = Store(args.db)
        if not store.path.is_file():
            raise StoreError(f"no results store at {store.path}")
        health = scan(store.path, store.wait_s)
        bak = backup_path(store.path)
        print(f"{store.path}: ok ({health.tables} tables, {health.rows} rows read in "
              f"{health.check_s:.2f} s); backup: {bak if bak.is_file() else 'none yet'}")
        return 0
    bak, kept = restore(args.db, force=args.force)
    print(f"restored {args.db} from {bak}" + (f"; the file it replaced is kept as {kept}" if kept else ""))
    return 0
