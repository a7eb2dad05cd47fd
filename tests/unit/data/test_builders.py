"""The Movie and Book builders on the real raw files."""
import json

import numpy as np
import pandas as pd
import pytest

from data.book import build_book, eligible_users, joined_interactions, label_agreement, read_books
from data.movie import build_movie
from data.samples import load_split

# The first valid and last test record of TALLRec's published data/movie/*.json.
MOVIE_VALID_0 = (
    'User Preference: "Silence of the Lambs, The (1991)", "Indiana Jones and the Last Crusade (1989)", '
    '"Taxi Driver (1976)", "My Favorite Year (1982)", "Titanic (1997)"\nUser Unpreference: "Absolute Power '
    '(1997)", "Escape from L.A. (1996)", "Batman & Robin (1997)", "English Patient, The (1996)", "Tomorrow '
    'Never Dies (1997)"\nWhether the user will like the target movie "Scream (1996)"?')
MOVIE_TEST_LAST = (
    'User Preference: "Lone Star (1996)", "Hercules (1997)", "Trainspotting (1996)", "Jackie Chan\'s First '
    'Strike (1996)", "Long Kiss Goodnight, The (1996)", "Waiting for Guffman (1996)", "Mr. Holland\'s Opus '
    '(1995)"\nUser Unpreference: "Happy Gilmore (1996)", "Star Trek: First Contact (1996)", "Heat (1995)"\n'
    'Whether the user will like the target movie "Toy Story (1995)"?')
# The first valid record of TALLRec's published data/book/valid.json.
BOOK_VALID_0 = (
    'User Preference: \nUser Unpreference: "Booked to Die (Cliff Janeway Novels (Paperback))" written by John '
    'Dunning, "SEAL FORCE ALPHA" written by Richard Marcinko, "Unlimited Access: An FBI Agent Inside the '
    'Clinton White House" written by Gary Warren Aldrich, "Running Blind (Jack Reacher Novels (Paperback))" '
    'written by Lee Child\nWhether the user will like the target book ""The Colonel" written by Patrick A. '
    'Davis"?')


def _kw(raw_dir, cache_dir, alignment="correct"):
    return {"raw_dir": raw_dir, "cache_dir": cache_dir, "book_label_alignment": alignment}


def _tallrec_json_length(frame: pd.DataFrame) -> int:
    records = [{"instruction": i, "input": x, "output": o}
               for i, x, o in zip(frame["instruction"], frame["input"], frame["output"])]
    return len(json.dumps(records, indent=4))


def test_movie_splits(raw_dir, cache_dir):
    splits = {s: load_split("movie", s, **_kw(raw_dir, cache_dir)) for s in ("train", "valid", "test")}
    assert [len(f) for f in splits.values()] == [8000, 1000, 1000]
    assert splits["valid"]["input"].iloc[0] == MOVIE_VALID_0 and splits["valid"]["output"].iloc[0] == "No."
    assert splits["test"]["input"].iloc[-1] == MOVIE_TEST_LAST and splits["test"]["output"].iloc[-1] == "Yes."
    assert splits["valid"]["user_id"].iloc[0] == "910" and splits["valid"]["target_item_id"].iloc[0] == "288"
    assert [round(f["label"].mean(), 6) for f in splits.values()] == [0.557125, 0.658, 0.528]
    # the published files are 628,187 and 612,555 characters: same records, same JSON layout
    assert _tallrec_json_length(splits["valid"]) == 628_187
    assert _tallrec_json_length(splits["test"]) == 612_555
    for frame in splits.values():
        assert frame["history_item_ids"].map(len).eq(10).all()
        assert frame["history_labels"].map(len).eq(10).all()
        assert (frame["output"] == frame["label"].map({1: "Yes.", 0: "No."})).all()
        assert frame["target_item_id"].str.fullmatch(r"\d+").all()


def test_movie_build_is_deterministic(raw_dir, cache_dir):
    first, second = build_movie(raw_dir, cache_dir=cache_dir), build_movie(raw_dir, cache_dir=cache_dir)
    for split in first:
        pd.testing.assert_frame_equal(first[split], second[split])


