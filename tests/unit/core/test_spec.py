import json

import pytest
from pydantic import ValidationError

from harness.core.config import LoraConfig, TrainingConfig
from harness.core.spec import TrialSpec


def test_trial_id_is_sha256_of_canonical_json():
    import hashlib

    spec = TrialSpec(method="random", train_mix="movie", k=16, seed=3)
    assert spec.trial_id == hashlib.sha256(spec.canonical_json().encode()).hexdigest()
    assert len(spec.trial_id) == 64


def test_trial_id_ignores_dict_key_order_but_not_values():
    a = TrialSpec(method="tallrec", variant="RT", train_mix="book", k=64, seed=0,
                  params={"lora": LoraConfig().model_dump(mode="json"), "training": {"x": 1, "y": 2}})
    b = TrialSpec(method="tallrec", variant="RT", train_mix="book", k=64, seed=0,
                  params={"training": {"y": 2, "x": 1}, "lora": LoraConfig().model_dump(mode="json")})
    c = TrialSpec(method="tallrec", variant="RT", train_mix="book", k=64, seed=1,
                  params=a.params)
    assert a.trial_id == b.trial_id
    assert a.trial_id != c.trial_id


def test_spec_round_trips_through_json_and_is_frozen():
    spec = TrialSpec(method="tallrec", variant="full", train_mix="both", k=16, seed=2,
                     model={"name": "smollm2-135m"},
                     params={"training": TrainingConfig().model_dump(mode="json")})
    again = TrialSpec.from_json(spec.canonical_json())
    assert again == spec and again.trial_id == spec.trial_id
    assert again.train_domains == ("movie", "book")
    with pytest.raises(ValidationError):
        spec.k = 3


@pytest.mark.parametrize("bad", [
    {"method": "random", "k": 300},
    {"method": "random", "train_mix": "music"},
    {"method": "random", "unknown_field": 1},
    {"method": "random", "eval": {"domains": ["movie", "music"]}},
    {"method": "random", "params": {"x": float("nan")}},
])
def test_bad_specs_are_rejected(bad):
    with pytest.raises((ValidationError, ValueError)):
        TrialSpec(**bad)


def test_canonical_json_is_compact_and_sorted():
    text = TrialSpec(method="random", k=1, train_mix="movie").canonical_json()
    assert json.loads(text)["method"] == "random"
    assert ", " not in text and text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
