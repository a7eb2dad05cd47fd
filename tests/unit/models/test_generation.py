"""The paper's text-answer protocol (models/generation.py) and `icl`'s `protocol` knob."""
import os
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")

from harness.core.context import TrialContext  # noqa: E402
from harness.core.metrics import compute_auc  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402
from models import generation  # noqa: E402
from tests.helpers import llm as testing  # noqa: E402

SIZES = {"train": 16, "valid": 16, "test": 12}


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    for name, module in testing.fake_data_modules(SIZES).items():
        monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.parametrize("text, expected", [
    ("Yes.", "yes"), ("No.", "no"), (" yes", "yes"), ("NO", "no"), ("\n**Yes**, the user", "yes"),
    ('"No." The user', "no"), ("Yes/No", "yes"), ("no-one knows", "no"),
    ("", "refused"), ("   \n", "refused"), ("The user will like it", "refused"),
    ("Not sure", "refused"), ("Nope", "refused"), ("Yesterday", "refused"), ("I cannot answer", "refused"),
    ("...", "refused"), ("Noah", "refused"), (None, "refused"),
])
def test_map_answer(text, expected):
    assert generation.map_answer(text) == expected


def test_answer_stats_rates():
    stats = generation.answer_stats(["yes", "yes", "no", "refused"], ["Yes.", "Yes.", "No.", "The"], 1.0, 8)
    assert (stats["n"], stats["answered"], stats["yes"], stats["no"], stats["refused"]) == (4, 3, 2, 1, 1)
    assert stats["refusal_rate"] == 0.25 and stats["yes_rate"] == pytest.approx(2 / 3)
    assert stats["common_answers"][0] == {"text": "Yes.", "count": 2}
    empty = generation.answer_stats(["refused"], ["x"], 0.0, 8)
    assert empty["yes_rate"] is None and empty["refusal_rate"] == 1.0


def test_batched_greedy_answers_equal_one_at_a_time(tiny_dir, tmp_path):
    from harness.core.config import ModelConfig
    from models.loading import load_base
    from models.scoring import render_prompts

    model, tok = load_base(ModelConfig(name=str(tiny_dir)), tmp_path, "cpu")
    prompts = render_prompts(sys.modules["data.samples"].load_split("movie", "test"), "alpaca")
    batched = generation.generate_answers(model, tok, prompts, max_new_tokens=5, batch_size=5)
    single = [generation.generate_answers(model, tok, [p], max_new_tokens=5)[0] for p in prompts[:4]]
    assert batched[:4] == single
    assert all(len(tok(a, add_special_tokens=False)["input_ids"]) <= 6 for a in batched)
    assert len(set(batched)) > 1     # the answers depend on the prompt (not all padding artefacts)


def test_icl_text_protocol_stores_answered_samples_only(tiny_dir, tmp_path, monkeypatch):
    # The generation itself is tested above; here the answers are fixed per sample so that every
    # class occurs: the plumbing into predictions, extra and AUC is what is checked.
    frame = sys.modules["data.samples"].load_split("movie", "test")
    by_prompt = {}
    from models.scoring import render_prompts
    for i, prompt in enumerate(render_prompts(frame, "alpaca")):
        by_prompt[prompt] = ["Yes.", "No.", "The user will", "yes"][i % 4]
    monkeypatch.setattr(generation, "generate_answers",
                        lambda model, tok, prompts, **kw: [by_prompt[p] for p in prompts])
    spec = TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)},
                     params={"protocol": "text", "max_new_tokens": 6}, eval={"domains": ("movie",)})
    result = run_trial(spec, TrialContext(cache_dir=tmp_path))
    assert result.status == "complete", result.error
    preds = result.predictions["movie"]
    assert len(preds) == 9 and set(preds["score"]) == {0.0, 1.0}
    assert "movie-test-2" not in set(preds["sample_id"])          # refused: left out
    stats = result.extra["score"]["movie"]
    assert (stats["n"], stats["answered"], stats["refused"], stats["yes"]) == (12, 9, 3, 6)
    assert stats["max_new_tokens"] == 6 and result.extra["protocol"] == "text"
    assert "score_mode" not in result.extra
    metric = result.metrics[0]
    assert metric.n == 9 and metric.auc == pytest.approx(compute_auc(preds["label"], preds["score"]))
    # a different protocol is a different trial
    assert spec.trial_id != TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)},
                                      eval={"domains": ("movie",)}).trial_id


def test_icl_text_protocol_on_the_real_generator(tiny_dir, tmp_path):
    spec = TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)},
                     params={"protocol": "text"}, eval={"domains": ("movie", "book")})
    result = run_trial(spec, TrialContext(cache_dir=tmp_path))
    assert result.status == "complete", result.error
    for domain in ("movie", "book"):
        stats = result.extra["score"][domain]
        assert stats["n"] == SIZES["test"] == stats["answered"] + stats["refused"]
        assert len(result.predictions[domain]) == stats["answered"]
        assert sum(a["count"] for a in stats["common_answers"]) <= stats["n"]
    # this random tiny model never starts with yes / no: all refused, no AUC, nothing stored
    assert all(result.extra["score"][d]["refused"] == SIZES["test"] for d in ("movie", "book"))
    assert all(m.auc is None and m.n == 0 for m in result.metrics)


@pytest.mark.parametrize("params, message", [
    ({"protocol": "vibes"}, "icl: unknown protocol 'vibes'; known: probability, text"),
    ({"protocol": "text", "max_new_tokens": 0}, "max_new_tokens must be an integer in 1..64, got 0"),
    ({"protocol": "text", "max_new_tokens": "8"}, "max_new_tokens must be an integer in 1..64, got '8'"),
    ({"max_new_tokens": 8}, "max_new_tokens applies to the text protocol only"),
    ({"protocol": "text", "score_mode": "tallrec"}, "score_mode applies to the probability protocol only"),
])
def test_bad_protocol_settings_fail_with_one_line(tiny_dir, tmp_path, params, message):
    from baselines import icl
    from harness.core.errors import HarnessError

    spec = TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)}, params=params)
    with pytest.raises(HarnessError) as err:
        icl.run(spec, TrialContext(cache_dir=tmp_path))
    assert message in str(err.value) and "\n" not in str(err.value)


def test_alpaca_lora_text_protocol_generates_through_the_adapter(tiny_dir, tmp_path):
    at = {"max_records": 8, "epochs": 1, "batch_size": 4, "micro_batch_size": 4, "warmup_steps": 0,
          "learning_rate": 1e-2}
    ctx = TrialContext(cache_dir=tmp_path)
    runs = {}
    for variant, params in (("base", {"protocol": "text"}),
                            ("alpaca-lora", {"lora": {}, "at": at, "protocol": "text"})):
        spec = TrialSpec(method="icl", variant=variant, model={"name": str(tiny_dir)}, params=params,
                         eval={"domains": ("movie",)})
        runs[variant] = run_trial(spec, ctx)
        assert runs[variant].status == "complete", runs[variant].error
    tuned = runs["alpaca-lora"].extra
    assert tuned["at_adapter"]["built"] is True and tuned["score"]["movie"]["n"] == SIZES["test"]
    # the adapter changes what is generated
    assert tuned["score"]["movie"]["common_answers"] != runs["base"].extra["score"]["movie"]["common_answers"]
