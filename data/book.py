"""Book-Crossing -> the TALLRec Book splits (TALLRec's ``preprocess_book.py``, made explicit).

1. ``BX-Books.csv`` read as pandas' C engine reads it with bad lines skipped (TALLRec's
   ``error_bad_lines=False``): 271,360 rows; minus the three rows whose fields come out shifted
   left by an escaped quote (ISBNs 078946697X, 0789466953, 2070426769): 271,357 books.
2. ``BX-Book-Ratings.csv`` (all 1,149,780 rows, implicit 0 ratings kept) inner-joined with the
   books on ISBN. Row order of the join is made explicit: rows grouped by ISBN, the groups in
   the order each ISBN first appears in the ratings file, ratings-file order inside a group
   (what pandas < 2.2's inner merge produced; TALLRec's published files depend on it).
3. Per user (users in order of first appearance in the joined rows), the user's books in
   joined-row order; users with more than 3 books are kept: 24,268 users.
4. User split: ``random.Random(split_seed).shuffle`` of that user list, then 8:1:1 in order
   (train 19,414 / valid 2,427 / test 2,427). ``SPLIT_SEED`` = 42. TALLRec itself called an
   unseeded ``random.shuffle``; with seed 42 the valid/test positive rates are 41.66% / 43.43%
   (published: 41.7% / 43.4%).
5. Per user, the permutation ``random.seed(42); random.shuffle(list)`` of the user's books
   (it depends only on the number of books); label = rating > 5; history = the first
   min(n-1, 10) books of the permuted list, target = the last one.
6. Rendering: a book is ``"Title" written by Author``; liked history books go to "User
   Preference", the others to "User Unpreference", joined by ", " (an empty list leaves
   ``User Preference: `` with its trailing space); the target is quoted once more:
   ``the target book ""Title" written by Author"?``. Titles and authors are as published
   (HTML entities, double-encoded UTF-8). The two authors the file spells ``None`` and ``n/a``
   (pandas reads them as NaN) are rendered as those strings.

Label alignment (``label_alignment``):
- ``correct`` (default): one permutation for books and labels together: every label is the
  user's real like/dislike of the book shown.
- ``tallrec``: the published files' defect: titles and authors permuted three times by the
  permutation, labels once, so a label often belongs to another of the user's books. In this
  mode ``history_item_ids`` / ``target_item_id`` are the books *shown* (permuted three times)
  and the labels are the published ones (permuted once), so every method sees the same
  (mislabelled) data. The labels themselves are identical in both modes; only which book they
  are attached to differs.
"""
from __future__ import annotations

import random

import numpy as np
import pandas as pd

from data.manifest import file_digests
from data.sources import raw_file, raw_fingerprint
from data.splits import records_frame, split_8_1_1
from harness.core.datasets import DatasetInfo
from harness.core.errors import HarnessError

INFO = DatasetInfo(label="Book", source="Book-Crossing (Ziegler et al.), TALLRec split",
                   files=("bookcrossing/BX-Book-Ratings.csv", "bookcrossing/BX-Books.csv"))

INSTRUCTION = ("Given the user's preference and unpreference, identify whether the user will like "
               "the target book by answering \"Yes.\" or \"No.\".")
SHIFTED_ISBNS = ("078946697X", "0789466953", "2070426769")
SPLIT_SEED = 42
ITEM_SEED = 42
MIN_ITEMS = 4          # users with more than 3 joined ratings
HISTORY_LEN = 10
LIKE_THRESHOLD = 5     # rating > 5 is a like
ALIGNMENTS = ("correct", "tallrec")
TALLREC_ITEM_PERMUTATIONS = 3


def read_books(raw_dir=None, *, cache_dir=None) -> pd.DataFrame:
    """BX-Books.csv as TALLRec read it (C engine, bad lines skipped), minus the 3 shifted rows.

    Columns ISBN, title, author (the raw strings: no NA conversion, so the authors ``None`` and
    ``n/a`` stay strings). 271,357 rows.
    """
    path = raw_file("bookcrossing", "BX-Books.csv", raw_dir, cache_dir=cache_dir)
    books = pd.read_csv(path, sep=";", encoding="latin-1", engine="c", on_bad_lines="skip",
                        keep_default_na=False, na_values=[], low_memory=False)
    if len(books) != 271_360:
        raise HarnessError(f"{path}: pandas {pd.__version__} read {len(books):,} rows with bad lines "
                           "skipped; the TALLRec procedure needs the 271,360 that pandas' C engine reads")
    books = books[~books["ISBN"].isin(SHIFTED_ISBNS)]
    return pd.DataFrame({"ISBN": books["ISBN"].to_numpy(dtype=object),
                         "title": books["Book-Title"].to_numpy(dtype=object),
                         "author": books["Book-Author"].to_numpy(dtype=object)})


