"""The dataset registry and declared datasets in trial specs: names, ids that do not move."""
import pytest
from pydantic import ValidationError

from harness.core.datasets import (DATASETS, DatasetConfig, dataset_labels, dataset_names, mix_domains)
from harness.core.spec import DataSpec, EvalSpec, TrialSpec

ML1M = {"ratings": {"path": "ml-1m/ratings.dat", "format": "movielens-1m"},
        "items": {"path": "ml-1m/movies.dat"}, "item_noun": "movie"}

# Ids computed with the code before datasets became plugins (commit 51aa9d0): they must not move.
PINNED = [
    (TrialSpec(method="random"), "34fb6c7aaa506d8e7818012cbf7e23e75ba64ccdffa9e08e32c3169ca18c0206"),
    (TrialSpec(method="tallrec", variant="full", train_mix="both", k=64, seed=2, params={"lora": {"r": 8}}),
     "f8ff6d1fa16c667ab7e9357c79c2655540f150b762a57e85a618eb0752da8ab5"),
    (TrialSpec(method="sasrec", train_mix="book", k=16, seed=1, eval=EvalSpec(domains=("book",), split="valid"),
               data=DataSpec(book_label_alignment="tallrec", subset="spread")),
     "343de7d66593ecd56194886831db8a66bca3286adfb01f80760dad037f66327a"),
]


def test_built_ins_are_registered_in_order_without_importing_them():
    assert dataset_names()[:3] == ["movie", "book", "movie-users"]
    assert DATASETS.target("movie") == "data.movie"
    assert dataset_labels()["both"] == "Movie + Book"
    assert mix_domains("both") == ("movie", "book") and mix_domains("book") == ("book",)
    assert mix_domains(None) == ()


@pytest.mark.parametrize("spec,trial_id", PINNED)
def test_existing_trial_ids_do_not_change(spec, trial_id):
    assert spec.trial_id == trial_id
    assert "datasets" not in spec.model_dump(mode="json")["data"]


def test_a_declared_dataset_is_in_the_id_and_usable_as_a_domain():
    data = DataSpec(datasets={"ml1m": ML1M})
    spec = TrialSpec(method="random", train_mix="ml1m", k=16, eval=EvalSpec(domains=("ml1m",)), data=data)
    assert spec.train_domains == ("ml1m",)
    assert spec.model_dump(mode="json")["data"]["datasets"]["ml1m"]["ratings"]["format"] == "movielens-1m"
    other = TrialSpec(method="random", train_mix="ml1m", k=16, eval=EvalSpec(domains=("ml1m",)),
                      data=DataSpec(datasets={"ml1m": {**ML1M, "split": "users"}}))
    assert other.trial_id != spec.trial_id
    assert TrialSpec.from_json(spec.canonical_json()).trial_id == spec.trial_id


def test_an_unknown_dataset_lists_the_registered_ones():
    with pytest.raises(ValidationError, match="'music' is not a dataset; registered: movie, book, movie-users"):
        TrialSpec(method="random", eval=EvalSpec(domains=("movie", "music")))
    with pytest.raises(ValidationError, match="not a dataset"):
        TrialSpec(method="random", train_mix="ml1m", k=16)       # declared nowhere


def test_a_stored_spec_reads_back_even_if_its_dataset_plugin_is_not_imported():
    text = TrialSpec(method="random").canonical_json().replace('["movie","book"]', '["plugin-only"]')
    assert TrialSpec.from_json(text).eval.domains == ("plugin-only",)


@pytest.mark.parametrize("bad", [
    {"ratings": {"path": "x", "format": "parquet"}},
    {"ratings": {"path": "x"}, "history": 0},
    {"ratings": {"path": "x"}, "split": "random"},
    {"ratings": {"path": "x"}, "samples": 5},
    {"ratings": {"path": "x"}, "item_noun": "two\nlines"},
    {"ratings": {"path": "x"}, "unknown": 1},
])
def test_bad_dataset_configs_are_refused(bad):
    with pytest.raises(ValidationError):
        DatasetConfig.model_validate(bad)


def test_bad_dataset_names_are_refused():
    with pytest.raises(ValidationError, match="dataset name"):
        DataSpec(datasets={"ML 1M": ML1M})
