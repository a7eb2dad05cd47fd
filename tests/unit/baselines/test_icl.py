"""`icl`: zero-shot LLM baselines (base model; base + AT adapter) with tallrec's scorer."""
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")

from harness.core.context import TrialContext  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from harness.core.methods import method_info  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402
from tests.helpers import llm as testing  # noqa: E402

SIZES = {"train": 16, "valid": 16, "test": 20}
AT = {"max_records": 8, "epochs": 1, "batch_size": 4, "micro_batch_size": 4, "warmup_steps": 0,
      "learning_rate": 1e-2}


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    for name, module in testing.fake_data_modules(SIZES).items():
        monkeypatch.setitem(sys.modules, name, module)


def test_info():
    info = method_info("icl")
    assert info.variants == ("base", "alpaca-lora") and info.zero_shot and info.uses_llm
    assert info.blocks_for("base") == () and info.blocks_for("alpaca-lora") == ("lora", "at")


def test_base_scores_are_the_scorers_on_the_untuned_model(tiny_dir, tmp_path):
    from harness.core.config import ModelConfig
    from models.loading import load_base
    from models.scoring import YesNoScorer, render_prompts

    spec = TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)})
    result = run_trial(spec, TrialContext(cache_dir=tmp_path))
    assert result.status == "complete", result.error
    assert {m.eval_domain for m in result.metrics} == {"movie", "book"}
    assert all(m.auc is not None and m.n == SIZES["test"] for m in result.metrics)
    model, tok = load_base(ModelConfig(name=str(tiny_dir)), tmp_path, "cpu")
    frame = sys.modules["data.samples"].load_split("book", "test")
    expected = YesNoScorer(model, tok).score(render_prompts(frame, "alpaca"))
    got = result.predictions["book"]["score"].to_numpy()
    assert np.abs(got - expected).max() < 1e-6
    assert result.extra["trainable_params"] == 0


def test_alpaca_lora_uses_the_shared_at_adapter(tiny_dir, tmp_path):
    ctx = TrialContext(cache_dir=tmp_path)
    base = run_trial(TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)},
                               eval={"domains": ("movie",)}), ctx)
    spec = TrialSpec(method="icl", variant="alpaca-lora", model={"name": str(tiny_dir)},
                     params={"lora": {}, "at": AT}, eval={"domains": ("movie",)})
    first = run_trial(spec, ctx)
    assert first.status == "complete", first.error
    assert first.extra["at_adapter"]["built"] is True
    # tallrec's AT trial with the same blocks and seed finds the same adapter
    at = run_trial(TrialSpec(method="tallrec", variant="AT", model={"name": str(tiny_dir)},
                             params={"lora": {}, "at": AT}, eval={"domains": ("movie",)}), ctx)
    assert at.status == "complete", at.error
    assert at.extra["at_adapter"]["built"] is False
    assert at.extra["at_adapter"]["path"] == first.extra["at_adapter"]["path"]
    a, b = (r.predictions["movie"]["score"].to_numpy() for r in (first, at))
    assert np.abs(a - b).max() < 1e-6
    # and the adapter does something
    assert np.abs(a - base.predictions["movie"]["score"].to_numpy()).max() > 1e-5


def test_bad_variant_and_adapter_path(tiny_dir, tmp_path):
    from baselines import icl

    with pytest.raises(HarnessError, match="icl has no variant 'few-shot'"):
        icl.run(TrialSpec(method="icl", variant="few-shot", model={"name": str(tiny_dir)}),
                TrialContext(cache_dir=tmp_path))
    spec = TrialSpec(method="icl", variant="alpaca-lora", model={"name": str(tiny_dir)},
                     params={"lora": {}, "at": {"adapter_path": str(tmp_path / "nope")}})
    with pytest.raises(HarnessError, match="AT adapter path does not exist"):
        icl.run(spec, TrialContext(cache_dir=tmp_path))


def test_score_mode_knob(tiny_dir, tmp_path):
    ctx = TrialContext(cache_dir=tmp_path)
    two = run_trial(TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)},
                              eval={"domains": ("movie",)}), ctx)
    tall = run_trial(TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)},
                               params={"score_mode": "tallrec"}, eval={"domains": ("movie",)}), ctx)
    assert two.status == tall.status == "complete", (two.error, tall.error)
    assert tall.extra["score_mode"] == "tallrec" and two.extra["score_mode"] == "two-way"
    a, b = two.predictions["movie"]["score"], tall.predictions["movie"]["score"]
    assert (b - 0.5).abs().max() < 1e-3 < (a - 0.5).abs().max()  # sigmoid(P(Yes) - P(No)) of an untuned model
    bad = run_trial(TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)},
                              params={"score_mode": "three-way"}), ctx)
    assert bad.status == "failed" and "unknown score_mode 'three-way'" in bad.error
