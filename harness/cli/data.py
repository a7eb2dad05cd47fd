"""`harness data fetch | prepare | export`: the raw datasets, the canonical sample tables, TALLRec JSON.

Light at import (no pandas / datasets / torch): the data modules are imported inside the handlers.
"""
from __future__ import annotations

ALIGNMENTS = ("correct", "tallrec")
RAW_DATASETS = ("ml-100k", "bookcrossing", "alpaca")


def _add_accept(parser) -> None:
    parser.add_argument("--accept-variant", action="append", default=[], dest="raw_variants", metavar="TOKEN",
                        help="use raw files that are not the published ones: the token DATASET:HEX that the "
                             "refusal printed (repeatable; in a grid: data.raw_variants)")


def _variants(args) -> tuple[str, ...]:
    from harness.core.errors import HarnessError
    from harness.core.spec import check_raw_variants

    try:
        return check_raw_variants(args.raw_variants)
    except ValueError as exc:
        raise HarnessError(f"--accept-variant: {exc}") from None


def _cache_error(exc: OSError, args):
    from harness.core.errors import HarnessError

    where = exc.filename or args.cache_dir or "the data cache"
    return HarnessError(f"cannot read or write {where}: {exc.strerror or exc} (the data cache: --cache-dir "
                        "or HARNESS_CACHE_DIR)")


def _add_grid_option(parser) -> None:
    parser.add_argument("--grid", default=None, metavar="GRID.yaml",
                        help="also know the datasets this grid declares under `datasets:`")


def _load_grid(args):
    """The --grid file, loaded and checked in full once (None without --grid)."""
    if not getattr(args, "grid", None):
        return None
    if not hasattr(args, "_grid_spec"):
        from harness.grid.load import load_grid

        args._grid_spec = load_grid(args.grid)
    return args._grid_spec


def _declared(args) -> dict:
    """The datasets the --grid file declares ({} without --grid)."""
    grid = _load_grid(args)
    return dict(grid.datasets) if grid else {}


def _grid_domains(args) -> list[str] | None:
    """--dataset, else the domains a --grid uses and declares, else None (every registered one)."""
    if args.datasets:
        return list(dict.fromkeys(args.datasets))
    grid = _load_grid(args)
    if grid is None:
        return None
    from harness.core.datasets import mix_domains

    used = [d for mix in grid.grid.train_mix or () for d in mix_domains(mix)] + list(grid.eval.domains)
    return list(dict.fromkeys(used + list(grid.datasets)))


def _add_data_options(parser) -> None:
    parser.add_argument("--raw-dir", default=None,
                        help="raw data directory (default: $HARNESS_RAW_DIR, else the fetch cache)")
    parser.add_argument("--cache-dir", default=None,
                        help="where the Parquet tables go (default: <cache>/data, see HARNESS_CACHE_DIR)")
    parser.add_argument("--book-label-alignment", choices=ALIGNMENTS, default="correct",
                        help="book labels: 'correct' (default) or 'tallrec' (the published files' "
                             "misaligned labels; see docs/data.md)")
    _add_accept(parser)


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    fetch = sub.add_parser("fetch", help="download the raw datasets from their official URLs",
                           description="Download MovieLens-100K, Book-Crossing and Stanford Alpaca from their "
                                       "official URLs and unpack them as DEST/<dataset>/. Datasets already "
                                       "present and valid (in DEST, or in $HARNESS_RAW_DIR when no --dest "
                                       "is given) are skipped.")
    fetch.add_argument("--dest", default=None, help="target directory (default: <cache>/raw)")
    fetch.add_argument("--dataset", action="append", choices=RAW_DATASETS, dest="datasets",
                       help="only this dataset (repeatable; default: all three)")
    fetch.add_argument("--force", action="store_true", help="download even if already present")
    _add_accept(fetch)

    prepare = sub.add_parser("prepare", help="build and cache every sample table, print a summary",
                             description="Build (or find in the cache) the canonical train/valid/test "
                                         "tables of every registered dataset (or of --dataset, or of the "
                                         "datasets a --grid uses and declares) and print domain, split, "
                                         "samples, users, positive (like) rate and cache path.")
    prepare.add_argument("--dataset", action="append", default=[], dest="datasets", metavar="NAME",
                         help="only this dataset (repeatable)")
    _add_grid_option(prepare)
    _add_data_options(prepare)

    export = sub.add_parser("export", help="write one split as TALLRec/Alpaca JSON",
                            description="Write DOMAIN SPLIT as a JSON list of {instruction, input, output} "
                                        "(json.dump(..., indent=4), as TALLRec's own files), readable by "
                                        "TALLRec's scripts.")
    export.add_argument("domain", metavar="DOMAIN", help="a dataset: movie, book, ... (`harness list datasets`)")
    export.add_argument("split", metavar="SPLIT", help="train, valid or test")
    export.add_argument("out", metavar="OUT.json", help="output file")
    _add_grid_option(export)
    _add_data_options(export)


def main(args) -> int:
    return {"fetch": _fetch, "prepare": _prepare, "export": _export}[args.data_command](args)


def _fetch(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from data.manifest import accepting
    from data.sources import DATASETS, fetch

    with accepting(_variants(args)):
        outcomes = fetch(args.dest, tuple(args.datasets or DATASETS), force=args.force)
    table = Table(title="raw datasets")
    for column in ("dataset", "status", "directory", "note"):
        table.add_column(column)
    for o in outcomes:
        table.add_row(o.dataset, o.status, str(o.directory), o.note)
    Console().print(table)
    return 0


def _prepare(args) -> int:
    from data.samples import prepare_all
    from harness.cli.query import print_frame

    try:
        summary = prepare_all(args.raw_dir, args.cache_dir, book_label_alignment=args.book_label_alignment,
                              raw_variants=_variants(args), datasets=_declared(args), domains=_grid_domains(args))
    except OSError as exc:      # raw files give RawDataErrors; this is the cache, mostly
        raise _cache_error(exc, args) from None
    print_frame(summary, "table", title=f"samples (book labels: {args.book_label_alignment})")
    return 0


def _export(args) -> int:
    import json
    import os
    from pathlib import Path

    from data.samples import load_split
    from harness.core.errors import HarnessError

    try:
        frame = load_split(args.domain, args.split, raw_dir=args.raw_dir, cache_dir=args.cache_dir,
                           book_label_alignment=args.book_label_alignment, raw_variants=_variants(args),
                           datasets=_declared(args))
    except OSError as exc:
        raise _cache_error(exc, args) from None
    records = [{"instruction": i, "input": x, "output": o}
               for i, x, o in zip(frame["instruction"], frame["input"], frame["output"])]
    out = Path(args.out)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w") as handle:
            json.dump(records, handle, indent=4)
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise HarnessError(f"cannot write {out}: {exc.strerror or exc}") from None
    print(f"wrote {len(records):,} {args.domain} {args.split} samples to {out}")
    return 0
