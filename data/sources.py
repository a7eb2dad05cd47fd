"""Where the raw datasets are, whether they are intact, and how to get them.

Resolution order for the raw data directory: the ``raw_dir`` argument (``--raw-dir``), then the
``HARNESS_RAW_DIR`` environment variable, then ``default_cache_dir() / "raw"`` (what
``harness data fetch`` fills). Inside it every dataset has its own directory, as the publishers
ship them: ``ml-100k/``, ``bookcrossing/``, ``alpaca/``.

Every raw file is hashed before use (once per process, see ``data.manifest``) and compared with
the published file's checksum in ``data/checksums.json``. Any other content is refused unless
its variant token is accepted; an accepted variant is then checked (row counts, columns,
encoding; the result is remembered on disk by content hash). A missing, unreadable or refused
file raises :class:`RawDataError`, whose one-line message names the file, where it was looked
for and what to do.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from data import manifest
from harness.core.context import default_cache_dir
from harness.core.errors import HarnessError

DATASETS = ("ml-100k", "bookcrossing", "alpaca")

OFFICIAL_URLS = {
    "ml-100k": "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
    "bookcrossing": "http://www2.informatik.uni-freiburg.de/~cziegler/BX/BX-CSV-Dump.zip",
    "alpaca": "https://raw.githubusercontent.com/tatsu-lab/stanford_alpaca/main/alpaca_data.json",
}

ALPACA_FULL = "alpaca_data.json"
ALPACA_SUBSET = "alpaca_data_first1727.json"
ALPACA_FULL_RECORDS = 52_002
ALPACA_SUBSET_RECORDS = 1_727

# The files each dataset's builder reads (raw_fingerprint hashes exactly these).
REQUIRED = {
    "ml-100k": ("u.data", "u.item"),
    "bookcrossing": ("BX-Book-Ratings.csv", "BX-Books.csv"),
    "alpaca": (ALPACA_FULL,),
}
# Files `harness data fetch` extracts from each archive.
FETCHED = {
    "ml-100k": ("u.data", "u.item", "u.user", "u.genre", "u.occupation", "u.info", "README"),
    "bookcrossing": ("BX-Book-Ratings.csv", "BX-Books.csv", "BX-Users.csv"),
    "alpaca": (ALPACA_FULL,),
}

INDEX_NAME = "raw-checks.json"
_CHECK_VERSION = 2  # bump when a check changes, so remembered results are redone


class RawDataError(HarnessError):
    """A raw data file is missing or not the file the publisher distributes."""


# --------------------------------------------------------------------------------------------
# locating


def _resolve(raw_dir: str | os.PathLike | None) -> tuple[Path, str]:
    if raw_dir is not None and str(raw_dir) != "":
        return Path(raw_dir).expanduser().resolve(), "--raw-dir"
    if os.environ.get("HARNESS_RAW_DIR"):
        return Path(os.environ["HARNESS_RAW_DIR"]).expanduser().resolve(), "HARNESS_RAW_DIR"
    return (default_cache_dir() / "raw").resolve(), "the fetch cache"


def resolve_raw_dir(raw_dir: str | os.PathLike | None = None) -> Path:
    """The raw data directory: ``raw_dir``, else ``$HARNESS_RAW_DIR``, else the fetch cache."""
    return _resolve(raw_dir)[0]


def _how_to_provide(dataset: str) -> str:
    return (f"provide it with --raw-dir DIR or HARNESS_RAW_DIR=DIR (layout DIR/{dataset}/...), "
            f"or run `harness data fetch` (downloads {OFFICIAL_URLS[dataset]})")


def _problem(dataset: str, name: str, where: Path, source: str, what: str) -> RawDataError:
    return RawDataError(f"raw file {dataset}/{name} {what} (looked in {where}, raw data directory "
                        f"from {source}); {_how_to_provide(dataset)}")


def _locate(dataset: str, name: str, where: Path) -> Path | None:
    candidates = [name] + ([ALPACA_SUBSET] if dataset == "alpaca" and name == ALPACA_FULL else [])
    for candidate in candidates:
        if os.path.lexists(where / candidate):
            return where / candidate
    return None


def raw_file(dataset: str, name: str, raw_dir: str | os.PathLike | None = None, *,
             cache_dir: str | os.PathLike | None = None, accept=None) -> Path:
    """The path of one raw file, located and verified (see the module docstring).

    For ``alpaca``, asking for ``alpaca_data.json`` returns the full official file when it is
    present, else the verbatim subset ``alpaca_data_first1727.json`` (the first 1,727 records,
    which is what the shared CI data area holds). ``accept``: variant tokens to accept (default:
    those of the enclosing ``data.manifest.accepting`` block). ``cache_dir`` only says where the
    on-disk index of variant check results lives (default: ``default_cache_dir() / "data"``).
    """
    if dataset not in DATASETS:
        raise HarnessError(f"unknown raw dataset {dataset!r}; known: {', '.join(DATASETS)}")
    root, source = _resolve(raw_dir)
    where = root / dataset
    path = _locate(dataset, name, where)
    if path is None:
        also = f" (nor {ALPACA_SUBSET})" if dataset == "alpaca" and name == ALPACA_FULL else ""
        raise _problem(dataset, name, where, source, f"is missing{also}")
    if not path.is_file():
        what = "a directory" if path.is_dir() else "a dangling link or not a regular file"
        raise _problem(dataset, path.name, where, source, f"is {what}, not a file")
    accept = manifest.accepted() if accept is None else manifest.check_tokens(accept)
    _checked(dataset, path.name, path, source, cache_dir, accept)
    return path


def _digests(dataset: str, path: Path, source: str) -> dict[str, str]:
    try:
        return manifest.file_digests(path, manifest.needs_blob_id(dataset, path.name))
    except OSError as exc:
        raise _problem(dataset, path.name, path.parent, source,
                       f"cannot be read ({exc.strerror or exc})") from None


def raw_fingerprint(dataset: str, raw_dir: str | os.PathLike | None = None, *,
                    cache_dir: str | os.PathLike | None = None, accept=None) -> str:
    """sha256 over the contents of the raw files the dataset's builder reads (verified first)."""
    paths = [raw_file(dataset, name, raw_dir, cache_dir=cache_dir, accept=accept) for name in REQUIRED[dataset]]
    return manifest.fingerprint(dataset, [(p.name, manifest.file_digests(p)["sha256"]) for p in paths])


