"""A generic explicit-feedback dataset: any ratings file -> TALLRec-style windows and prompts.

Declared in a grid without code (``datasets: {name: DatasetConfig}``, see docs/data.md):

1. Ratings read by ``data.ratings`` (one line naming file, line and column for a bad line);
   users in order of their first line; a rating > ``like_threshold`` is a like (label 1).
2. Each user's ratings sorted by timestamp, stably (ties keep file order).
3. One window per position i >= ``history`` of a user's sequence: history = the previous
   ``history`` items and labels, target = item i.
4. ``split: tallrec`` (TALLRec's Movie procedure): the last ``samples`` windows over all users in
   user order, split in order 8:1:1. With TALLRec's Movie settings on ML-100K this is exactly
   ``data.movie`` (tested). ``split: users``: the same number of windows, drawn from every user
   (each user's most recent ones, at most a common cap per user so that no user dominates),
   and whole users assigned to train / valid / test 8:1:1 after a seeded shuffle: no user is in
   two splits. Rows of a split are in user order, each user's windows in time order.
5. Rendering as TALLRec's Movie prompts, with ``item_noun`` for "movie": liked history titles in
   "User Preference", the others in "User Unpreference", each in double quotes.
"""
from __future__ import annotations

import random
from pathlib import Path

import pandas as pd

from data import manifest
from data.ratings import read_ratings, read_titles
from data.sources import DATASETS as RAW_DATASETS, RawDataError, raw_file, resolve_raw_dir
from data.splits import records_frame, split_8_1_1
from harness.core.datasets import DatasetConfig, DatasetInfo, ItemsFile, RatingsFile
from harness.core.errors import HarnessError

MIN_USERS = 10      # split: users needs a user in each of train / valid / test (8:1:1)


class ExplicitDataError(HarnessError):
    """A dataset whose ratings cannot make the splits asked for (too few users or windows)."""


def instruction(noun: str) -> str:
    return ("Given the user's preference and unpreference, identify whether the user will like "
            f"the target {noun} by answering \"Yes.\" or \"No.\".")


def render_input(history_titles: list[str], history_labels: list[int], target_title: str, noun: str) -> str:
    liked = ", ".join(f'"{t}"' for t, y in zip(history_titles, history_labels) if y == 1)
    disliked = ", ".join(f'"{t}"' for t, y in zip(history_titles, history_labels) if y != 1)
    return (f"User Preference: {liked}\nUser Unpreference: {disliked}\n"
            f"Whether the user will like the target {noun} \"{target_title}\"?")


def user_windows(ratings, like_threshold: float, history: int) -> dict[str, list[tuple]]:
    """user -> windows (user, history ids, history labels, target id, label, history timestamps,
    target timestamp), in time order;
    users in order of their first rating."""
    per_user: dict[str, list[tuple[int, str, int]]] = {}
    for user, item, rating, stamp in ratings:
        per_user.setdefault(user, []).append((stamp, item, int(rating > like_threshold)))
    out = {}
    for user, rows in per_user.items():
        rows.sort(key=lambda r: r[0])          # stable: ties keep file order
        times, items, labels = ([r[j] for r in rows] for j in range(3))
        out[user] = [(user, items[i - history:i], labels[i - history:i], items[i], labels[i],
                      times[i - history:i], times[i]) for i in range(history, len(items))]
    return out


def per_user_cap(counts: list[int], total: int) -> tuple[int, int]:
    """(cap, extra): the largest cap with sum(min(n, cap)) <= total, and how many users (those
    with more windows than the cap, in user order) get one window more to reach the total."""
    lo, hi = 0, max(counts)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if sum(min(n, mid) for n in counts) <= total:
            lo = mid
        else:
            hi = mid - 1
    return lo, total - sum(min(n, lo) for n in counts)


def split_windows(windows: dict[str, list[tuple]], config: DatasetConfig, name: str) -> dict[str, list[tuple]]:
    users = [u for u, w in windows.items() if w]
    available = sum(len(windows[u]) for u in users)
    wanted = available if config.samples is None else min(config.samples, available)
    if config.split == "tallrec":
        rows = [w for u in users for w in windows[u]][-wanted:] if wanted else []
        if len(rows) < 10:
            raise ExplicitDataError(f"dataset {name}: {len(rows)} windows ({config.history} history items + a "
                                    "target) in all; split tallrec needs at least 10")
        return split_8_1_1(rows)
    if len(users) < MIN_USERS:
        raise ExplicitDataError(f"dataset {name}: only {len(users)} users have more than {config.history} "
                                f"ratings (a window of {config.history} history items + a target); "
                                f"split users needs at least {MIN_USERS}")
    cap, extra = per_user_cap([len(windows[u]) for u in users], wanted)
    take = {}
    for user in users:
        n = min(len(windows[user]), cap)
        if extra and len(windows[user]) > cap:
            n, extra = n + 1, extra - 1
        take[user] = n
    shuffled = list(users)
    random.Random(config.seed).shuffle(shuffled)
    out = {}
    position = {u: i for i, u in enumerate(users)}
    for split, part in split_8_1_1(shuffled).items():
        ordered = sorted(part, key=position.__getitem__)
        out[split] = [w for u in ordered for w in windows[u][len(windows[u]) - take[u]:]]
    return out


