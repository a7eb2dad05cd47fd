"""`harness export TRIAL_ID DIR`: copy a trial's kept LoRA adapter out, with a README of its spec
and metrics (harness/run/export.py)."""
from __future__ import annotations

from harness.run.store import DEFAULT_DB


def add_arguments(parser) -> None:
    parser.add_argument("trial_id", help="a trial id, or its first 6+ characters (`harness query` lists them)")
    parser.add_argument("dir", help="directory to create (must not exist, or be empty)")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")


def main(args) -> int:
    from harness.run.export import export_adapter
    from harness.run.store import Store

    done = export_adapter(Store(args.db), args.trial_id, args.dir)
    print(f"exported the adapter of {done.label} ({done.trial_id[:12]}) to {done.out_dir}: "
          f"{', '.join(done.files)} ({done.bytes / 1024:.1f} KiB)")
    if done.note:
        print(f"note: {done.note}")
    return 0