def _variant_token(dataset: str, where: Path, source: str) -> str:
    paths = [p for p in (_locate(dataset, n, where) for n in REQUIRED[dataset]) if p and p.is_file()]
    files = [(p.name, _digests(dataset, p, source)["sha256"]) for p in paths]
    return manifest.token(dataset, manifest.fingerprint(dataset, files))


# --------------------------------------------------------------------------------------------
# verification


_INDEXES: dict[Path, manifest.CheckIndex] = {}


def _index(cache_dir: str | os.PathLike | None) -> manifest.CheckIndex:
    base = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "data"
    path = (base / INDEX_NAME).resolve()
    if path not in _INDEXES:
        _INDEXES[path] = manifest.CheckIndex(path)
    return _INDEXES[path]


def _checked(dataset: str, name: str, path: Path, source: str, cache_dir, accept: tuple) -> None:
    digests = _digests(dataset, path, source)
    if manifest.known(dataset, name, digests):
        return      # the published file: it passed every check below when its checksum was recorded
    token = _variant_token(dataset, path.parent, source)
    if token not in accept:
        recorded = manifest.expected(dataset, name)
        raise _problem(dataset, name, path.parent, source,
                       f"is not the published file (sha256 {digests['sha256'][:16]}..."
                       + (f", published {recorded}" if recorded else ", no published checksum")
                       + f"); to use this copy on purpose, accept its variant {token} "
                       f"(grid: data.raw_variants: [{token}]; harness data: --accept-variant {token})")
    key = f"{dataset}/{name}:{digests['sha256']}:{_CHECK_VERSION}"
    index = _index(cache_dir)
    if index.get(key) is not None:
        return
    check = _CHECKS.get((dataset, name))
    if check is not None:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise _problem(dataset, name, path.parent, source, f"cannot be read ({exc.strerror or exc})") from None
        try:
            summary = check(data)
        except _Bad as bad:
            raise _problem(dataset, name, path.parent, source, f"is not usable: {bad}") from None
    else:
        summary = f"{digests['sha256']} unchecked"
    index.put(key, summary)


# --------------------------------------------------------------------------------------------
# the checks (each gets the file's bytes; raises _Bad with what is wrong)


class _Bad(Exception):
    pass