def test_book_reading_counts(raw_dir, cache_dir):
    books = read_books(raw_dir, cache_dir=cache_dir)
    assert len(books) == 271_357                      # 271,360 read with bad lines skipped, minus 3
    assert not books["ISBN"].isin(["078946697X", "0789466953", "2070426769"]).any()
    assert set(books.loc[books["author"].isin(["None", "n/a"]), "author"]) == {"None", "n/a"}
    joined = joined_interactions(raw_dir, cache_dir=cache_dir)
    assert len(joined) == 1_031_132
    # rows grouped by ISBN, groups in the order of each ISBN's first rating
    first_seen = pd.unique(joined["ISBN"])
    assert (pd.Series(joined["ISBN"]).ne(pd.Series(joined["ISBN"]).shift()).sum()) == len(first_seen)
    users, _ = eligible_users(joined)
    assert len(users) == 24_268


@pytest.mark.parametrize("alignment", ["correct", "tallrec"])
def test_book_sizes_and_rates(raw_dir, cache_dir, alignment):
    splits = {s: load_split("book", s, **_kw(raw_dir, cache_dir, alignment)) for s in ("train", "valid", "test")}
    assert [len(f) for f in splits.values()] == [19_414, 2_427, 2_427]
    assert abs(splits["valid"]["label"].mean() - 0.417) <= 0.01
    assert abs(splits["test"]["label"].mean() - 0.434) <= 0.01
    users = [set(f["user_id"]) for f in splits.values()]
    assert sum(map(len, users)) == 24_268 and len(set.union(*users)) == 24_268     # disjoint users
    for frame in splits.values():
        n_hist = frame["history_item_ids"].map(len)
        assert n_hist.between(3, 10).all() and (n_hist == frame["history_labels"].map(len)).all()
        assert (frame["output"] == frame["label"].map({1: "Yes.", 0: "No."})).all()
        assert frame["instruction"].str.contains("the target book").all()


def test_book_tallrec_alignment_reproduces_published_records(raw_dir, cache_dir):
    valid = load_split("book", "valid", **_kw(raw_dir, cache_dir, "tallrec"))
    assert valid["input"].iloc[0] == BOOK_VALID_0 and valid["output"].iloc[0] == "No."
    assert valid["input"].iloc[1].endswith('the target book ""Friday" written by Robert Heinlein"?')


def test_book_alignments_share_labels_not_books(raw_dir, cache_dir):
    correct = load_split("book", "test", **_kw(raw_dir, cache_dir, "correct"))
    tallrec = load_split("book", "test", **_kw(raw_dir, cache_dir, "tallrec"))
    assert (correct["user_id"] == tallrec["user_id"]).all()
    assert (correct["label"] == tallrec["label"]).all()
    assert (correct["history_labels"] == tallrec["history_labels"]).all()
    moved = (correct["target_item_id"] != tallrec["target_item_id"]).mean()
    assert 0.5 < moved < 0.9


def test_correct_alignment_labels_are_the_real_ratings(raw_dir, cache_dir):
    frame = load_split("book", "valid", **_kw(raw_dir, cache_dir, "correct"))
    joined = joined_interactions(raw_dir, cache_dir=cache_dir)
    joined = joined[joined["user"].astype(str).isin(set(frame["user_id"]))]
    rating = {(str(u), i): r for u, i, r in zip(joined["user"], joined["ISBN"], joined["rating"])}
    for row in frame.itertuples():
        assert row.label == int(rating[(row.user_id, row.target_item_id)] > 5)
        assert row.history_labels == [int(rating[(row.user_id, i)] > 5) for i in row.history_item_ids]


def test_published_label_agreement(raw_dir, cache_dir):
    agreement = label_agreement(raw_dir, cache_dir=cache_dir)
    assert agreement["users"] == 24_268
    assert agreement["target"] == pytest.approx(0.6553, abs=5e-4)
    assert agreement["history"] == pytest.approx(0.6747, abs=5e-4)


def test_book_build_is_deterministic(raw_dir, cache_dir):
    built = build_book(raw_dir, "correct", cache_dir=cache_dir)
    cached = load_split("book", "valid", **_kw(raw_dir, cache_dir, "correct"))
    assert built["valid"]["input"].tolist() == cached["input"].tolist()
    assert built["valid"]["history_item_ids"].tolist() == cached["history_item_ids"].tolist()
    assert np.array_equal(built["train"]["label"].to_numpy(), load_split(
        "book", "train", **_kw(raw_dir, cache_dir, "correct"))["label"].to_numpy())
    other = build_book(raw_dir, "correct", split_seed=7, cache_dir=cache_dir)
    assert other["valid"]["user_id"].tolist() != built["valid"]["user_id"].tolist()
