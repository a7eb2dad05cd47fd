"""The canonical sample tables: schema, cache, memo, errors, items, the K-shot sampler, Alpaca."""
import json
import os
import time

import pandas as pd
import pytest

from data.alpaca import alpaca_prompt_texts, load_alpaca
from data.samples import COLUMNS, clear_memo, load_items, load_split, prepare_all
from data.sampling import kshot_ids, kshot_samples
from harness.core.errors import HarnessError
from data.prompts import render_prompt


def _kw(raw_dir, cache_dir, alignment="correct"):
    return {"raw_dir": raw_dir, "cache_dir": cache_dir, "book_label_alignment": alignment}


def test_schema(raw_dir, cache_dir):
    for domain in ("movie", "book"):
        frame = load_split(domain, "valid", **_kw(raw_dir, cache_dir))
        assert tuple(frame.columns) == COLUMNS
        assert frame["sample_id"].iloc[0] == f"{domain}:valid:00000"
        assert frame["sample_id"].iloc[-1] == f"{domain}:valid:{len(frame) - 1:05d}"
        assert (frame["domain"] == domain).all() and (frame["split"] == "valid").all()
        row = frame.iloc[0]
        assert isinstance(row["user_id"], str) and isinstance(row["target_item_id"], str)
        assert isinstance(row["history_item_ids"], list) and all(isinstance(i, str) for i in row["history_item_ids"])
        assert isinstance(row["history_labels"], list) and set(row["history_labels"]) <= {0, 1}
        assert frame["label"].dtype == "int64" and set(frame["label"]) == {0, 1}
        assert set(frame["output"]) == {"Yes.", "No."}


def test_warm_load_is_fast_and_equal(raw_dir, cache_dir):
    first = load_split("book", "train", **_kw(raw_dir, cache_dir))
    clear_memo()                                         # force a read from the Parquet cache
    started = time.perf_counter()
    warm = load_split("book", "train", **_kw(raw_dir, cache_dir))
    assert time.perf_counter() - started < 1.0
    pd.testing.assert_frame_equal(first, warm)
    started = time.perf_counter()
    memo = load_split("book", "train", **_kw(raw_dir, cache_dir))
    assert time.perf_counter() - started < 0.2
    memo.loc[0, "label"] = 99                            # callers get a copy
    assert load_split("book", "train", **_kw(raw_dir, cache_dir))["label"].iloc[0] != 99


def test_cache_files_are_keyed_by_options(raw_dir, cache_dir):
    summary = prepare_all(raw_dir, cache_dir, book_label_alignment="tallrec")
    assert list(summary.columns) == ["domain", "split", "samples", "users", "positive_rate", "cache_path"]
    assert summary["samples"].tolist()[:6] == [8000, 1000, 1000, 19_414, 2_427, 2_427]
    assert summary["users"].tolist()[:6] == [80, 14, 16, 19_414, 2_427, 2_427]   # user 934: valid and test
    paths = summary.set_index(["domain", "split"])["cache_path"]
    assert "tallrec" in paths[("book", "valid")] and os.path.isfile(paths[("book", "valid")])
    correct = prepare_all(raw_dir, cache_dir).set_index(["domain", "split"])["cache_path"]
    assert correct[("book", "valid")] != paths[("book", "valid")]
    assert correct[("movie", "valid")] == paths[("movie", "valid")]


@pytest.mark.parametrize("domain,split,valid", [("films", "train", "movie, book"),
                                                ("movie", "dev", "train, valid, test")])
def test_unknown_domain_or_split(raw_dir, cache_dir, domain, split, valid):
    with pytest.raises(HarnessError, match=valid):
        load_split(domain, split, **_kw(raw_dir, cache_dir))


def test_unknown_alignment(raw_dir, cache_dir):
    with pytest.raises(HarnessError, match="correct, tallrec"):
        load_split("book", "test", **_kw(raw_dir, cache_dir, "published"))


def test_items(raw_dir, cache_dir):
    movies = load_items("movie", raw_dir=raw_dir, cache_dir=cache_dir)
    assert list(movies.columns) == ["item_id", "title", "text"] and len(movies) == 1682
    assert movies.iloc[0].tolist() == ["1", "Toy Story (1995)", "Toy Story (1995)"]
    books = load_items("book", raw_dir=raw_dir, cache_dir=cache_dir).set_index("item_id")
    assert books.index.is_unique
    for alignment in ("correct", "tallrec"):
        frame = load_split("book", "test", **_kw(raw_dir, cache_dir, alignment))
        ids = set(frame["target_item_id"]).union(*frame["history_item_ids"].map(set))
        assert ids <= set(books.index)
    assert books.loc["0425185605", "text"] == "The Colonel, by Patrick A. Davis"


# ----------------------------------------------------------------------------------------- sampler


