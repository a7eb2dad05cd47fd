"""8-bit (bitsandbytes `load_in_8bit`) wherever bitsandbytes has a backend: here, the CPU."""
import os
import sys
import types

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")
pytest.importorskip("bitsandbytes")

from harness.core.config import ModelConfig  # noqa: E402
from harness.core.context import TrialContext  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402
from models import loading  # noqa: E402
from tests.helpers import llm as testing  # noqa: E402

SIZES = {"train": 32, "valid": 16, "test": 16}
TRAINING = {"epochs": 2, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 1e-2,
            "warmup_steps": 0, "valid_max_samples": 8, "patience": 2, "score_batch_size": 16}


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    for name, module in testing.fake_data_modules(SIZES).items():
        monkeypatch.setitem(sys.modules, name, module)


def int8_layers(model) -> int:
    from bitsandbytes.nn import Linear8bitLt

    return sum(isinstance(m, Linear8bitLt) for m in model.modules())


@pytest.mark.slow   # 4 s on quiet cores, ~30 s on a busy 2-core machine: the real int8 path
def test_8bit_rt_trial_on_cpu_and_its_adapter_rescores_to_the_stored_scores(tiny_dir, tmp_path):
    from models.adapters import attach_saved
    from models.cache import MODEL_CACHE
    from models.scoring import YesNoScorer, render_prompts

    model_cfg = {"name": str(tiny_dir), "load_in_8bit": True}
    model, tok = loading.load_base(ModelConfig(**model_cfg), tmp_path, "cpu")
    assert int8_layers(model) == 2 * 7 and next(model.parameters()).device.type == "cpu"
    spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=8, seed=2, model=model_cfg,
                     params={"lora": {}, "training": TRAINING})
    MODEL_CACHE.clear()
    result = run_trial(spec, TrialContext(cache_dir=tmp_path, artifacts_dir=tmp_path / "run"))
    MODEL_CACHE.clear()
    assert result.status == "complete", result.error
    assert result.extra["device"] == "cpu" and result.extra["lora_B_norm"] > 0
    frame = result.predictions["movie"].sort_values("sample_id")
    test = sys.modules["data.samples"].load_split("movie", "test").set_index("sample_id").loc[frame["sample_id"]]
    tuned = attach_saved(model, result.extra["kept_adapter"]["path"], trainable=False)
    again = YesNoScorer(tuned, tok).score(render_prompts(test.reset_index(), "alpaca"))
    assert np.abs(again - frame["score"].to_numpy()).max() < 1e-5


def fake_bitsandbytes(**attrs) -> types.ModuleType:
    import importlib.machinery

    module = types.ModuleType("bitsandbytes")
    module.__spec__ = importlib.machinery.ModuleSpec("bitsandbytes", None)
    module.__dict__.update(attrs)
    return module


@pytest.mark.parametrize("attrs, message", [
    ({"__version__": "0.42.0"}, "bitsandbytes 0.42.0 has no backend for the cpu device"),
    ({"__version__": "0.50.2", "features": {"multi_backend"}, "supported_torch_devices": {"cuda"}},
     "has no backend for the cpu device"),
])
def test_a_bitsandbytes_without_a_cpu_backend_is_one_line(monkeypatch, tiny_dir, tmp_path, attrs, message):
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake_bitsandbytes(**attrs))
    with pytest.raises(HarnessError, match=message) as err:
        loading.load_base(ModelConfig(name=str(tiny_dir), load_in_8bit=True), tmp_path, "cpu")
    assert "\n" not in str(err.value) and str(err.value).startswith("load_in_8bit: ")