def _no_nul(data: bytes, expected: str) -> None:
    if b"\x00" in data[:65536] or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise _Bad(f"it holds NUL bytes or a UTF-16 byte-order mark; expected {expected}")


def _lines(data: bytes, sep: bytes, want: int, what: str) -> list[bytes]:
    lines = data.split(sep)
    if lines and lines[-1] == b"":
        lines.pop()
    elif lines:
        raise _Bad("its last line is incomplete (no final line break): truncated?")
    if len(lines) != want:
        raise _Bad(f"expected {want:,} lines of {what}, found {len(lines):,} (truncated or modified?)")
    return lines


_RATINGS = (b"1", b"2", b"3", b"4", b"5")


def _check_u_data(data: bytes) -> str:
    _no_nul(data, "ASCII text")
    lines = _lines(data, b"\n", 100_000, "user<TAB>item<TAB>rating<TAB>timestamp")
    for number, line in enumerate(lines, 1):
        fields = line.split(b"\t")
        if len(fields) != 4 or not all(f.isdigit() for f in fields) or fields[2] not in _RATINGS:
            raise _Bad(f"line {number} is not user<TAB>item<TAB>rating(1-5)<TAB>timestamp: {line[:60]!r}")
    return "100,000 ratings"


def _check_u_item(data: bytes) -> str:
    _no_nul(data, "latin-1 text")
    if any(b >= 0x80 for b in data):
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            raise _Bad("it decodes as UTF-8 with non-ASCII characters; the published u.item is latin-1 "
                       "(ISO-8859-1): was it re-encoded?")
    lines = _lines(data, b"\n", 1682, "id|title|...")
    for number, line in enumerate(lines, 1):
        fields = line.split(b"|")
        if len(fields) != 24 or fields[0] != str(number).encode():
            raise _Bad(f"line {number} is not '{number}|title|...' with 24 '|'-separated fields: {line[:60]!r}")
    return "1,682 items"


def _check_csv(header: bytes, rows: int) -> Callable[[bytes], str]:
    def check(data: bytes) -> str:
        _no_nul(data, "latin-1 text")
        if not data.startswith(header + b"\r\n"):
            raise _Bad(f"its header is not {header.decode()}: {data[:80]!r}")
        lines = data.count(b"\n")
        if not data.endswith(b"\n"):
            raise _Bad("its last line is incomplete (no final line break): truncated?")
        if lines != rows + 1:
            raise _Bad(f"expected the header and {rows:,} lines, found {lines - 1:,} lines "
                       "(truncated or modified?)")
        return f"{rows:,} lines"
    return check


def _check_alpaca(want: int) -> Callable[[bytes], str]:
    def check(data: bytes) -> str:
        _no_nul(data, "UTF-8 JSON")
        try:
            records = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise _Bad(f"it is not UTF-8 JSON ({type(exc).__name__}: {str(exc)[:80]})") from None
        if not isinstance(records, list) or len(records) != want:
            found = f"{len(records):,}" if isinstance(records, list) else f"a {type(records).__name__}"
            raise _Bad(f"expected a JSON list of {want:,} records, found {found}")
        for number, record in enumerate(records):
            if (not isinstance(record, dict) or set(record) != {"instruction", "input", "output"}
                    or not all(isinstance(v, str) for v in record.values())):
                raise _Bad(f"record {number} is not {{instruction, input, output}} of strings")
        return f"{want:,} records"
    return check


_CHECKS: dict[tuple[str, str], Callable[[bytes], str]] = {
    ("ml-100k", "u.data"): _check_u_data,
    ("ml-100k", "u.item"): _check_u_item,
    ("bookcrossing", "BX-Book-Ratings.csv"): _check_csv(b'"User-ID";"ISBN";"Book-Rating"', 1_149_780),
    ("bookcrossing", "BX-Books.csv"): _check_csv(
        b'"ISBN";"Book-Title";"Book-Author";"Year-Of-Publication";"Publisher";"Image-URL-S";'
        b'"Image-URL-M";"Image-URL-L"', 271_379),
    # 278,858 users; one location holds a line break, so the file has one line more
    ("bookcrossing", "BX-Users.csv"): _check_csv(b'"User-ID";"Location";"Age"', 278_859),
    ("alpaca", ALPACA_FULL): _check_alpaca(ALPACA_FULL_RECORDS),
    ("alpaca", ALPACA_SUBSET): _check_alpaca(ALPACA_SUBSET_RECORDS),
}