def test_kshot_is_deterministic_and_nested(raw_dir, cache_dir):
    kw = _kw(raw_dir, cache_dir)
    k16, k64 = kshot_ids("movie", 16, 42, **kw), kshot_ids("movie", 64, 42, **kw)
    assert k16 == kshot_ids("movie", 16, 42, **kw) and k64[:16] == k16
    assert len(set(k64)) == 64 and all(i.startswith("movie:train:") for i in k64)
    assert kshot_ids("movie", 16, 43, **kw) != k16
    book = kshot_ids("book", 64, 0, **kw)
    assert book[:16] == kshot_ids("book", 16, 0, **kw)


def test_kshot_matches_tallrec_loading(raw_dir, cache_dir, tmp_path):
    """TALLRec: load_dataset("json", data_files=train.json)["train"].shuffle(seed).select(range(K))."""
    import datasets

    train = load_split("movie", "train", **_kw(raw_dir, cache_dir))
    path = tmp_path / "train.json"
    path.write_text(json.dumps([{"instruction": r.instruction, "input": r.input, "output": r.output}
                                for r in train.itertuples()], indent=4))
    data = datasets.load_dataset("json", data_files=str(path), cache_dir=str(tmp_path / "hf"))
    picked = data["train"].shuffle(seed=42).select(range(64))
    ours = kshot_samples("movie", 64, 42, **_kw(raw_dir, cache_dir))
    assert list(picked["input"]) == ours["input"].tolist()
    assert list(picked["output"]) == ours["output"].tolist()


def test_kshot_samples_rows_and_both(raw_dir, cache_dir):
    kw = _kw(raw_dir, cache_dir)
    movie = kshot_samples("movie", 16, 1, **kw)
    assert tuple(movie.columns) == COLUMNS and movie["sample_id"].tolist() == kshot_ids("movie", 16, 1, **kw)
    both = kshot_samples("both", 16, 1, **kw)
    assert len(both) == 32 and both["domain"].tolist() == ["movie"] * 16 + ["book"] * 16
    assert both["sample_id"].tolist() == kshot_ids("movie", 16, 1, **kw) + kshot_ids("book", 16, 1, **kw)
    tallrec = kshot_samples("book", 16, 1, **_kw(raw_dir, cache_dir, "tallrec"))
    assert tallrec["sample_id"].tolist() == kshot_ids("book", 16, 1, **kw)   # same rows, other books shown


@pytest.mark.parametrize("k,domain,size", [(0, "movie", "8,000"), (8001, "movie", "8,000"),
                                           (19_415, "book", "19,414"), (-3, "book", "19,414")])
def test_k_out_of_range_names_the_split_size(raw_dir, cache_dir, k, domain, size):
    with pytest.raises(HarnessError, match=f"train split has {size} samples"):
        kshot_ids(domain, k, 0, **_kw(raw_dir, cache_dir))


def test_bad_train_mix(raw_dir, cache_dir):
    with pytest.raises(HarnessError, match="unknown dataset 'all'; registered: movie, book"):
        kshot_samples("all", 16, 0, **_kw(raw_dir, cache_dir))


# ------------------------------------------------------------------------------------------ alpaca


def test_alpaca(raw_dir, cache_dir):
    frame = load_alpaca(raw_dir, cache_dir=cache_dir)
    assert list(frame.columns) == ["sample_id", "instruction", "input", "output"]
    assert len(frame) in (1_727, 52_002)
    assert frame["sample_id"].iloc[123] == "alpaca:000123"
    assert frame["instruction"].iloc[0] == "Give three tips for staying healthy."
    head = load_alpaca(raw_dir, 5, cache_dir=cache_dir)
    assert len(head) == 5
    texts = alpaca_prompt_texts(head)
    assert texts[0] == render_prompt(head["instruction"][0], head["input"][0]) + head["output"][0]
    assert texts[0].startswith("Below is an instruction that describes a task. Write")
    with_input = frame[frame["input"] != ""].head(1)
    assert "### Input:\n" in alpaca_prompt_texts(with_input)[0]
    with pytest.raises(HarnessError):
        load_alpaca(raw_dir, -1, cache_dir=cache_dir)


def test_a_capped_split_is_its_first_rows_or_rows_spread_over_it():
    import pandas as pd

    from data.trial import capped

    frame = pd.DataFrame({"sample_id": [f"s{i}" for i in range(10)], "user": [i // 4 for i in range(10)]})
    assert list(capped(frame, 3)["sample_id"]) == ["s0", "s1", "s2"]
    spread = capped(frame, 3, "spread")
    assert list(spread["sample_id"]) == ["s0", "s3", "s6"]
    assert spread["user"].nunique() == 2 and capped(frame, 3)["user"].nunique() == 1
    assert capped(frame, 4, "spread")["sample_id"].is_unique
    assert capped(frame, None, "spread") is frame and capped(frame, 50, "spread") is frame


def test_the_subset_switch_leaves_existing_trial_ids_alone():
    from harness.core.spec import DataSpec, TrialSpec

    plain = TrialSpec(method="random")
    assert TrialSpec(method="random", data=DataSpec(subset="first")).trial_id == plain.trial_id
    assert TrialSpec(method="random", data=DataSpec(subset="spread")).trial_id != plain.trial_id
