"""The canonical sample tables: what LLM methods (the text) and baselines (the ids) both read.

``load_split(domain, split)`` returns one row per sample with the columns ``COLUMNS`` (in that
order). A domain is a dataset plugin (``data.datasets.plugin``: registered in
``harness.core.datasets.DATASETS`` -- ``data.movie``, ``data.book``, ``data.explicit`` -- or declared
in a grid, passed as ``datasets={name: DatasetConfig}``). Its three splits are built together and
cached as Parquet under ``cache_dir`` (default ``default_cache_dir() / "data"``), in files named
by a key over the raw files' fingerprint, ``BUILDER_VERSION`` and the build options, so a
changed raw file, builder or option never reads a stale table (the fingerprint is over the raw
files' content, see ``data.manifest``). Every table is sanity-checked (``check_table``) before it
is cached and when it is read back; a cached file that cannot be read (truncated, corrupt: the
Parquet pages carry checksums) or fails the checks is rebuilt. Loaded tables are also memoised
in process (each call returns a copy). ``raw_variants``: variant tokens of raw files to accept.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import pandas as pd

from data import manifest
from data.datasets import names as dataset_names, plugin
from data.splits import SPLITS
from harness.core.context import default_cache_dir
from harness.core.errors import HarnessError
from harness.core.locks import file_lock

BUILDER_VERSION = "2"   # bump whenever a builder's output changes (2: titles and timestamps)
DOMAINS = ("movie", "book")   # TALLRec's two (train_mix `both`); every dataset: data.datasets.names()
COLUMNS = ("sample_id", "domain", "split", "user_id", "history_item_ids", "history_labels",
           "target_item_id", "label", "instruction", "input", "output",
           # the same samples' titles and, where the data has them, timestamps (else [] / null)
           "history_titles", "history_timestamps", "target_title", "target_timestamp")
ITEM_COLUMNS = ("item_id", "title", "text")
_LIST_COLUMNS = ("history_item_ids", "history_labels", "history_titles", "history_timestamps")

_MEMO: dict[tuple, pd.DataFrame] = {}
_LOCK = threading.RLock()


class DataError(HarnessError):
    """A built or cached table that cannot be right (no positives, labels not 0/1, ...)."""


def check_table(domain: str, split: str, frame: pd.DataFrame) -> None:
    """Refuse a table no TALLRec split can be: empty, one class only, labels not matching outputs."""
    what = f"the {domain} {split} table"
    if len(frame) == 0:
        raise DataError(f"{what} is empty")
    labels = frame["label"]
    if not labels.isin((0, 1)).all():
        raise DataError(f"{what} has labels other than 0/1")
    if not ((labels == 1) == (frame["output"] == "Yes.")).all():
        raise DataError(f"{what} has outputs that disagree with its labels")
    positives = int(labels.sum())
    if positives in (0, len(frame)):
        raise DataError(f"{what} has {positives / len(frame):.1%} positives ({positives:,} of {len(frame):,}): "
                        "labels of one class only, so no AUC; the raw ratings cannot be right (relabelled "
                        "or cut?) or the like threshold is")
    if not frame["sample_id"].is_unique:
        raise DataError(f"{what} has duplicate sample ids")


def check_domain(domain: str, datasets=None) -> None:
    plugin(domain, datasets)


def check_split(split: str) -> None:
    if split not in SPLITS:
        raise HarnessError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


def data_cache_dir(cache_dir=None) -> Path:
    return Path(cache_dir) if cache_dir is not None else default_cache_dir() / "data"


def _fingerprint(domain: str, raw_dir, cache_dir, datasets) -> str | dict:
    prints = plugin(domain, datasets).fingerprints(raw_dir, data_cache_dir(cache_dir))
    return next(iter(prints.values())) if len(prints) == 1 else prints


def cache_key(domain: str, *, raw_dir=None, cache_dir=None, book_label_alignment="correct",
              raw_variants=None, datasets=None) -> str:
    """The name stem of a domain's cached tables: domain, options and a hash of what they depend on."""
    options = plugin(domain, datasets).options(book_label_alignment)
    with manifest.accepting(raw_variants or manifest.accepted()):
        fingerprint = _fingerprint(domain, raw_dir, cache_dir, datasets)
    digest = hashlib.sha256(json.dumps({"builder": BUILDER_VERSION, "raw": fingerprint, "domain": domain,
                                        "options": options}, sort_keys=True).encode()).hexdigest()[:16]
    suffix = f"-{options['label_alignment']}" if "label_alignment" in options else ""
    return f"{domain}{suffix}-{digest}"


def split_path(domain: str, split: str, key: str, cache_dir=None) -> Path:
    return data_cache_dir(cache_dir) / f"{key}-{split}.parquet"


def _canonical(domain: str, split: str, frame: pd.DataFrame) -> pd.DataFrame:
    n = len(frame)
    out = pd.DataFrame({
        "sample_id": [f"{domain}:{split}:{i:05d}" for i in range(n)],
        "domain": [domain] * n,
        "split": [split] * n,
    })
    for column in COLUMNS[3:]:
        values = frame[column]
        out[column] = values.to_numpy() if column not in _LIST_COLUMNS else list(values)
    out["label"] = out["label"].astype("int64")
    out["target_timestamp"] = pd.array(frame["target_timestamp"], dtype="Int64")
    return out[list(COLUMNS)]


