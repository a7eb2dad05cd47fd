"""The TrainingConfig knobs for TALLRec-faithful training and for speed, on a tiny random Llama."""
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")

from harness.core.config import ModelConfig, TrainingConfig
from harness.core.errors import HarnessError
from harness.core.metrics import compute_auc
from tests.helpers import llm as testing

BASE = {"epochs": 4, "batch_size": 4, "micro_batch_size": 4, "learning_rate": 5e-2, "warmup_steps": 0,
        "patience": 100, "score_batch_size": 16, "cutoff_len": 256}
NEW = ("restore_best", "eval_every_steps", "reshuffle", "padding_side", "group_by_length",
       "shared_prefix", "autocast_bf16")


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    from models.loading import load_base

    root = tmp_path_factory.getbasetemp()
    return load_base(ModelConfig(name=str(testing.tiny_llama_dir(root / "models"))), root / "cache", "cpu")


@pytest.fixture(scope="module")
def frames():
    return testing.fake_samples("movie", "train", 16), testing.fake_samples("movie", "valid", 16)


def train(base, frames, tmp_path, seed=1, valid=True, **knobs):
    """Train a fresh LoRA; returns (outcome, validation AUC of the final adapter, recorded batches)."""
    from harness.core.config import LoraConfig
    from models import training
    from models.adapters import attach_new, detach
    from models.scoring import YesNoScorer, render_prompts

    model, tok = base
    seen = []

    class Recording(training.PadCollator):
        def __call__(self, batch):
            seen.append([tuple(b["input_ids"]) for b in batch])
            return super().__call__(batch)

    peft = attach_new(model, LoraConfig(), seed)
    original = training.PadCollator
    training.PadCollator = Recording
    try:
        out = training.train_lora(peft, tok, frames[0], cfg=TrainingConfig(**{**BASE, **knobs}),
                                  template="alpaca", seed=seed, output_dir=tmp_path / "ckpt", device="cpu",
                                  valid_frame=frames[1] if valid else None)
        v = frames[1]
        auc = compute_auc(v["label"], YesNoScorer(peft, tok, batch_size=16).score(render_prompts(v, "alpaca")))
    finally:
        training.PadCollator = original
        detach(peft)
    return out, auc, seen


def test_new_fields_leave_existing_trial_ids_alone():
    assert not set(NEW) & set(TrainingConfig().model_dump())
    dump = TrainingConfig(restore_best=False, eval_every_steps=10, reshuffle=True, padding_side="left").model_dump()
    assert dump["restore_best"] is False and dump["eval_every_steps"] == 10 and dump["padding_side"] == "left"
    with pytest.raises(ValueError):
        TrainingConfig(padding_side="middle")


def test_restore_best_keeps_the_best_adapter_and_false_keeps_the_last(base, frames, tmp_path):
    kw = {"eval_every_steps": 1, "max_steps": 3}   # AUC falls after step 1 on this seed
    best, best_auc, _ = train(base, frames, tmp_path / "a", **kw)
    last, last_auc, _ = train(base, frames, tmp_path / "b", restore_best=False, **kw)
    history = [h["auc"] for h in best.history]
    assert history == [h["auc"] for h in last.history]        # same run; only the ending differs
    assert max(history) > history[-1] + 1e-3, history           # precondition: the last is not the best
    assert best_auc == pytest.approx(max(history), abs=1e-6) and best.best_auc == pytest.approx(max(history))
    assert last_auc == pytest.approx(history[-1], abs=1e-6) and last.best_auc == pytest.approx(max(history))


def test_eval_every_steps_validates_every_n_optimizer_steps(base, frames, tmp_path):
    per_epoch, _, _ = train(base, frames, tmp_path / "a", epochs=2)          # 4 steps per epoch
    every, _, _ = train(base, frames, tmp_path / "b", epochs=2, eval_every_steps=3)
    assert [h["step"] for h in per_epoch.history] == [4, 8]
    assert [h["step"] for h in every.history] == [3, 6, 8]   # the Trainer also validates at the end


