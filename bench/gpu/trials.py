"""Steps a and b of the GPU check.

a. The GPU-marked tests as they are (`pytest -m gpu`), in a child process with a time limit; its
   summary line, exit code and log tail are recorded.
b. One `tallrec` RT trial through `run_trial` (no Ray) per set-up: 8-bit + fp16 (TALLRec's),
   bf16 without 8-bit, bf16 with `deepspeed: ray_configs/deepspeed_zero2.json`. The model is a
   SmolLM2-135M-shaped Llama, random-initialised from a config (the SmolLM2 GGUF does not fit the
   64 MiB that travels), with SmolLM2's tokenizer; the rows are real (gpu_assets/samples.json).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
GPU_TESTS = ("tests/unit/models/test_gpu.py", "tests/integration/test_run_gpu.py")
TRIAL_SETUPS = {
    "8bit-fp16": ({"dtype": "float16", "load_in_8bit": True}, {}),
    "bf16": ({"dtype": "bfloat16"}, {}),
    "bf16-zero2": ({"dtype": "bfloat16"}, {"deepspeed": "ray_configs/deepspeed_zero2.json"}),
}
TRAINING = {"epochs": 2, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 3e-4,
            "warmup_steps": 0, "valid_max_samples": 32, "score_batch_size": 32, "patience": 10}


def run_gpu_tests(timeout_s: int = 300, log_dir: Path | None = None, tests=GPU_TESTS) -> dict:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-s", "-p", "no:cacheprovider",
           "--continue-on-collection-errors", *tests]  # test_run_gpu.py needs ray: the rest still runs
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout_s,
                              check=False)
        rc, log = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, log = None, f"{exc.stdout or ''}{exc.stderr or ''}"
        log = log.decode(errors="replace") if isinstance(log, bytes) else log
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
        (Path(log_dir) / "gpu_check_pytest.log").write_text(log)
    summary = next((ln.strip("= ") for ln in reversed(log.splitlines())
                    if re.search(r"\b(passed|failed|skipped|error|no tests ran)\b", ln)), "")
    status = "ok" if rc == 0 else "failed"
    return {"status": status, "error": None if rc == 0 else (
        f"pytest timed out after {timeout_s} s" if rc is None else f"pytest exit {rc}: {summary}"),
            "command": " ".join(cmd[1:]), "rc": rc, "summary": summary, "pytest_s": round(time.perf_counter() - t0, 1),
            "log_tail": log[-2500:]}


def trial_spec(model_dir: Path, setup: str, samples: dict, n_test: int, domains=("movie", "book")):
    from harness.core.spec import TrialSpec

    model, training = TRIAL_SETUPS[setup]
    return TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=samples["k"], seed=samples["seed"],
                     model={"name": str(model_dir), **model},
                     params={"lora": {}, "training": {**TRAINING, **training}},
                     eval={"domains": tuple(d for d in domains if d in samples["rows"]), "max_samples": n_test})


def run_trials(device: str, assets: Path, work: Path, *, tiny: bool = False, n_test: int = 200,
               setups=tuple(TRIAL_SETUPS)) -> dict:
    """One RT trial per set-up; each trial's failure is a row, not a stop."""
    from bench.gpu.assets import build_random_llama, install_samples
    from harness.core.context import TrialContext
    from harness.core.trial import run_trial

    samples = install_samples(Path(assets) / "samples.json")
    t0 = time.perf_counter()
    model_dir = build_random_llama(Path(assets) / "tokenizers" / "smollm2", "tiny" if tiny else "smollm2",
                                   Path(work) / "models")
    build_s = time.perf_counter() - t0
    rows = []
    for setup in setups:
        spec = trial_spec(model_dir, setup, samples, n_test)
        t0 = time.perf_counter()
        r = run_trial(spec, TrialContext(cache_dir=Path(work) / "cache", device=device))
        x, t = r.extra, r.timings
        rows.append({"setup": setup, "status": "ok" if r.status == "complete" else "failed",
                     "error": r.error.strip().splitlines()[-1][:300] if r.error else None,
                     "wall_s": round(time.perf_counter() - t0, 2),
                     "auc": {m.eval_domain: None if m.auc is None else round(m.auc, 4) for m in r.metrics},
                     "n": {m.eval_domain: m.n for m in r.metrics},
                     **{k: round(v, 2) for k, v in t.items()},
                     "peak_cuda_mb": x.get("peak_cuda_mb"), "peak_rss_mb": x.get("peak_rss_mb"),
                     "global_step": x.get("global_step"), "tokens_seen": x.get("tokens_seen"),
                     "best_valid_auc": x.get("best_valid_auc"), "model_cache_hit": x.get("model_cache_hit")})
    from bench.gpu.common import overall

    return {"status": overall(rows),
            "model": f"random-init {'tiny' if tiny else 'SmolLM2-135M-shaped'} Llama, SmolLM2 tokenizer",
            "model_build_s": round(build_s, 2), "samples": samples, "training": TRAINING, "rows": rows}