def _build(domain: str, raw_dir, cache_dir, book_label_alignment: str, datasets=None) -> dict[str, pd.DataFrame]:
    from data.sources import RawDataError, resolve_raw_dir

    source = plugin(domain, datasets)
    try:
        splits = source.build(raw_dir, data_cache_dir(cache_dir), source.options(book_label_alignment))
    except (ValueError, KeyError, IndexError, TypeError) as exc:   # only accepted variants get here
        detail = " ".join(str(exc).split())[:200]
        files = ", ".join(source.INFO.files)
        raise RawDataError(f"cannot build the {domain} tables from the raw files ({files} in "
                           f"{resolve_raw_dir(raw_dir)}) ({type(exc).__name__}: {detail})") from None
    built = {split: _canonical(domain, split, splits[split]) for split in SPLITS}
    for split, frame in built.items():
        check_table(domain, split, frame)        # before anything is cached
    return built


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(c, pa.string()) for c in COLUMNS[:4]] + [
        ("history_item_ids", pa.list_(pa.string())), ("history_labels", pa.list_(pa.int64())),
        ("target_item_id", pa.string()), ("label", pa.int64()),
        ("instruction", pa.string()), ("input", pa.string()), ("output", pa.string()),
        ("history_titles", pa.list_(pa.string())), ("history_timestamps", pa.list_(pa.int64())),
        ("target_title", pa.string()), ("target_timestamp", pa.int64())])
    columns = {c: frame[c].tolist() for c in COLUMNS}
    columns["target_timestamp"] = [None if pd.isna(v) else int(v) for v in frame["target_timestamp"]]
    table = pa.Table.from_pydict(columns, schema=schema)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    pq.write_table(table, tmp, write_page_checksum=True)   # so a flipped byte is noticed on read
    os.replace(tmp, path)   # readers never see a half-written file


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    table = pq.read_table(path, page_checksum_verification=True)
    data = {}
    for column in COLUMNS:
        chunked = table.column(column)
        if column in _LIST_COLUMNS:
            data[column] = chunked.to_pylist()
        elif column == "target_timestamp":      # nullable: Int64, never float
            data[column] = pd.array(chunked.to_pylist(), dtype="Int64")
        else:
            data[column] = chunked.to_pandas()
    frame = pd.DataFrame(data)
    return frame[list(COLUMNS)]


def _stamp(path: Path):
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _ensure(domain: str, key: str, raw_dir, cache_dir, book_label_alignment: str, bad=frozenset(),
            datasets=None) -> None:
    """Build the domain's tables unless all three are cached (and none is the ``bad`` file)."""
    paths = {s: split_path(domain, s, key, cache_dir) for s in SPLITS}

    def ready() -> bool:
        return all(p.is_file() and _stamp(p) not in bad for p in paths.values())

    if ready():
        return
    data_cache_dir(cache_dir).mkdir(parents=True, exist_ok=True)
    with file_lock(data_cache_dir(cache_dir) / f".{key}.lock"):
        if ready():   # another process built it meanwhile
            return
        built = _build(domain, raw_dir, cache_dir, book_label_alignment, datasets)
        for split, frame in built.items():
            _write_parquet(frame, paths[split])


def _unreadable() -> tuple:
    import pyarrow as pa

    return (OSError, ValueError, KeyError, pa.ArrowException, DataError)


def _load(domain: str, split: str, key: str, raw_dir, cache_dir, book_label_alignment: str,
          datasets=None) -> pd.DataFrame:
    path = split_path(domain, split, key, cache_dir)
    _ensure(domain, key, raw_dir, cache_dir, book_label_alignment, datasets=datasets)
    stamp = _stamp(path)
    try:
        frame = _read_parquet(path)   # built or cached: the same dtypes either way
        check_table(domain, split, frame)
        return frame
    except _unreadable():             # truncated or corrupt cache file: rebuild it, once
        _ensure(domain, key, raw_dir, cache_dir, book_label_alignment, bad=frozenset({stamp}), datasets=datasets)
    frame = _read_parquet(path)
    check_table(domain, split, frame)
    return frame


def load_split(domain: str, split: str, *, raw_dir=None, cache_dir=None,
               book_label_alignment: str = "correct", raw_variants=(), datasets=None) -> pd.DataFrame:
    """One split of one domain as the canonical table (columns ``COLUMNS``). ``datasets``: the
    grid's declared datasets ({name: DatasetConfig}, ``TrialSpec.data.datasets``)."""
    check_domain(domain, datasets)
    check_split(split)
    with _LOCK, manifest.accepting(raw_variants):
        key = cache_key(domain, raw_dir=raw_dir, cache_dir=cache_dir, book_label_alignment=book_label_alignment,
                        datasets=datasets)
        path = split_path(domain, split, key, cache_dir)
        memo_key = (str(path.resolve()),)
        if memo_key not in _MEMO:
            _MEMO[memo_key] = _load(domain, split, key, raw_dir, cache_dir, book_label_alignment, datasets)
        return _MEMO[memo_key].copy()


