"""MovieLens-100K -> the TALLRec Movie splits, exactly as TALLRec's ``preprocess_movie.py`` does.

1. Users in order of their first line in ``u.data``; a rating > 3 is a like (label 1).
2. Each user's interactions sorted by timestamp (a stable sort: ties keep file order). TALLRec
   sorts the timestamp strings; every timestamp in u.data has 9 digits, so the integer sort used
   here gives the same order.
3. One sample per position i >= 10 of a user's sequence: history = the previous 10
   interactions (ids and labels), target = interaction i.
4. The last 10,000 samples over all users (in user order), split in order 8:1:1 into
   train / valid / test (8,000 / 1,000 / 1,000).
5. Rendering: titles from ``u.item`` (latin-1) as published, with the year; liked history titles
   go to "User Preference", the others to "User Unpreference", each title in double quotes,
   joined by ", ".
"""
from __future__ import annotations

import pandas as pd

from data.sources import raw_file, raw_fingerprint
from data.splits import records_frame, split_8_1_1
from harness.core.datasets import DatasetInfo

INFO = DatasetInfo(label="Movie", source="MovieLens-100K (GroupLens), TALLRec split",
                   files=("ml-100k/u.data", "ml-100k/u.item"))

INSTRUCTION = ("Given the user's preference and unpreference, identify whether the user will like "
               "the target movie by answering \"Yes.\" or \"No.\".")
HISTORY_LEN = 10
N_SAMPLES = 10_000


def read_titles(raw_dir=None, *, cache_dir=None) -> dict[str, str]:
    """movie id (decimal string) -> title as in u.item (latin-1), e.g. '1' -> 'Toy Story (1995)'."""
    path = raw_file("ml-100k", "u.item", raw_dir, cache_dir=cache_dir)
    titles = {}
    for line in path.read_text(encoding="latin-1").splitlines():
        fields = line.split("|")
        titles[fields[0]] = fields[1]
    return titles


def render_input(history_titles: list[str], history_labels: list[int], target_title: str) -> str:
    liked = ", ".join(f'"{t}"' for t, y in zip(history_titles, history_labels) if y == 1)
    disliked = ", ".join(f'"{t}"' for t, y in zip(history_titles, history_labels) if y != 1)
    return (f"User Preference: {liked}\nUser Unpreference: {disliked}\n"
            f"Whether the user will like the target movie \"{target_title}\"?")


def build_movie(raw_dir=None, *, cache_dir=None) -> dict[str, pd.DataFrame]:
    """{split: frame} with user_id, history_item_ids, history_labels, target_item_id, label,
    instruction, input, output, history_titles, history_timestamps, target_title,
    target_timestamp (item and user ids as decimal strings)."""
    data_path = raw_file("ml-100k", "u.data", raw_dir, cache_dir=cache_dir)
    titles = read_titles(raw_dir, cache_dir=cache_dir)

    per_user: dict[str, list[tuple[int, str, int]]] = {}   # insertion order = first appearance
    with open(data_path, encoding="ascii") as handle:
        for line in handle:
            user, item, rating, timestamp = line.split("\t")
            per_user.setdefault(user, []).append((int(timestamp), item, int(int(rating) > 3)))

    rows = []
    for user, interactions in per_user.items():
        interactions.sort(key=lambda x: x[0])     # stable, like TALLRec's sorted()
        items = [x[1] for x in interactions]
        labels = [x[2] for x in interactions]
        times = [x[0] for x in interactions]
        for i in range(HISTORY_LEN, len(items)):
            rows.append((user, items[i - HISTORY_LEN:i], labels[i - HISTORY_LEN:i], items[i], labels[i],
                         times[i - HISTORY_LEN:i], times[i]))
    rows = rows[-N_SAMPLES:]

    out = {}
    for split, part in split_8_1_1(rows).items():
        named = [([titles[i] for i in r[1]], titles[r[3]]) for r in part]
        inputs = [render_input(h, r[2], t) for (h, t), r in zip(named, part)]
        out[split] = records_frame(part, INSTRUCTION, inputs, ["Yes." if r[4] == 1 else "No." for r in part],
                                   titles=named, timestamps=[(r[5], r[6]) for r in part])
    return out


# -- the dataset plugin interface (harness.core.datasets) ---------------------------------------


def fingerprints(raw_dir=None, cache_dir=None) -> dict[str, str]:
    return {"ml-100k": raw_fingerprint("ml-100k", raw_dir, cache_dir=cache_dir)}


def options(book_label_alignment: str = "correct") -> dict:
    return {}


def build(raw_dir=None, cache_dir=None, options=None) -> dict[str, pd.DataFrame]:
    return build_movie(raw_dir, cache_dir=cache_dir)


def items(raw_dir=None, cache_dir=None) -> pd.DataFrame:
    """All 1,682 u.item movies; title and text are the u.item title with its year."""
    titles = read_titles(raw_dir, cache_dir=cache_dir)
    ids = sorted(titles, key=int)
    return pd.DataFrame({"item_id": ids, "title": [titles[i] for i in ids], "text": [titles[i] for i in ids]})