def test_reshuffle_permutes_the_k_samples_once_more(base, frames, tmp_path):
    _, _, plain = train(base, frames, tmp_path / "a", epochs=1, valid=False)
    _, _, again = train(base, frames, tmp_path / "b", epochs=1, valid=False, reshuffle=True)
    flat = lambda seen: [x for b in seen for x in b]
    assert sorted(flat(plain)) == sorted(flat(again))   # the same K examples, once each
    assert flat(plain) != flat(again)                   # in another order


def test_left_padding_adds_one_loss_term_per_padded_example(base, frames):
    from models.batching import PadCollator
    from models.training import tokenize_examples

    model, tok = base
    examples = tokenize_examples(tok, frames[0].head(4), "alpaca", 256, True)
    right = PadCollator(tok.pad_token_id, 1, "right")(examples)
    left = PadCollator(tok.pad_token_id, 1, "left")(examples)
    assert (left["attention_mask"][:, -1] == 1).all() and (right["attention_mask"][:, 0] == 1).all()
    padded = int((right["attention_mask"] == 0).any(1).sum())
    assert padded >= 1
    terms = lambda b: int((b["labels"][:, 1:] != -100).sum())
    assert terms(left) == terms(right) + padded
    with torch.no_grad():  # RoPE is relative: the real tokens' terms match; the extra ones are large
        lr, ll = model(**right).loss * terms(right), model(**left).loss * terms(left)
    assert float(ll - lr) > padded * 1.0


def test_left_padding_trains(base, frames, tmp_path):
    out, _, _ = train(base, frames, tmp_path, epochs=1, valid=False, padding_side="left")
    assert out.global_step == 4 and np.isfinite(out.losses).all()


def test_group_by_length_batches_similar_lengths_each_example_once(base, frames, tmp_path):
    _, _, plain = train(base, frames, tmp_path / "a", epochs=2, valid=False)
    _, _, grouped = train(base, frames, tmp_path / "b", epochs=2, valid=False, group_by_length=True)
    pad = lambda seen: sum(len(b) * max(map(len, b)) - sum(map(len, b)) for b in seen)
    assert pad(grouped) < pad(plain)
    for epoch in (grouped[:4], grouped[4:]):
        assert sorted(x for b in epoch for x in b) == sorted(x for b in plain[:4] for x in b)


def test_shared_prefix_loss_and_gradients_equal_the_plain_forward(base, frames):
    from harness.core.config import LoraConfig
    from models.adapters import attach_new, detach
    from models.batching import PadCollator, shared_prefix_len, shared_prefix_loss
    from models.training import tokenize_examples

    model, tok = base
    batch = PadCollator(tok.pad_token_id, 1)(tokenize_examples(tok, frames[0].head(4), "alpaca", 256, True))
    assert shared_prefix_len(batch["input_ids"], batch["attention_mask"]) >= 16
    peft = attach_new(model, LoraConfig(dropout=0.0), 0)
    try:
        peft.train()
        for p in peft.parameters():   # LoRA B starts at zero: perturb so A's gradients are non-zero
            if p.requires_grad:
                p.data.normal_(0, 0.05)
        grads = []
        for fn in (lambda: peft(**batch).loss, lambda: shared_prefix_loss(peft, batch)):
            peft.zero_grad()
            loss = fn()
            loss.backward()
            grads.append((float(loss.detach()), torch.cat([p.grad.flatten() for p in peft.parameters() if p.requires_grad])))
        assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-5)
        assert torch.allclose(grads[0][1], grads[1][1], rtol=1e-3, atol=1e-6)
    finally:
        detach(peft)


def test_speed_knobs_train(base, frames, tmp_path):
    out, _, _ = train(base, frames, tmp_path, epochs=1, valid=False, group_by_length=True,
                      shared_prefix=True, autocast_bf16=True)
    assert out.global_step == 4 and np.isfinite(out.losses).all()


def test_bad_combinations_fail_clearly(base, frames, tmp_path):
    from models.training import _speed_options

    with pytest.raises(HarnessError, match="padding_side: right"):
        _speed_options(TrainingConfig(shared_prefix=True, padding_side="left"), [], 0, "cpu")
    with pytest.raises(HarnessError, match="for CPUs"):
        _speed_options(TrainingConfig(autocast_bf16=True), [], 0, "cuda:0")
