"""DeepSpeed ZeRO-2/3 trials for real, on DeepSpeed's CPU accelerator (gloo), with a tiny Llama.

The three bugs of issue 21: empty ZeRO-3 adapters, a plain trial after a DeepSpeed trial in one
process, and two DeepSpeed trials at once on one node (a fixed MASTER_PORT).
"""
import os
import socket
import sys

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")
pytest.importorskip("deepspeed")

from harness.core.context import TrialContext  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402
from tests.helpers import llm as testing  # noqa: E402

SIZES = {"train": 32, "valid": 16, "test": 16}
TRAINING = {"epochs": 2, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 1e-2,
            "warmup_steps": 0, "valid_max_samples": 8, "patience": 2, "score_batch_size": 16}
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    for name, module in testing.fake_data_modules(SIZES).items():
        monkeypatch.setitem(sys.modules, name, module)


def rt_spec(tiny_dir, stage: int | None, r: int = 8) -> TrialSpec:
    training = dict(TRAINING, **({"deepspeed": f"ray_configs/deepspeed_zero{stage}.json"} if stage else {}))
    return TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=8, seed=1,
                     model={"name": str(tiny_dir)}, params={"lora": {"r": r}, "training": training})


def stored_scores(result, domain="movie"):
    frame = result.predictions[domain].sort_values("sample_id")
    return frame["sample_id"].tolist(), frame["score"].to_numpy()


def rescore(tiny_dir, cache_dir, adapter_dir, sample_ids):
    from harness.core.config import ModelConfig
    from models.adapters import attach_saved
    from models.loading import load_base
    from models.scoring import YesNoScorer, render_prompts

    model, tok = load_base(ModelConfig(name=str(tiny_dir)), cache_dir, "cpu")
    frame = sys.modules["data.samples"].load_split("movie", "test").set_index("sample_id").loc[sample_ids]
    return YesNoScorer(attach_saved(model, adapter_dir, trainable=False), tok).score(
        render_prompts(frame.reset_index(), "alpaca"))


def test_zero3_at_r16_keeps_a_full_adapter_that_rescores_to_the_stored_scores(tiny_dir, tmp_path):
    from safetensors.torch import load_file

    # hidden 64: ZeRO-3's "auto" persistence threshold is 640 elements, a 16x64 LoRA matrix is
    # partitioned, and PEFT's save_pretrained wrote [0]-shaped tensors before the fix
    result = run_trial(rt_spec(tiny_dir, 3, r=16), TrialContext(cache_dir=tmp_path / "cache",
                                                               artifacts_dir=tmp_path / "run"))
    assert result.status == "complete", result.error
    kept = result.extra["kept_adapter"]["path"]
    tensors = load_file(f"{kept}/adapter_model.safetensors")
    shapes = {tuple(t.shape) for k, t in tensors.items() if "lora_A" in k}
    assert shapes == {(16, 64)}, {k: tuple(t.shape) for k, t in tensors.items()}
    assert result.extra["lora_B_norm"] > 0
    ids, stored = stored_scores(result)
    assert np.abs(rescore(tiny_dir, tmp_path / "cache", kept, ids) - stored).max() < 1e-5


def test_adapter_check_refuses_empty_tensors(tmp_path):
    import json

    import torch
    from safetensors.torch import save_file

    from models.adapters import adapter_summary

    (tmp_path / "adapter_config.json").write_text(json.dumps({"r": 16}))
    save_file({"x.lora_A.weight": torch.zeros(0), "x.lora_B.weight": torch.ones(4, 16)},
              str(tmp_path / "adapter_model.safetensors"))
    with pytest.raises(HarnessError, match="empty or malformed tensors") as err:
        adapter_summary(tmp_path)
    assert "\n" not in str(err.value)


def test_a_plain_trial_after_a_deepspeed_trial_in_one_process(tiny_dir, tmp_path):
    before = dict(os.environ)
    zero2 = run_trial(rt_spec(tiny_dir, 2), TrialContext(cache_dir=tmp_path))
    assert zero2.status == "complete", zero2.error
    assert dict(os.environ) == before          # ACCELERATE_USE_DEEPSPEED & co. gone again
    plain = run_trial(rt_spec(tiny_dir, None), TrialContext(cache_dir=tmp_path))
    assert plain.status == "complete", plain.error
    # ZeRO-2 in one process trains the same adapter as the plain Trainer
    assert np.allclose(stored_scores(zero2)[1], stored_scores(plain)[1], atol=1e-4)


_TRIAL_SCRIPT = """
import sys
from tests.helpers import llm as testing
testing.install_fake_data({sizes!r})
from harness.core.context import TrialContext
from harness.core.spec import TrialSpec
from harness.core.trial import run_trial
r = run_trial(TrialSpec.from_json(sys.argv[1]), TrialContext(cache_dir=sys.argv[2]))
print("STATUS", r.status, (r.error or "").strip().splitlines()[-1:] )
"""


def test_a_deepspeed_trial_does_not_need_a_fixed_port(tiny_dir, tmp_path):
    """Two DeepSpeed trials at once on one node: another trial holds the port this one would
    have taken (the old fixed MASTER_PORT 29511). A fresh process, as a Ray worker is: in this
    one DeepSpeed's process group may exist already."""
    import subprocess
    from pathlib import Path

    holder = socket.socket()
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("", 29511))
    except OSError:
        holder.close()
        pytest.skip("port 29511 is taken on this machine already")
    holder.listen()
    env = {k: v for k, v in os.environ.items() if k not in ("MASTER_PORT", "MASTER_ADDR", "WORLD_SIZE")}
    env.update(HF_HUB_OFFLINE="1", PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    try:
        proc = subprocess.run([sys.executable, "-c", _TRIAL_SCRIPT.format(sizes=SIZES),
                               rt_spec(tiny_dir, 2).canonical_json(), str(tmp_path)],
                              capture_output=True, text=True, env=env, timeout=240)
    finally:
        holder.close()
    status = [ln for ln in proc.stdout.splitlines() if ln.startswith("STATUS")]
    assert status == ["STATUS complete []"], (status, proc.stderr[-2000:])


def test_trial_environment_is_restored_even_after_an_error(monkeypatch):
    from models.deepspeed_env import trial_environment

    monkeypatch.delenv("DS_ACCELERATOR", raising=False)
    before = dict(os.environ)
    with pytest.raises(RuntimeError), trial_environment("cpu"):
        assert os.environ["DS_ACCELERATOR"] == "cpu" and os.environ["WORLD_SIZE"] == "1"
        assert os.environ["MASTER_PORT"] != "29511"
        os.environ["ACCELERATE_USE_DEEPSPEED"] = "true"
        raise RuntimeError("trial failed")
    assert dict(os.environ) == before


@pytest.mark.parametrize("content, message", [
    ("{not json", "does not parse"), ("[1, 2]", "a JSON object is expected"), (None, "not found")])
def test_bad_deepspeed_config_is_one_line(tmp_path, content, message):
    from models.deepspeed_env import check_deepspeed

    path = tmp_path / "ds.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(HarnessError, match=message) as err:
        check_deepspeed(str(path))
    assert "\n" not in str(err.value)
