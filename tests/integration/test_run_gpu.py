"""GPU scheduling: one trial per GPU, fractional GPUs, GPU memory released between trials.

Skipped without CUDA (this project's CI machine has none); run on a GPU host with
`python -m pytest -m gpu tests/integration/test_run_gpu.py`.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu, pytest.mark.timeout(300),
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

import tests.fixtures.methods  # noqa: E402,F401  registers test-gpu
from harness.cli import main  # noqa: E402
from harness.run.store import Store  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def run_gpu_grid(tmp_path: Path, gpus_per_trial: float, seeds: int, gpu_mb: int = 2048) -> list[dict]:
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"""name: gpu
imports: [tests.fixtures.methods]
grid:
  method: [test-gpu]
  k: [4]
  seed: [{", ".join(str(s) for s in range(seeds))}]
  train_mix: [movie]
resources:
  cpus_per_trial: 1
overrides:
  test-gpu:
    params: {{gpu_mb: {gpu_mb}, sleep_s: 2.0}}
    resources: {{gpus_per_trial: {gpus_per_trial}}}
""")
    db = tmp_path / "r.duckdb"
    old = os.getcwd()
    os.chdir(REPO)
    try:
        assert main(["run", str(grid), "--db", str(db)]) == 0
    finally:
        os.chdir(old)
    frame = Store(db).query("SELECT status, extra FROM trials")
    assert set(frame["status"]) == {"complete"}
    import json

    return [json.loads(e) for e in frame["extra"]]


def _max_overlap(extras: list[dict]) -> int:
    events = sorted([(e["started"], 1) for e in extras] + [(e["finished"], -1) for e in extras])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def test_one_trial_per_gpu_and_memory_released_between_trials(tmp_path):
    gpus = torch.cuda.device_count()
    extras = run_gpu_grid(tmp_path, gpus_per_trial=1, seeds=2 * gpus + 1)
    assert _max_overlap(extras) <= gpus                   # never two trials on one GPU
    assert all(e["visible"] not in (None, "") for e in extras)
    assert all(e["allocated_mb"] >= 2048 for e in extras)   # the trial really held its block
    # After each trial the worker collected and emptied CUDA's cache: nothing of the 2 GiB is
    # left, on reused workers too (fewer worker processes than trials).
    assert all(e["gpu_allocated_mb"] < 64 for e in extras), extras
    assert not any("gpu_leak_mb" in e for e in extras)
    assert len({e["pid"] for e in extras}) < len(extras)


def test_fractional_gpus_share_a_device(tmp_path):
    extras = run_gpu_grid(tmp_path, gpus_per_trial=0.5, seeds=4, gpu_mb=512)
    assert _max_overlap(extras) >= 2                      # two trials on one GPU at once
