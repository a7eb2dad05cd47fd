"""`harness store check|restore|dump|load|users [DIR] [--db PATH]`: read every block of a results store
(DuckDB verifies each block's checksum); set a damaged store back to the backup each `harness run`
takes at its start (`<store>.bak`; the replaced file is kept beside it, renamed, never deleted);
write the store as a folder of Parquet files (`dump DIR`, small enough to commit), or build a new
store from such a folder (`load DIR`); give predictions stored without user ids their users, from
their sample ids (`users`: reads the sample tables, so it needs the raw datasets)."""
from __future__ import annotations

from harness.run.store import DEFAULT_DB


def add_arguments(parser) -> None:
    parser.add_argument("action", choices=("check", "restore", "dump", "load", "users"),
                        help="check: read the whole store; restore: put its backup in its place; "
                             "dump DIR: write it as Parquet files; load DIR: a new store from them; "
                             "users: add the user ids that predictions stored before 2026-12 lack")
    parser.add_argument("dir", nargs="?", help="the dump folder (dump, load)")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")
    parser.add_argument("--raw-dir", metavar="DIR",
                        help="users: the raw datasets (default: $HARNESS_RAW_DIR, then the fetch cache)")
    parser.add_argument("--force", action="store_true",
                        help="restore even though the store passes its check")


def main(args) -> int:
    from harness.run.health import restore, scan
    from harness.run.store import Store, StoreError, backup_path

    if args.action in ("dump", "load"):
        from harness.run import dump

        if not args.dir:
            raise StoreError(f"`harness store {args.action}` needs a folder: harness store {args.action} DIR")
        if args.action == "dump":
            m = dump.dump(args.db, args.dir)
            print(f"wrote {args.dir}: " + ", ".join(f"{t} {n}" for t, n in m["rows"].items()) + " rows")
        else:
            m = dump.load(args.dir, args.db)
            print(f"loaded {args.dir} into {args.db}: " + ", ".join(f"{t} {n}" for t, n in m["rows"].items()) + " rows")
        return 0
    if args.action == "users":
        from data.users import sample_users
        from harness.run.users import backfill_user_ids

        def lookup(domain, split, alignment, variants):
            return sample_users(domain, split, alignment, variants, raw_dir=args.raw_dir)

        got = backfill_user_ids(args.db, lookup)
        print(f"{args.db}: user ids added to {got['rows']} predictions of {got['trials']} trials"
              + (f"; {got['unmatched']} sample ids not in the sample tables" if got["unmatched"] else ""))
        return 1 if got["unmatched"] else 0
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
