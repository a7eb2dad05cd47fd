"""Reading explicit-feedback files: ratings (user, item, rating, timestamp) and item titles.

Formats: ``movielens-100k`` (``u.data``: tab-separated; ``u.item``: ``id|title|...``),
``movielens-1m`` (``ratings.dat``: ``user::item::rating::timestamp``; ``movies.dat``:
``id::title::genres``) and ``csv`` (a header row; the columns named in the config, e.g. an
Amazon review export ``reviewerID,asin,overall,unixReviewTime`` and a metadata file
``asin,title``). Every problem is one ``RawDataError`` line naming the file, the line number and
the column, raised before anything is built.
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from data.sources import RawDataError
from harness.core.datasets import ItemsFile, RatingsFile

_SEPARATORS = {"movielens-100k": ("\t", "|"), "movielens-1m": ("::", "::")}
RATING_COLUMNS = ("user", "item", "rating", "timestamp")


def _bad(path: Path, number: int, column: str | None, what: str) -> RawDataError:
    where = f"line {number}" + (f", column {column}" if column else "")
    return RawDataError(f"{path}: {where}: {what}")


def _lines(path: Path, encoding: str):
    """(line number, text) of every non-blank line; a line that does not decode is named."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RawDataError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    for number, raw in enumerate(data.split(b"\n"), 1):
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            yield number, raw.decode(encoding)
        except UnicodeDecodeError as exc:
            raise _bad(path, number, None, f"is not {encoding} text ({exc.reason} at byte {exc.start})") from None
        except LookupError:
            raise RawDataError(f"{path}: unknown encoding {encoding!r}") from None


def _rows(path: Path, fmt: str, encoding: str, sep: str, names: tuple[str, ...], which: int,
          want: int | None):
    """(line number, {column: text}) per line. Fixed-layout formats: split on the format's
    separator (`which` picks the ratings or items one), the first `len(names)` fields; csv: the
    header names the columns (all of `names` must be there)."""
    lines = _lines(path, encoding)
    if fmt != "csv":
        separator = _SEPARATORS[fmt][which]
        for number, text in lines:
            fields = text.split(separator)
            if want is not None and len(fields) != want or len(fields) < len(names):
                column = names[min(len(fields), len(names) - 1)] if len(fields) < len(names) else None
                found = f"{len(fields)} field{'s' * (len(fields) != 1)}"
                raise _bad(path, number, column, f"expected {want or len(names)} fields separated by "
                                                 f"{separator!r}, found {found}: {text[:60]!r}")
            yield number, dict(zip(names, fields))
        return
    first = next(lines, None)
    if first is None:
        raise RawDataError(f"{path}: is empty (expected a header row with {', '.join(names)})")
    header_line, header_text = first
    header = next(csv.reader([header_text], delimiter=sep))
    index = {}
    for name in names:
        if name not in header:
            raise _bad(path, header_line, name, f"no such column in the header ({', '.join(header)})")
        index[name] = header.index(name)
    for number, text in lines:
        fields = next(csv.reader([text], delimiter=sep), [])
        if len(fields) != len(header):
            column = header[len(fields)] if len(fields) < len(header) else None
            raise _bad(path, number, column, f"expected {len(header)} fields separated by {sep!r}, "
                                             f"found {len(fields)}: {text[:60]!r}")
        yield number, {name: fields[i] for name, i in index.items()}


def _number(path: Path, number: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise _bad(path, number, column, f"{text[:40]!r} is not a number")
    return value


def read_ratings(path: Path, spec: RatingsFile) -> list[tuple[str, str, float, int]]:
    """(user, item, rating, timestamp) per line, in file order; ids as stripped strings."""
    names = RATING_COLUMNS if spec.format != "csv" else (spec.user, spec.item, spec.rating, spec.timestamp)
    want = 4 if spec.format == "movielens-1m" else (4 if spec.format == "movielens-100k" else None)
    out = []
    for number, row in _rows(path, spec.format, spec.encoding, spec.sep, names, 0, want):
        user, item, rating, stamp = (row[n].strip() for n in names)
        for column, value in ((names[0], user), (names[1], item)):
            if not value:
                raise _bad(path, number, column, "is empty")
        rating_value = _number(path, number, names[2], rating)
        stamp_value = _number(path, number, names[3], stamp)
        out.append((user, item, rating_value, int(stamp_value)))
    if not out:
        raise RawDataError(f"{path}: holds no ratings")
    return out


def read_titles(path: Path, spec: ItemsFile, ratings_format: str) -> dict[str, str]:
    """item id -> title (the first line of an id wins)."""
    fmt = spec.format or ratings_format
    names = ("item", "title") if fmt != "csv" else (spec.item, spec.title)
    titles: dict[str, str] = {}
    for number, row in _rows(path, fmt, spec.encoding, spec.sep, names, 1, None):
        item = row[names[0]].strip()
        if not item:
            raise _bad(path, number, names[0], "is empty")
        titles.setdefault(item, row[names[1]])
    if not titles:
        raise RawDataError(f"{path}: holds no items")
    return titles