# --------------------------------------------------------------------------------------------
# fetching


@dataclass
class FetchOutcome:
    dataset: str
    status: str        # "fetched" or "present"
    directory: Path
    note: str = ""


def _download(url: str, target: Path, opener: Callable | None, out_dir: Path) -> None:
    open_url = opener or urllib.request.urlopen
    try:
        with open_url(url) as response, open(target, "wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise RawDataError(f"could not download {url}: {reason}; download it by hand and unpack its files "
                           f"into {out_dir}/ (or into DIR/{out_dir.name}/ and use --raw-dir DIR or "
                           "HARNESS_RAW_DIR=DIR)") from None


def _extract(archive: Path, names: tuple[str, ...], dest: Path, url: str) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            by_name = {}
            for info in zf.infolist():
                base = info.filename.rsplit("/", 1)[-1]
                if base in names and not info.is_dir() and base not in by_name:
                    by_name[base] = info
            missing = [n for n in names if n not in by_name]
            if missing:
                raise RawDataError(f"the archive from {url} lacks {', '.join(missing)}")
            for base, info in by_name.items():   # by base name only: no path from the archive is used
                tmp = dest / f".{base}.part"
                with zf.open(info) as src, open(tmp, "wb") as out:
                    shutil.copyfileobj(src, out, length=1 << 20)
                os.replace(tmp, dest / base)
    except zipfile.BadZipFile as exc:
        raise RawDataError(f"the download from {url} is not a zip archive ({exc})") from None


def fetch(dest: str | os.PathLike | None = None, datasets=DATASETS, *,
          urls: dict[str, str] | None = None, opener: Callable | None = None,
          force: bool = False) -> list[FetchOutcome]:
    """Download the official archives and unpack them as ``dest/<dataset>/<file>``.

    ``dest`` None: the raw data directory from ``HARNESS_RAW_DIR`` is used if it is set (datasets
    already valid there are left alone and nothing is written there), else the fetch cache
    ``default_cache_dir() / "raw"``. A dataset already present and valid in the target is skipped
    unless ``force``. ``urls`` / ``opener`` replace the official URLs / ``urllib.request.urlopen``
    (tests use ``file://`` URLs). Every fetched file is checked like any other raw file.
    """
    if isinstance(datasets, str):
        datasets = (datasets,)
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise HarnessError(f"unknown dataset(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}")
    urls = {**OFFICIAL_URLS, **(urls or {})}
    target = Path(dest).expanduser().resolve() if dest is not None else (default_cache_dir() / "raw").resolve()
    outcomes = []
    for dataset in datasets:
        looked = [target]
        if dest is None and os.environ.get("HARNESS_RAW_DIR"):
            looked.insert(0, resolve_raw_dir())
        if not force:
            present = next((d for d in looked if _valid(dataset, d)), None)
            if present is not None:
                note = ""
                if dataset == "alpaca" and not (present / dataset / ALPACA_FULL).is_file():
                    note = (f"only the {ALPACA_SUBSET_RECORDS:,}-record subset; for the full file run "
                            f"`harness data fetch --dest DIR` and point HARNESS_RAW_DIR at DIR")
                outcomes.append(FetchOutcome(dataset, "present", present / dataset, note))
                continue
        out_dir = target / dataset
        url = urls[dataset]
        target.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target, prefix=".fetch-") as tmp:
            download = Path(tmp) / "download"
            _download(url, download, opener, out_dir)
            out_dir.mkdir(parents=True, exist_ok=True)
            if dataset == "alpaca":
                os.replace(download, out_dir / ALPACA_FULL)
            else:
                _extract(download, FETCHED[dataset], out_dir, url)
        for name in REQUIRED[dataset]:
            raw_file(dataset, name, target)
        note = ""
        if dest is None and os.environ.get("HARNESS_RAW_DIR") and resolve_raw_dir() != target:
            note = (f"HARNESS_RAW_DIR={resolve_raw_dir()} takes precedence over {target}: "
                    f"unset it or copy {out_dir} there")
        outcomes.append(FetchOutcome(dataset, "fetched", out_dir, note))
    return outcomes


def _valid(dataset: str, root: Path) -> bool:
    try:
        return all(raw_file(dataset, name, root) for name in REQUIRED[dataset])
    except RawDataError:
        return False
