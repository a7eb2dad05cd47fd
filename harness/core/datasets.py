"""The dataset registry: every name usable as a domain (`train_mix`, `eval.domains`) in a grid.

Like the method registry, names map to "module" / "module:attr" strings imported on first use
(so `harness --help` imports no pandas). A dataset plugin is an object (a module or an
instance) with `INFO = DatasetInfo(...)` and the functions `data/samples.py` calls:
`fingerprints(raw_dir, cache_dir)`, `options(book_label_alignment)`,
`build(raw_dir, cache_dir, options) -> {split: frame}` and `items(raw_dir, cache_dir)`.
Register your own with `DATASETS.register("name", "my_module")` in a module the grid lists
under `imports:`, or declare an explicit-feedback dataset in the grid (`datasets:`, validated by
`DatasetConfig` below and built by `data/explicit.py`) without code.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from harness.core.config import StableDump
from harness.core.registry import Registry

# TALLRec's two domains: the default eval domains and what train_mix `both` trains on.
PAPER_DOMAINS = ("movie", "book")
BOTH = "both"
BUILT_IN = {"movie": "data.movie", "book": "data.book", "movie-users": "data.explicit:MOVIE_USERS"}
DATASETS = Registry("dataset", BUILT_IN)
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


@dataclass(frozen=True)
class DatasetInfo:
    label: str                  # how reports name it ("Movie")
    source: str                 # where its raw files come from, in words
    files: tuple[str, ...] = ()  # the raw files it reads, relative to the raw data directory


def dataset_names() -> list[str]:
    """Registered datasets: the built-ins in their order, then the others sorted."""
    return [n for n in BUILT_IN if n in DATASETS] + [n for n in DATASETS.names() if n not in BUILT_IN]


def dataset_info(name: str) -> DatasetInfo:
    return DATASETS.get(name).INFO


def dataset_labels() -> dict[str, str]:
    """name -> display label of every registered dataset, and of train_mix `both`. Reports use it;
    a dataset that cannot be imported keeps its name as label."""
    labels = {}
    for name in dataset_names():
        try:
            labels[name] = dataset_info(name).label
        except Exception:  # noqa: BLE001 - a broken plugin must not break every report
            labels[name] = name
    labels[BOTH] = " + ".join(labels.get(d, d) for d in PAPER_DOMAINS)
    return labels


def mix_domains(train_mix: str | None) -> tuple[str, ...]:
    """The domains a train_mix trains on: `both` = Movie and Book, any other = itself."""
    if train_mix is None:
        return ()
    return PAPER_DOMAINS if train_mix == BOTH else (train_mix,)


# --------------------------------------------------------------------------------------------
# a dataset declared in a grid: `datasets: {name: DatasetConfig}` (built by data/explicit.py)

FORMATS = ("movielens-100k", "movielens-1m", "csv")


class RatingsFile(StableDump):
    path: str                   # relative to the raw data directory, or absolute
    format: Literal["movielens-100k", "movielens-1m", "csv"] = "movielens-100k"
    # csv only: the header's column names for user, item, rating, timestamp; the delimiter
    user: str = "user"
    item: str = "item"
    rating: str = "rating"
    timestamp: str = "timestamp"
    sep: str = ","
    encoding: str = "latin-1"


class ItemsFile(StableDump):
    path: str
    # None: the ratings file's format (movielens-100k: u.item, movielens-1m: movies.dat)
    format: Literal["movielens-100k", "movielens-1m", "csv"] | None = None
    item: str = "item"          # csv only: the item id column
    title: str = "title"        # csv only: the title column
    sep: str = ","
    encoding: str = "latin-1"


class DatasetConfig(StableDump):
    """An explicit-feedback dataset: ratings (user, item, rating, timestamp) and item titles.

    The defaults are TALLRec's Movie settings: a rating > 3 is a like, windows of 10 history
    items and a target, the last 10,000 windows in user order split 8:1:1 (`split: tallrec`);
    `split: users` draws the same number of windows from every user and splits whole users."""
    ratings: RatingsFile
    items: ItemsFile | None = None          # None: titles are the item ids
    like_threshold: float = 3               # rating > like_threshold is a like (label 1)
    history: int = Field(default=10, ge=1, le=100)
    samples: int | None = Field(default=10_000, ge=10)   # None: every window
    split: Literal["tallrec", "users"] = "tallrec"
    seed: int = Field(default=42, ge=0, le=2**31 - 1)    # split: users (the user shuffle)
    item_noun: str = Field(default="item", min_length=1, max_length=40)   # "the target movie"
    label: str | None = None                # how reports name it (default: the dataset's name)

    @field_validator("item_noun")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if not value.strip() or "\n" in value:
            raise ValueError("must be one word or phrase on one line")
        return value
