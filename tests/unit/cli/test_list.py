"""`harness list datasets|methods` and `harness data prepare --grid` with a declared dataset, as a user runs them."""
import io

import pandas as pd
import yaml

from data.samples import load_split
from tests.unit.cli.test_data import harness


def _csv(out) -> pd.DataFrame:
    assert out.returncode == 0, out.stderr
    return pd.read_csv(io.StringIO(out.stdout), dtype=str)


def test_list_methods():
    frame = _csv(harness("list", "methods", "--format", "csv")).set_index("method")
    assert frame.loc["tallrec", "source"] == "models.tallrec" and frame.loc["tallrec", "llm"] == "yes"
    assert "AT" in frame.loc["tallrec", "variants"] and frame.loc["history-like-rate", "zero-shot"] == "yes"


def test_list_datasets_gives_source_size_and_split_counts(raw_dir, cache_dir):
    load_split("movie", "test", raw_dir=raw_dir, cache_dir=cache_dir)      # warm the session cache
    out = harness("list", "datasets", "--format", "csv", "--raw-dir", str(raw_dir), "--cache-dir", str(cache_dir))
    frame = _csv(out).set_index("dataset")
    assert list(frame.index[:3]) == ["movie", "book", "movie-users"]
    assert frame.loc["movie", "test samples / users"] == "1,000 / 16"
    assert frame.loc["movie-users", "test samples / users"] == "1,006 / 95"
    assert frame.loc["book", "train samples / users"] == "19,414 / 19,414"
    assert frame.loc["movie", "size"].endswith("MB") and "MovieLens-100K" in frame.loc["movie", "source"]


def _grid(tmp_path, ratings: str) -> str:
    (tmp_path / "raw" / "mine").mkdir(parents=True, exist_ok=True)
    (tmp_path / "raw" / "mine" / "ratings.dat").write_text(ratings)
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump({"datasets": {"mine": {"ratings": {"path": "mine/ratings.dat",
                                                                      "format": "movielens-1m"},
                                                          "split": "users", "samples": 600}},
                                    "grid": {"method": ["history-like-rate"]}, "eval": {"domains": ["mine"]}}))
    return str(path)


def test_prepare_a_declared_dataset_prints_users_per_split(tmp_path):
    ratings = "".join(f"{u}::{i}::{1 + (u + i) % 5}::{1000 + i}\n" for u in range(40) for i in range(30))
    out = harness("data", "prepare", "--grid", _grid(tmp_path, ratings), "--raw-dir", str(tmp_path / "raw"),
                  "--cache-dir", str(tmp_path / "cache"))
    assert out.returncode == 0, out.stderr
    for text in ("mine", "users", "positive_rate", "480", "32", "60"):   # 40 users x 15 windows: 32 / 4 / 4 users
        assert text in out.stdout


def test_prepare_a_malformed_declared_file_is_one_line_exit_2_and_builds_nothing(tmp_path):
    ratings = "1::2::5::100\n1::3::five::101\n"
    out = harness("data", "prepare", "--grid", _grid(tmp_path, ratings), "--raw-dir", str(tmp_path / "raw"),
                  "--cache-dir", str(tmp_path / "cache"))
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2 and len(lines) == 1, out.stderr
    assert "mine/ratings.dat: line 2, column rating: 'five' is not a number" in lines[0]
    assert not list((tmp_path / "cache").glob("*.parquet"))


def test_an_unknown_dataset_lists_the_registered_ones(tmp_path):
    out = harness("data", "prepare", "--dataset", "ml-20m", "--cache-dir", str(tmp_path))
    assert out.returncode == 2
    assert "unknown dataset 'ml-20m'; registered: movie, book, movie-users" in out.stderr


def test_list_datasets_without_raw_files_says_what_is_missing(tmp_path):
    out = harness("list", "datasets", "--format", "csv", "--raw-dir", str(tmp_path / "none"),
                  "--cache-dir", str(tmp_path / "cache"))
    frame = _csv(out).set_index("dataset")
    assert (frame["size"] == "unavailable").all()
    assert frame.loc["movie", "note"].startswith("raw file ml-100k/u.data is missing")
