"""The GPU check's code paths on a CPU (tiny shapes, a step or two): bench/gpu_check.py and
bench/gpu/. The GPU numbers themselves need a lent GPU machine (docs/gpu.md)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from bench.gpu import assets as gpu_assets
from bench.gpu.common import Step, llama_matmul_params, lora_mfu, overall, run_step

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    """A gpu_assets/ lookalike: hand-made samples, SmolLM2's tokenizer standing in for LLaMA's."""
    from tests.helpers.llm import smollm2_tokenizer_dir

    root = tmp_path_factory.mktemp("gpu-assets")
    tok = smollm2_tokenizer_dir(root / "_work")
    for name in ("smollm2", "llama"):
        shutil.copytree(tok, root / "tokenizers" / name)
    frames = gpu_assets.fake_sample_frames(k=8, n_test=8, n_valid=4)
    gpu_assets.write_samples(root / "samples.json", frames, k=8, seed=0, source="fake")
    return root


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA exit")
@pytest.mark.parametrize("how", ["module", "script"])
def test_without_cuda_it_stops_at_once_with_one_line(how):
    if how == "module":
        cmd = [sys.executable, "-m", "bench.gpu_check"]
        env = dict(os.environ)
    else:
        cmd = ["bash", "scripts/gpu_check.sh"]
        env = {**os.environ, "PYTHON": sys.executable}
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 3
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "no CUDA GPU" in lines[0], proc.stderr
    assert proc.stdout == ""


def test_a_failing_step_is_recorded_and_the_deadline_skips():
    def boom():
        raise RuntimeError("kaput")

    step = run_step("x", boom)
    assert step.status == "failed" and "RuntimeError: kaput" in step.error and step.seconds >= 0
    late = run_step("y", lambda: {"never": 1}, deadline=0.0)
    assert late.status == "skipped" and "out of time" in late.error
    assert Step("z").as_dict()["status"] == "not run"
    assert overall([{"status": "ok"}, {"status": "skipped"}]) == "ok"
    assert overall([{"status": "ok"}, {"status": "failed"}]) == "partial"
    assert overall([{"status": "failed"}]) == "failed"


def test_mfu_formula_on_the_llama7b_shape():
    from transformers import LlamaConfig

    n = llama_matmul_params(LlamaConfig(vocab_size=32000, **gpu_assets.LLAMA7B_SHAPE))
    assert n == 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008) + 32000 * 4096   # 6.61 B
    # 4 N FLOPs per token: 1000 tokens/s on a 1 PFLOP/s card is 4 * n * 1000 / 1e15
    assert lora_mfu(n, 1000, 1.0, 1000.0) == pytest.approx(4 * n * 1000 / 1e15)
    assert lora_mfu(n, 1000, 1.0, None) is None


def test_packed_batches_give_the_padded_loss(assets):
    """Padding-free packing (DataCollatorWithFlattening, position ids, no mask) must compute the
    same loss as padded batches: SDPA gets the block-diagonal mask from the position ids."""
    from transformers import AutoTokenizer

    from bench.gpu import throughput

    tok = AutoTokenizer.from_pretrained(str(assets / "tokenizers" / "llama"))
    examples = throughput.training_examples(tok, assets / "samples.json", 3, cutoff=40)
    model = gpu_assets.build_random_llama(assets / "tokenizers" / "llama", "tiny", None, device="cpu",
                                          dtype=torch.float32)
    losses = {}
    for kind in ("pad", "packed"):
        batch = throughput.collator(kind, tok.pad_token_id or 0)(examples)
        with torch.no_grad():
            # use_cache=False as in training: transformers detects packing only without a cache
            losses[kind] = float(model(**batch, use_cache=False).loss)
    singles = []
    for e in examples:
        with torch.no_grad():
            one = model(input_ids=torch.tensor([e["input_ids"]]), labels=torch.tensor([e["labels"]]))
        singles.append((float(one.loss), len(e["input_ids"]) - 1))
    alone = sum(loss * n for loss, n in singles) / sum(n for _, n in singles)
    assert "position_ids" in throughput.collator("packed", 0)(examples)
    assert losses["pad"] == pytest.approx(alone, abs=1e-4)
    assert losses["packed"] == pytest.approx(alone, abs=1e-4)


def test_throughput_rows_on_a_tiny_model(assets):
    from bench.gpu import throughput

    keep = {}
    out = throughput.run("cpu", assets, tiny=True, steps=1, warmup=0, micro_batch=2, cutoff=32, keep=keep)
    rows = {r["setup"]: r for r in out["rows"]}
    assert rows["tallrec-8bit-fp16-pad"]["status"] == "skipped"   # 8-bit needs CUDA
    for setup in ("bf16-pad", "bf16-packed"):
        assert rows[setup]["status"] == "ok", rows[setup]
        assert rows[setup]["tokens_per_s"] > 0 and rows[setup]["mfu"] is None   # no peak on a CPU
    assert rows["bf16-packed"]["padding_share"] == 0.0
    assert out["status"] == "ok" and "bf16_base" in keep


def test_scorer_agrees_with_generate(assets):
    from transformers import AutoTokenizer

    from bench.gpu import scorer

    tok = AutoTokenizer.from_pretrained(str(assets / "tokenizers" / "llama"))
    model = gpu_assets.build_random_llama(assets / "tokenizers" / "llama", "tiny", None, device="cpu",
                                          dtype=torch.float32)
    out = scorer.run(model, tok, assets / "samples.json", "cpu", n=6, batch_size=4, max_new_tokens=2)
    assert out["samples"] == 6 and out["max_abs_diff"] < 1e-4
    assert out["scorer_samples_per_s"] > 0 and out["generate_samples_per_s"] > 0


@pytest.mark.slow   # two real trials (8-bit, ZeRO-2) on a tiny model: ~30-70 s on 2 busy cores
def test_gpu_trials_run_on_cpu_through_the_cpu_paths(assets, tmp_path, monkeypatch):
    """Since issue 21, 8-bit and DeepSpeed run on the CPU too (bitsandbytes' CPU backend,
    DeepSpeed's CPU accelerator): the rehearsal runs the same set-ups for real."""
    import importlib
    import sys

    pytest.importorskip("bitsandbytes")
    pytest.importorskip("deepspeed")
    from bench.gpu import trials

    for name in ("data.samples", "data.sampling"):   # run_trials installs stand-ins: undo them after
        monkeypatch.setitem(sys.modules, name, importlib.import_module(name))

    out = trials.run_trials("cpu", assets, tmp_path, tiny=True, n_test=4, setups=("8bit-fp16", "bf16-zero2"))
    rows = {r["setup"]: r for r in out["rows"]}
    assert out["status"] == "ok", out["rows"]
    assert all(r["global_step"] and r["auc"] for r in rows.values()), rows
    spec = trials.trial_spec(tmp_path, "bf16-zero2", out["samples"], 200)
    assert spec.k == 8 and spec.params["training"]["deepspeed"] == "ray_configs/deepspeed_zero2.json"


def test_install_picks_missing_wheels_for_this_python(tmp_path):
    from bench.gpu import install

    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    names = ["pytest-0.0.1-py3-none-any.whl",                       # installed, newer: skipped
             "surely_absent_pkg-1.0-py3-none-any.whl",               # missing: installed
             f"also_absent-2.0-{tag}-{tag}-manylinux2014_x86_64.whl",  # this python: installed
             "also_absent-2.0-cp27-cp27-manylinux2014_x86_64.whl"]    # another python: ignored
    chosen, notes = install.choose([tmp_path / n for n in names])
    assert [p.name for p in chosen] == sorted(names[1:3])
    assert any(n.startswith("skip pytest") for n in notes)