def read_ratings(raw_dir=None, *, cache_dir=None) -> pd.DataFrame:
    path = raw_file("bookcrossing", "BX-Book-Ratings.csv", raw_dir, cache_dir=cache_dir)
    ratings = pd.read_csv(path, sep=";", encoding="latin-1", engine="c")
    return ratings.astype({"User-ID": "int64", "ISBN": str, "Book-Rating": "int64"})


_JOINED: dict[tuple, pd.DataFrame] = {}   # the last one read (a build reads it several times)


def joined_interactions(raw_dir=None, *, cache_dir=None) -> pd.DataFrame:
    """Ratings inner-joined with books in TALLRec's (pandas < 2.2) row order.

    Columns user (int), ISBN, rating, title, author; 1,031,132 rows. Remembered in process for
    the same raw file contents (sha256); treat the frame as read-only.
    """
    paths = [raw_file("bookcrossing", name, raw_dir, cache_dir=cache_dir)
             for name in ("BX-Books.csv", "BX-Book-Ratings.csv")]
    key = tuple((str(p), file_digests(p)["sha256"]) for p in paths)   # memoised by full stat
    if key not in _JOINED:
        frame = _read_joined(raw_dir, cache_dir)
        _JOINED.clear()
        _JOINED[key] = frame
    return _JOINED[key]


def _read_joined(raw_dir, cache_dir) -> pd.DataFrame:
    books = read_books(raw_dir, cache_dir=cache_dir)
    ratings = read_ratings(raw_dir, cache_dir=cache_dir)
    isbn = ratings["ISBN"].to_numpy(dtype=object)
    book_pos = pd.Index(books["ISBN"].to_numpy(dtype=object)).get_indexer(isbn)   # -1: no such book
    joined = np.flatnonzero(book_pos >= 0)                                       # the inner join
    # group by ISBN, groups in order of the ISBN's first appearance in the ratings file,
    # file order inside each group: a stable sort on first-appearance codes.
    codes, _ = pd.factorize(isbn[joined], sort=False)
    rows = joined[np.argsort(codes, kind="stable")]
    return pd.DataFrame({
        "user": ratings["User-ID"].to_numpy()[rows],
        "ISBN": isbn[rows],
        "rating": ratings["Book-Rating"].to_numpy()[rows],
        "title": books["title"].to_numpy(dtype=object)[book_pos[rows]],
        "author": books["author"].to_numpy(dtype=object)[book_pos[rows]],
    })


_PERMUTATIONS: dict[int, np.ndarray] = {}


def item_permutation(n: int) -> np.ndarray:
    """Position j of the shuffled list holds original element p[j] (``random.seed(42); shuffle``)."""
    if n not in _PERMUTATIONS:
        p = list(range(n))
        random.Random(ITEM_SEED).shuffle(p)
        _PERMUTATIONS[n] = np.asarray(p)
    return _PERMUTATIONS[n]


def render_item(title: str, author: str) -> str:
    return f'"{title}" written by {author}'


def render_input(history: list[str], history_labels: list[int], target: str) -> str:
    liked = ", ".join(h for h, y in zip(history, history_labels) if y == 1)
    disliked = ", ".join(h for h, y in zip(history, history_labels) if y != 1)
    return (f"User Preference: {liked}\nUser Unpreference: {disliked}\n"
            f"Whether the user will like the target book \"{target}\"?")


def eligible_users(joined: pd.DataFrame) -> tuple[np.ndarray, list[np.ndarray]]:
    """Users with more than 3 joined rows (first-appearance order) and each one's row positions."""
    codes, users = pd.factorize(joined["user"].to_numpy(), sort=False)
    counts = np.bincount(codes)
    order = np.argsort(codes, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)])
    keep = np.flatnonzero(counts >= MIN_ITEMS)
    return users[keep], [order[starts[k]:starts[k + 1]] for k in keep]


