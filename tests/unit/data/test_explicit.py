"""The generic explicit-feedback builder: TALLRec's Movie on ML-100K, the ML-1M and CSV formats
(fixtures made from ML-100K here, in tmp_path), the users split, bad files, user ids."""
import csv

import pandas as pd
import pytest

from data.explicit import MOVIE_USERS, ExplicitDataError, ExplicitDataset, per_user_cap
from data.movie import build_movie
from data.samples import DataError, load_items, load_split, raw_provenance, user_ids
from data.sources import RawDataError
from harness.core.datasets import DatasetConfig

MOVIE = {"ratings": {"path": "ml-100k/u.data", "format": "movielens-100k"},
         "items": {"path": "ml-100k/u.item"}, "like_threshold": 3, "history": 10, "split": "tallrec",
         "item_noun": "movie"}
SPLITS = ("train", "valid", "test")


def _dataset(config: dict, name: str = "mine") -> ExplicitDataset:
    return ExplicitDataset(name, DatasetConfig.model_validate(config))


@pytest.fixture(scope="module")
def movie_frames(raw_dir):
    return build_movie(raw_dir)


@pytest.fixture(scope="module")
def formats_dir(raw_dir, tmp_path_factory):
    """ML-100K rewritten as ML-1M (`::`) files and as header CSVs (an Amazon-export shape)."""
    root = tmp_path_factory.mktemp("formats")
    ratings = [line.split("\t") for line in (raw_dir / "ml-100k/u.data").read_text().splitlines()]
    items = [line.split("|")[:2] for line in (raw_dir / "ml-100k/u.item").read_text(encoding="latin-1").splitlines()]
    (root / "ml-1m").mkdir()
    (root / "ml-1m/ratings.dat").write_text("".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in ratings))
    (root / "ml-1m/movies.dat").write_text("".join(f"{i}::{title}::Drama\n" for i, title in items),
                                           encoding="latin-1")
    (root / "amazon").mkdir()
    with open(root / "amazon/reviews.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["reviewerID", "asin", "overall", "unixReviewTime", "summary"])
        writer.writerows([u, i, f"{float(r):.1f}", t, "fine, thanks"] for u, i, r, t in ratings)
    with open(root / "amazon/meta.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["asin", "title"])
        writer.writerows(items)
    return root


def test_movie_settings_on_ml100k_reproduce_the_movie_builder(raw_dir, movie_frames):
    built = _dataset(MOVIE).build(raw_dir)
    for split in SPLITS:
        assert built[split].equals(movie_frames[split]), split
    assert sum(len(f) for f in built.values()) == 10_000


def test_the_ml1m_format_reads_the_same_ratings(formats_dir, movie_frames):
    config = {**MOVIE, "ratings": {"path": "ml-1m/ratings.dat", "format": "movielens-1m"},
              "items": {"path": "ml-1m/movies.dat"}}
    built = _dataset(config).build(formats_dir)
    for split in SPLITS:
        assert built[split].equals(movie_frames[split]), split


def test_a_header_csv_with_named_columns_reads_the_same_ratings(formats_dir, movie_frames):
    config = {**MOVIE, "ratings": {"path": "amazon/reviews.csv", "format": "csv", "user": "reviewerID",
                                   "item": "asin", "rating": "overall", "timestamp": "unixReviewTime"},
              "items": {"path": "amazon/meta.csv", "format": "csv", "item": "asin", "title": "title",
                        "encoding": "utf-8"}}
    built = _dataset(config).build(formats_dir)
    for split in SPLITS:
        assert built[split].equals(movie_frames[split]), split


def test_the_users_split_keeps_the_windows_and_the_count_and_splits_whole_users(raw_dir):
    frames = MOVIE_USERS.build(raw_dir)
    assert sum(len(f) for f in frames.values()) == 10_000
    users = {s: set(f["user_id"]) for s, f in frames.items()}
    assert not users["train"] & users["valid"] and not users["train"] & users["test"]
    assert not users["valid"] & users["test"]
    assert sum(map(len, users.values())) == 943              # every ML-100K user, in one split
    assert [len(users[s]) for s in SPLITS] == [754, 94, 95]
    for frame in frames.values():
        assert frame["history_item_ids"].map(len).eq(10).all()
    # every user has >= 10 windows: a cap of 10 each (9,430), and 570 users (in user order) one more
    per_user = pd.concat(frames.values()).groupby("user_id").size()
    assert per_user.value_counts().to_dict() == {10: 373, 11: 570}
    assert MOVIE_USERS.build(raw_dir)["test"].equals(frames["test"])      # seeded
    reseeded = _dataset({**MOVIE, "split": "users", "seed": 7}).build(raw_dir)
    assert set(reseeded["test"]["user_id"]) != users["test"]


def test_the_users_split_takes_each_users_most_recent_windows(raw_dir, movie_frames):
    frames = _dataset({**MOVIE, "split": "users"}).build(raw_dir)
    # user 934's last TALLRec window is the last test record of the Movie split; it must be kept
    last = movie_frames["test"].iloc[-1]
    pooled = [f for f in frames.values() if (f["user_id"] == last["user_id"]).any()][0]
    mine = pooled[pooled["user_id"] == last["user_id"]].iloc[-1]
    assert mine["input"] == last["input"] and mine["target_item_id"] == last["target_item_id"]


def test_per_user_cap():
    assert per_user_cap([5, 20, 20], 21) == (8, 0)     # 5 + 8 + 8
    assert per_user_cap([5, 20, 20], 22) == (8, 1)     # one user gets a ninth
    assert per_user_cap([3, 3], 10) == (3, 4)          # fewer windows than asked: all, extra unused


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.mark.parametrize("text,fmt,message", [
    ("1::2::5::100\n1::3::x::101\n", "movielens-1m", r"ratings\.dat: line 2, column rating: 'x' is not a number"),
    ("1::2::5::100\n1::3::4\n", "movielens-1m", r"ratings\.dat: line 2, column timestamp: expected 4 fields"),
    ("1\t2\t5\t100\n\n1\t3\t4\tsoon\n", "movielens-100k", r"line 3, column timestamp: 'soon' is not a number"),
    ("user,item,stars,timestamp\n1,2,5,100\n", "csv", r"ratings\.dat: line 1, column rating: no such column"),
    ("user,item,rating,timestamp\n1,2,5,100\n1,3,4\n", "csv", r"line 3, column timestamp: expected 4 fields"),
    ("user,item,rating,timestamp\n,2,5,100\n", "csv", r"line 2, column user: is empty"),
])
def test_a_bad_ratings_file_is_one_line_naming_file_line_and_column(tmp_path, text, fmt, message):
    _write(tmp_path / "mine/ratings.dat", text)
    with pytest.raises(RawDataError, match=message) as err:
        _dataset({"ratings": {"path": "mine/ratings.dat", "format": fmt}}).build(tmp_path)
    assert len(str(err.value).splitlines()) == 1 and str(tmp_path / "mine/ratings.dat") in str(err.value)


def test_a_missing_file_and_a_missing_title_are_named(tmp_path):
    with pytest.raises(RawDataError, match=r"raw file .*nowhere\.dat of dataset mine is missing"):
        _dataset({"ratings": {"path": "nowhere.dat"}}).build(tmp_path)
    _write(tmp_path / "r.dat", "".join(f"{u}\t{i}\t5\t{i}\n" for u in range(12) for i in range(12)))
    _write(tmp_path / "i.dat", "0|Zero\n")
    with pytest.raises(RawDataError, match=r"i\.dat: no title for item '1'"):
        _dataset({"ratings": {"path": "r.dat"}, "items": {"path": "i.dat"}}).build(tmp_path)


def test_too_few_users_for_the_users_split_says_so(tmp_path):
    _write(tmp_path / "r.dat", "".join(f"{u}\t{i}\t{1 + i % 5}\t{i}\n" for u in range(5) for i in range(30)))
    with pytest.raises(ExplicitDataError, match="only 5 users have more than 10 ratings.*at least 10"):
        _dataset({"ratings": {"path": "r.dat"}, "split": "users"}).build(tmp_path)
    with pytest.raises(ExplicitDataError, match="0 windows"):
        _dataset({"ratings": {"path": "r.dat"}, "history": 40}).build(tmp_path)


def test_labels_of_one_class_say_so_and_nothing_is_cached(raw_dir, tmp_path):
    declared = {"never": DatasetConfig.model_validate({**MOVIE, "like_threshold": 5})}   # no rating > 5
    with pytest.raises(DataError, match=r"the never train table has 0\.0% positives.*labels of one class"):
        load_split("never", "test", raw_dir=raw_dir, cache_dir=tmp_path, datasets=declared)
    assert not list(tmp_path.glob("*.parquet"))


def test_a_declared_dataset_loads_through_the_cache_with_user_ids_and_checksums(raw_dir, tmp_path):
    declared = {"ml100k": DatasetConfig.model_validate({**MOVIE, "split": "users"})}
    kwargs = {"raw_dir": raw_dir, "cache_dir": tmp_path, "datasets": declared}
    test = load_split("ml100k", "test", **kwargs)
    assert test["sample_id"].iloc[0] == "ml100k:test:00000" and len(list(tmp_path.glob("ml100k-*.parquet"))) == 3
    ids = user_ids("ml100k", "test", **kwargs)
    assert len(ids) == len(test) and len(set(ids.values())) == 95
    assert ids[test["sample_id"].iloc[-1]] == test["user_id"].iloc[-1]
    provenance = raw_provenance(["ml100k", "movie"], raw_dir, tmp_path, datasets=declared)
    assert set(provenance["data_fingerprint"]) == {"ml100k", "ml-100k"}
    assert set(provenance["data_files"]["ml100k"]) == {"ml-100k/u.data", "ml-100k/u.item"}
    assert all(len(sha) == 64 for sha in provenance["data_files"]["ml100k"].values())
    items = load_items("ml100k", **kwargs)
    assert len(items) == 1682 and items["title"].iloc[0] == "Toy Story (1995)"
    # without its config (baselines/_text.py has no spec): the dataset this process just loaded
    assert load_items("ml100k", raw_dir=raw_dir, cache_dir=tmp_path).equals(items)
    other = {"ml100k": DatasetConfig.model_validate({**MOVIE, "split": "users", "seed": 1})}
    load_split("ml100k", "test", raw_dir=raw_dir, cache_dir=tmp_path, datasets=other)
    tables = [p for p in tmp_path.glob("ml100k-*.parquet") if "-items-" not in p.name]
    assert len(tables) == 6        # another config: other tables


def test_a_grid_declared_dataset_runs_a_trial_and_stores_its_checksums(formats_dir, tmp_path):
    from harness.core.context import TrialContext
    from harness.core.trial import run_trial
    from harness.grid import expand, parse_grid

    declared = {"ratings": {"path": "ml-1m/ratings.dat", "format": "movielens-1m"},
                "items": {"path": "ml-1m/movies.dat", "title": "title"}, "split": "users", "item_noun": "movie"}
    grid = parse_grid({"datasets": {"ml1m": declared}, "eval": {"domains": ["ml1m"], "max_samples": 200},
                       "grid": {"method": ["history-like-rate", "item-popularity"], "k": [16], "train_mix": ["ml1m"]}})
    for spec in expand(grid):
        result = run_trial(spec, TrialContext(raw_dir=str(formats_dir), cache_dir=tmp_path))
        assert result.status == "complete", result.error
        assert [m.eval_domain for m in result.metrics] == ["ml1m"] and 0 < result.metrics[0].auc < 1
        assert set(result.extra["data_files"]["ml1m"]) == {"ml-1m/ratings.dat", "ml-1m/movies.dat"}


def test_the_canonical_table_carries_titles_and_timestamps(raw_dir, cache_dir):
    movie = load_split("movie", "valid", raw_dir=raw_dir, cache_dir=cache_dir)
    row = movie.iloc[0]
    assert row["target_title"] == "Scream (1996)" and f'"{row["target_title"]}"?' in row["input"]
    assert all(f'"{t}"' in row["input"] for t in row["history_titles"]) and len(row["history_titles"]) == 10
    stamps = row["history_timestamps"] + [row["target_timestamp"]]
    assert stamps == sorted(stamps) and movie["target_timestamp"].dtype == "Int64"
    book = load_split("book", "valid", raw_dir=raw_dir, cache_dir=cache_dir)
    assert book["target_timestamp"].isna().all() and book["history_timestamps"].map(len).eq(0).all()
    assert book["history_titles"].map(len).equals(book["history_item_ids"].map(len))
    assert all(f'"{t}" written by' in x for t, x in zip(book["target_title"].head(50), book["input"].head(50)))
