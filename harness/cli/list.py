"""`harness list datasets | methods`: what a grid can name, from the registries.

datasets: each registered (and, with --grid, declared) dataset's label, source, raw files and
their size, and its split counts (samples / users per split; the tables are built, or read from
the cache, as `harness data prepare` does). methods: each method's module, variants, which are
zero-shot and whether it runs an LLM. Light at import: the registries are read in the handlers.
"""
from __future__ import annotations

FORMATS = ("table", "csv", "json")


def add_arguments(parser) -> None:
    sub = parser.add_subparsers(dest="list_what", metavar="WHAT", required=True)
    datasets = sub.add_parser("datasets", help="the datasets a grid can name as domains",
                              description="Every registered dataset (and those a --grid declares): "
                                          "label, source, raw files and size, samples / users per split.")
    datasets.add_argument("--grid", default=None, metavar="GRID.yaml",
                          help="also list the datasets this grid declares under `datasets:`")
    datasets.add_argument("--raw-dir", default=None,
                          help="raw data directory (default: $HARNESS_RAW_DIR, else the fetch cache)")
    datasets.add_argument("--cache-dir", default=None, help="where the Parquet tables are cached")
    datasets.add_argument("--format", choices=FORMATS, default="table")
    methods = sub.add_parser("methods", help="the methods a grid can name under grid.method",
                             description="Every registered method: module, variants, zero-shot, LLM.")
    methods.add_argument("--format", choices=FORMATS, default="table")


def main(args) -> int:
    from harness.cli.query import print_frame

    frame = _datasets(args) if args.list_what == "datasets" else _methods()
    print_frame(frame, args.format, title=args.list_what)
    return 0


def _size(paths) -> str:
    total = sum(p.stat().st_size for p in paths)
    return f"{total / 1e6:.1f} MB"


def _dataset_row(name: str, declared: dict, args) -> dict:
    from data.datasets import plugin
    from data.samples import SPLITS, load_split
    from harness.core.errors import HarnessError

    source = plugin(name, declared)
    row = {"dataset": name, "label": source.INFO.label, "source": source.INFO.source,
           "files": ", ".join(source.INFO.files)}
    try:
        source.fingerprints(args.raw_dir, args.cache_dir)      # locates and verifies the raw files
        from data.sources import resolve_raw_dir

        root = resolve_raw_dir(args.raw_dir)
        row["size"] = _size([p if p.is_absolute() else root / p for p in map(_path, source.INFO.files)])
        for split in SPLITS:
            frame = load_split(name, split, raw_dir=args.raw_dir, cache_dir=args.cache_dir, datasets=declared)
            row[split] = f"{len(frame):,} / {frame['user_id'].nunique():,}"
    except (HarnessError, OSError) as exc:
        row["size"] = "unavailable"
        row["note"] = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
    return row


def _path(text: str):
    from pathlib import Path

    return Path(text).expanduser()


def _datasets(args):
    import pandas as pd

    from data.datasets import names

    declared = {}
    if args.grid:
        from harness.grid.load import load_grid

        declared = dict(load_grid(args.grid).datasets)
    rows = [_dataset_row(name, declared, args) for name in names(declared)]
    columns = ["dataset", "label", "source", "files", "size", "train", "valid", "test", "note"]
    frame = pd.DataFrame(rows).reindex(columns=columns).fillna("")
    return frame.rename(columns={s: f"{s} samples / users" for s in ("train", "valid", "test")})


def _methods():
    import pandas as pd

    from harness.core.methods import METHODS, method_info

    rows = []
    for name in METHODS.names():
        row = {"method": name, "source": METHODS.target(name)}
        try:
            info = method_info(name)
        except Exception as exc:  # noqa: BLE001 - list what loads; say what does not
            row["variants"] = f"cannot be loaded ({type(exc).__name__}: {str(exc).splitlines()[0][:80] if str(exc) else ''})"
            rows.append(row)
            continue
        zero = [v for v in info.variants if info.is_zero_shot(v)] if info.variants else []
        row.update({"variants": ", ".join(info.variants) or "-",
                    "zero-shot": "yes" if info.zero_shot else (", ".join(zero) or "no"),
                    "llm": "yes" if info.uses_llm else "no"})
        rows.append(row)
    return pd.DataFrame(rows).reindex(columns=["method", "source", "variants", "zero-shot", "llm"]).fillna("")