def build_book(raw_dir=None, label_alignment: str = "correct", split_seed: int = SPLIT_SEED, *,
               cache_dir=None) -> dict[str, pd.DataFrame]:
    """{split: frame} with user_id, history_item_ids (ISBNs), history_labels, target_item_id,
    label, instruction, input, output."""
    if label_alignment not in ALIGNMENTS:
        raise HarnessError(f"unknown book label alignment {label_alignment!r}; known: {', '.join(ALIGNMENTS)}")
    joined = joined_interactions(raw_dir, cache_dir=cache_dir)
    isbn = joined["ISBN"].to_numpy()
    titles, authors = joined["title"].to_numpy(), joined["author"].to_numpy()
    like = (joined["rating"].to_numpy() > LIKE_THRESHOLD).astype(np.int64)
    users, positions = eligible_users(joined)

    def text(rows):
        return [render_item(titles[r], authors[r]) for r in rows]

    records = {}
    for user, pos in zip(users.tolist(), positions):
        p = item_permutation(len(pos))
        labelled = pos[p]                 # rows in permuted order: labels (and, if correct, books)
        shown = labelled
        if label_alignment == "tallrec":
            for _ in range(TALLREC_ITEM_PERMUTATIONS - 1):
                shown = shown[p]
        n_hist = min(len(pos) - 1, HISTORY_LEN)
        hist_rows, target_row = shown[:n_hist], shown[-1]
        hist_labels = like[labelled[:n_hist]].tolist()
        label = int(like[labelled[-1]])
        records[user] = (str(user), isbn[hist_rows].tolist(), hist_labels, isbn[target_row], label,
                         render_input(text(hist_rows), hist_labels, text([target_row])[0]),
                         "Yes." if label == 1 else "No.", (titles[hist_rows].tolist(), titles[target_row]))

    user_list = users.tolist()
    random.Random(split_seed).shuffle(user_list)
    out = {}
    for split, users in split_8_1_1(user_list).items():
        part = [records[u] for u in users]
        out[split] = records_frame(part, INSTRUCTION, [r[5] for r in part], [r[6] for r in part],
                                   titles=[r[7] for r in part])     # Book-Crossing has no timestamps
    return out


def label_agreement(raw_dir=None, *, cache_dir=None) -> dict[str, float]:
    """How far the published (``tallrec``) labels are from the true ones, over all eligible users.

    ``target``: fraction of users whose published target label equals their real rating of the
    target book shown; ``history``: the same over all shown history positions.
    """
    joined = joined_interactions(raw_dir, cache_dir=cache_dir)
    like = (joined["rating"].to_numpy() > LIKE_THRESHOLD).astype(np.int64)
    users, positions = eligible_users(joined)
    target_same = hist_same = hist_total = 0
    for pos in positions:
        p = item_permutation(len(pos))
        labelled = pos[p]
        shown = labelled[p][p]
        n_hist = min(len(pos) - 1, HISTORY_LEN)
        target_same += int(like[shown[-1]] == like[labelled[-1]])
        hist_same += int((like[shown[:n_hist]] == like[labelled[:n_hist]]).sum())
        hist_total += n_hist
    return {"users": len(users), "target": target_same / len(users), "history": hist_same / hist_total}


# -- the dataset plugin interface (harness.core.datasets) ---------------------------------------


def fingerprints(raw_dir=None, cache_dir=None) -> dict[str, str]:
    return {"bookcrossing": raw_fingerprint("bookcrossing", raw_dir, cache_dir=cache_dir)}


def options(book_label_alignment: str = "correct") -> dict:
    if book_label_alignment not in ALIGNMENTS:
        raise HarnessError(f"unknown book label alignment {book_label_alignment!r}; "
                           f"valid: {', '.join(ALIGNMENTS)}")
    return {"label_alignment": book_label_alignment, "split_seed": SPLIT_SEED}


def build(raw_dir=None, cache_dir=None, options=None) -> dict[str, pd.DataFrame]:
    options = options or {}
    return build_book(raw_dir, label_alignment=options.get("label_alignment", "correct"),
                      split_seed=options.get("split_seed", SPLIT_SEED), cache_dir=cache_dir)


def items(raw_dir=None, cache_dir=None) -> pd.DataFrame:
    """Every book rated by an eligible user (any split, any label alignment), sorted by ISBN;
    title as published, text ``Title, by Author``."""
    joined = joined_interactions(raw_dir, cache_dir=cache_dir)
    _, positions = eligible_users(joined)
    rows = np.sort(np.concatenate(positions))
    books = joined.iloc[rows].drop_duplicates("ISBN").sort_values("ISBN", kind="stable")
    return pd.DataFrame({"item_id": books["ISBN"].to_numpy(), "title": books["title"].to_numpy(),
                         "text": [f"{t}, by {a}" for t, a in zip(books["title"], books["author"])]})