class ExplicitDataset:
    """A dataset plugin (harness.core.datasets) over one DatasetConfig."""

    def __init__(self, name: str, config: DatasetConfig, source: str | None = None):
        self.name, self.config = name, config
        files = (config.ratings.path,) + ((config.items.path,) if config.items else ())
        self.INFO = DatasetInfo(label=config.label or name, files=files,
                                source=source or f"declared: {config.ratings.format} ratings "
                                                 f"{config.ratings.path}, split {config.split}")

    # -- raw files ------------------------------------------------------------------------
    def _path(self, relative: str, raw_dir, cache_dir) -> Path:
        """A file of the dataset: one of the published raw datasets' files is located and verified
        as the built-ins' are (checksums, variants); any other is read where it is."""
        parts = Path(relative).parts
        if (not Path(relative).is_absolute() and len(parts) == 2 and parts[0] in RAW_DATASETS
                and parts[1] in manifest.CHECKSUMS.get(parts[0], {}).get("files", {})):
            return raw_file(parts[0], parts[1], raw_dir, cache_dir=cache_dir)
        path = Path(relative).expanduser()
        if not path.is_absolute():
            path = resolve_raw_dir(raw_dir) / path
        if not path.is_file():
            what = "is a directory, not a file" if path.is_dir() else "is missing"
            raise RawDataError(f"raw file {path} of dataset {self.name} {what} (paths in `datasets:` are "
                               "relative to the raw data directory: --raw-dir or HARNESS_RAW_DIR)")
        return path

    def paths(self, raw_dir=None, cache_dir=None) -> dict[str, Path]:
        return {rel: self._path(rel, raw_dir, cache_dir) for rel in self.INFO.files}

    def checksums(self, raw_dir=None, cache_dir=None) -> dict[str, str]:
        """file (as declared) -> sha256 of its content."""
        out = {}
        for rel, path in self.paths(raw_dir, cache_dir).items():
            try:
                out[rel] = manifest.file_digests(path)["sha256"]
            except OSError as exc:
                raise RawDataError(f"raw file {path} of dataset {self.name} cannot be read "
                                   f"({exc.strerror or exc})") from None
        return out

    def fingerprints(self, raw_dir=None, cache_dir=None) -> dict[str, str]:
        return {self.name: manifest.fingerprint(self.name, sorted(self.checksums(raw_dir, cache_dir).items()))}

    def options(self, book_label_alignment: str = "correct") -> dict:
        return {"config": self.config.model_dump(mode="json")}

    # -- building --------------------------------------------------------------------------
    def _read(self, raw_dir, cache_dir):
        paths = self.paths(raw_dir, cache_dir)
        ratings = read_ratings(paths[self.config.ratings.path], self.config.ratings)
        titles = None
        if self.config.items:
            titles = read_titles(paths[self.config.items.path], self.config.items, self.config.ratings.format)
        return ratings, titles

    def _title(self, titles, item: str) -> str:
        if titles is None:
            return item
        if item not in titles:
            raise RawDataError(f"{self.config.items.path}: no title for item {item!r} of the ratings file "
                               f"{self.config.ratings.path} (dataset {self.name})")
        return titles[item]

    def build(self, raw_dir=None, cache_dir=None, options=None) -> dict[str, pd.DataFrame]:
        ratings, titles = self._read(raw_dir, cache_dir)
        config, noun = self.config, self.config.item_noun
        windows = user_windows(ratings, config.like_threshold, config.history)
        out = {}
        for split, part in split_windows(windows, config, self.name).items():
            named = [([self._title(titles, i) for i in r[1]], self._title(titles, r[3])) for r in part]
            inputs = [render_input(h, r[2], t, noun) for (h, t), r in zip(named, part)]
            out[split] = records_frame(part, instruction(noun), inputs, ["Yes." if r[4] else "No." for r in part],
                                       titles=named, timestamps=[(r[5], r[6]) for r in part])
        return out

    def items(self, raw_dir=None, cache_dir=None) -> pd.DataFrame:
        """Every rated item with its title (title and text alike), sorted by id."""
        ratings, titles = self._read(raw_dir, cache_dir)
        ids = sorted({r[1] for r in ratings}, key=lambda i: (not i.isdigit(), int(i) if i.isdigit() else 0, i))
        names = [self._title(titles, i) for i in ids]
        return pd.DataFrame({"item_id": ids, "title": names, "text": names})


# TALLRec's Movie windows on ML-100K, with the users split: ~94 test users instead of 16.
MOVIE_USERS = ExplicitDataset(
    "movie-users",
    DatasetConfig(ratings=RatingsFile(path="ml-100k/u.data", format="movielens-100k"),
                  items=ItemsFile(path="ml-100k/u.item"), like_threshold=3, history=10,
                  samples=10_000, split="users", seed=42, item_noun="movie", label="Movie (user split)"),
    source="MovieLens-100K (GroupLens), TALLRec windows, split by user")
