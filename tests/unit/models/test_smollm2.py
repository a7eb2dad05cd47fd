"""A real SmolLM2-135M RT trial at K=8 on the real samples (slow: about 2-4 minutes on 2 cores)."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")

from harness.core.context import TrialContext  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.metrics import compute_auc  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402

EVAL_MAX = 32


def _data_layer():
    try:
        import data.sampling  # noqa: F401
        import data.samples  # noqa: F401
    except ImportError as exc:  # the data layer (issue 2) is not in this checkout
        pytest.skip(f"data layer not available: {exc}")


@pytest.mark.slow
def test_smollm2_rt_trial_k8(tmp_path):
    _data_layer()
    from harness.core.config import ModelConfig
    from models.loading import converted_path, resolve_source

    spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=8, seed=0,
                     model={"name": "smollm2-135m"},
                     params={"lora": {}, "training": {"epochs": 2, "batch_size": 8, "micro_batch_size": 4,
                                                      "learning_rate": 3e-4, "warmup_steps": 0,
                                                      "valid_max_samples": 16}},
                     eval={"max_samples": EVAL_MAX})
    # the default cache (HARNESS_CACHE_DIR): the GGUF conversion is done once per machine
    ctx = TrialContext(raw_dir=os.environ.get("HARNESS_RAW_DIR"), work_dir=tmp_path / "work")
    result = run_trial(spec, ctx)
    assert result.status == "complete", result.error
    print({m.eval_domain: m.auc for m in result.metrics}, result.timings)
    assert {m.eval_domain for m in result.metrics} == {"movie", "book"}
    for m in result.metrics:
        frame = result.predictions[m.eval_domain]
        assert m.n == EVAL_MAX and m.auc is not None
        assert m.auc == pytest.approx(compute_auc(frame["label"], frame["score"]))
        assert frame["score"].between(0, 1).all() and frame["score"].nunique() > EVAL_MAX // 2
    ex = result.extra
    assert ex["global_step"] == 2 and ex["tokens_seen"] > 8 * 150
    assert ex["lora_B_norm"] > 0 and ex["adapter_bytes"] > 100_000  # r=8 q/v on 30 layers: ~1.8 MB
    assert ex["score"]["movie"]["answer_ids"] == [10539, 5230]
    # the GGUF was converted into a plain safetensors directory the Trainer accepts
    conv = converted_path(resolve_source(ModelConfig()), ctx.cache_dir)
    assert (conv / "model.safetensors").is_file()
    assert "quantization_config" not in (conv / "config.json").read_text()
