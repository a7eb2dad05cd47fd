"""oneDNN-packed float32 linears for CPU scoring: same scores, patches always removed."""
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")

import models.cpu_linear as cpu_linear  # noqa: E402
from harness.core.config import ModelConfig  # noqa: E402
from models.loading import load_base  # noqa: E402
from models.scoring import YesNoScorer, answer_token_ids, render_prompts  # noqa: E402
from tests.helpers.llm import fake_samples, tiny_llama_dir  # noqa: E402

pytestmark = pytest.mark.skipif(not cpu_linear.available(), reason="this torch has no oneDNN packed linear")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "models"
    return load_base(ModelConfig(name=str(tiny_llama_dir(root))), root, "cpu")


@pytest.fixture
def pack_small(monkeypatch):
    """The tiny model's 64x64 weights are below the size worth packing in a real model."""
    monkeypatch.setattr(cpu_linear, "MIN_PACKED_WEIGHT", 1000)


def _patched(model) -> int:
    return sum("forward" in m.__dict__ for m in model.modules())


def test_packed_scores_equal_plain_and_generate(tiny, pack_small):
    from tests.unit.models.test_scoring import tallrec_generate_scores

    model, tok = tiny
    prompts = render_prompts(fake_samples("movie", "test", 24), "alpaca")
    packed = YesNoScorer(model, tok, batch_size=8)
    got = packed.score(prompts)
    assert packed.last.packed_linears == 2 * 7  # q k v o gate up down in each of the 2 layers
    assert _patched(model) == 0
    plain = YesNoScorer(model, tok, batch_size=8, packed_linears=False)
    ref = plain.score(prompts)
    assert plain.last.packed_linears == 0
    yes, no = answer_token_ids(tok, prompts[0])
    gen = tallrec_generate_scores(model, tok, prompts, yes, no, "two-way", max_new_tokens=2)
    assert ref.std() > 1e-3
    assert np.abs(got - ref).max() < 1e-5 and np.abs(got - gen).max() < 1e-4


def test_lora_base_layers_are_packed_and_the_adapter_still_counts(tiny, pack_small):
    from peft import LoraConfig, get_peft_model

    model, tok = tiny
    prompts = render_prompts(fake_samples("book", "test", 12), "alpaca")
    base_scores = YesNoScorer(model, tok, packed_linears=False).score(prompts)
    # a non-zero B, so the adapter changes the scores
    peft_model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"],
                                                  init_lora_weights=False, task_type="CAUSAL_LM"))
    try:
        # the 64x4 LoRA matrices stay plain; the wrapped q/v base layers are packed
        assert len(cpu_linear.packable(peft_model)) == 2 * 7
        packed = YesNoScorer(peft_model, tok).score(prompts)
        plain = YesNoScorer(peft_model, tok, packed_linears=False).score(prompts)
    finally:
        peft_model.unload()
    assert np.abs(packed - plain).max() < 1e-5
    assert np.abs(plain - base_scores).max() > 1e-3


def test_nothing_is_packed_with_gradients_unavailable_ops_or_a_too_big_model(tiny, pack_small, monkeypatch):
    model, _ = tiny
    with cpu_linear.packed_linears(model) as n:  # gradients on: training must see plain layers
        assert n == 0 and _patched(model) == 0
    with torch.inference_mode():
        with cpu_linear.packed_linears(model) as n:
            assert n == 14 and _patched(model) == 14
        monkeypatch.setattr(cpu_linear, "MAX_PACKED_BYTES", 1000)
        with cpu_linear.packed_linears(model) as n:
            assert n == 0
        monkeypatch.setattr(cpu_linear, "available", lambda: False)
        with cpu_linear.packed_linears(model) as n:
            assert n == 0


def test_patches_are_removed_when_scoring_fails(tiny, pack_small):
    model, _ = tiny
    with pytest.raises(RuntimeError, match="boom"), torch.inference_mode():
        with cpu_linear.packed_linears(model) as n:
            assert n > 0
            raise RuntimeError("boom")
    assert _patched(model) == 0