def user_ids(domain: str, split: str, **kwargs) -> dict[str, str]:
    """{sample_id: user_id} of one split (``load_split``'s keyword arguments): what per-user
    metrics join stored predictions on."""
    frame = load_split(domain, split, **kwargs)
    return dict(zip(frame["sample_id"], frame["user_id"]))


def load_split_path(domain: str, split: str, *, raw_dir=None, cache_dir=None,
                    book_label_alignment: str = "correct", raw_variants=(), datasets=None) -> Path:
    """Where ``load_split``'s table is cached (built if needed)."""
    kwargs = {"raw_dir": raw_dir, "cache_dir": cache_dir, "book_label_alignment": book_label_alignment,
              "datasets": datasets}
    load_split(domain, split, raw_variants=raw_variants, **kwargs)
    return split_path(domain, split, cache_key(domain, raw_variants=raw_variants, **kwargs), cache_dir)


# ----------------------------------------------------------------------------------------------
# items


def load_items(domain: str, *, raw_dir=None, cache_dir=None, raw_variants=(), datasets=None) -> pd.DataFrame:
    """Item texts for text-embedding baselines: ``item_id`` (str), ``title``, ``text`` (the
    plugin's ``items``: movie, all 1,682 u.item titles; book, ``Title, by Author`` of every book
    an eligible user rated; a declared dataset, every rated item's title)."""
    source = plugin(domain, datasets)
    with _LOCK, manifest.accepting(raw_variants):
        depends = json.dumps({"raw": _fingerprint(domain, raw_dir, cache_dir, datasets),
                              "options": source.options()}, sort_keys=True)   # a declared config too
        digest = hashlib.sha256(f"{BUILDER_VERSION}:{depends}:items".encode()).hexdigest()[:16]
        path = data_cache_dir(cache_dir) / f"{domain}-items-{digest}.parquet"
        memo_key = (str(path.resolve()),)
        if memo_key not in _MEMO:
            frame = None
            if path.is_file():
                try:
                    frame = pd.read_parquet(path)[list(ITEM_COLUMNS)]
                    if frame.empty:
                        raise DataError(f"the cached {domain} item table is empty")
                except _unreadable():
                    frame = None      # truncated or corrupt: rebuilt below
            if frame is None:
                frame = source.items(raw_dir, data_cache_dir(cache_dir))
                if frame.empty:
                    raise DataError(f"the {domain} item table is empty")
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                frame.to_parquet(tmp, index=False)
                os.replace(tmp, path)
            _MEMO[memo_key] = frame[list(ITEM_COLUMNS)]
        return _MEMO[memo_key].copy()


# ----------------------------------------------------------------------------------------------


SUMMARY_COLUMNS = ["domain", "split", "samples", "users", "positive_rate", "cache_path"]


def prepare_all(raw_dir=None, cache_dir=None, book_label_alignment: str = "correct",
                raw_variants=(), datasets=None, domains=None) -> pd.DataFrame:
    """Build (or find) every split and item table of ``domains`` (default: every registered and
    declared dataset); one summary row per (domain, split): samples, users, like rate, file."""
    rows = []
    for domain in domains or dataset_names(datasets):
        kwargs = {"raw_dir": raw_dir, "cache_dir": cache_dir, "book_label_alignment": book_label_alignment,
                  "raw_variants": raw_variants, "datasets": datasets}
        for split in SPLITS:
            frame = load_split(domain, split, **kwargs)
            key = cache_key(domain, **{k: v for k, v in kwargs.items()})
            rows.append({"domain": domain, "split": split, "samples": len(frame),
                         "users": int(frame["user_id"].nunique()),
                         "positive_rate": float(frame["label"].mean()) if len(frame) else float("nan"),
                         "cache_path": str(split_path(domain, split, key, cache_dir))})
        load_items(domain, raw_dir=raw_dir, cache_dir=cache_dir, raw_variants=raw_variants, datasets=datasets)
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def clear_memo() -> None:
    """Forget the in-process tables (the Parquet cache stays)."""
    with _LOCK:
        _MEMO.clear()


def raw_provenance(domains, raw_dir=None, cache_dir=None, raw_variants=(), datasets=None) -> dict:
    """The content fingerprint of every raw dataset behind `domains`, the sha256 of each file of
    a declared dataset, and the accepted variants: what a trial stores about its data. Cheap:
    the hashes are memoised in the process."""
    fingerprints, files = {}, {}
    with manifest.accepting(tuple(raw_variants)):
        for domain in sorted(domains):
            source = plugin(domain, datasets)
            fingerprints.update(source.fingerprints(raw_dir, data_cache_dir(cache_dir)))
            if hasattr(source, "checksums"):
                files[domain] = source.checksums(raw_dir, data_cache_dir(cache_dir))
    out = {"data_fingerprint": fingerprints, "raw_variants": list(raw_variants)}
    return {**out, "data_files": files} if files else out
