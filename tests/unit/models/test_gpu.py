"""GPU-only paths: 8-bit loading (bitsandbytes) and a DeepSpeed trial. Skipped without CUDA."""
import importlib.util
import os
import sys

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")

from harness.core.context import TrialContext  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402
from tests.helpers import llm as testing  # noqa: E402

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

TRAINING = {"epochs": 2, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 3e-4,
            "warmup_steps": 0, "valid_max_samples": 16}


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    for name, module in testing.fake_data_modules({"train": 32, "valid": 16, "test": 32}).items():
        monkeypatch.setitem(sys.modules, name, module)


def _spec(model, training=TRAINING):
    return TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=8, seed=0, model=model,
                     params={"lora": {}, "training": training})


@pytest.mark.skipif(importlib.util.find_spec("bitsandbytes") is None, reason="needs bitsandbytes")
def test_8bit_smollm2_loads_trains_and_scores(tmp_path):
    from harness.core.config import ModelConfig
    from models.loading import load_base

    model, _ = load_base(ModelConfig(load_in_8bit=True), tmp_path, "cuda")
    assert getattr(model, "is_loaded_in_8bit", False)
    del model
    result = run_trial(_spec({"name": "smollm2-135m", "load_in_8bit": True}), TrialContext(cache_dir=tmp_path))
    assert result.status == "complete", result.error
    assert result.extra["lora_B_norm"] > 0 and result.extra["peak_cuda_mb"] > 0
    print("8-bit", {m.eval_domain: m.auc for m in result.metrics}, result.timings, result.extra["peak_cuda_mb"])


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is None, reason="needs deepspeed")
@pytest.mark.parametrize("stage", [2, 3])
def test_deepspeed_trial(tmp_path, stage):
    training = {**TRAINING, "deepspeed": f"ray_configs/deepspeed_zero{stage}.json"}
    result = run_trial(_spec({"name": "smollm2-135m", "dtype": "bfloat16"}, training),
                       TrialContext(cache_dir=tmp_path))
    assert result.status == "complete", result.error
    assert result.extra["lora_B_norm"] > 0 and result.extra["model_cache_hit"] is False
    print(f"zero{stage}", {m.eval_domain: m.auc for m in result.metrics}, result.timings)
