"""GPU scheduling: one trial per GPU, fractional GPUs, GPU pairs, workers reused, and a trial
given a GPU where there is no CUDA.

The scheduling tests run everywhere (CI included): `harness run` starts a local Ray with logical
GPUs (`ray: {num_gpus: N}`) and the CUDA-free `test-logical-gpu` method records the ids Ray gave
it. Ray schedules logical GPUs exactly as real ones (CUDA_VISIBLE_DEVICES included). The
CUDA-memory tests (`gpu` marker) need CUDA: `python -m pytest -m gpu tests/integration/test_run_gpu.py`.
"""
from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import pytest

import tests.fixtures.methods  # noqa: F401  registers test-gpu and test-logical-gpu
from harness.cli import main
from harness.core.methods import METHODS
from harness.run.store import Store

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.timeout(300)]
torch = pytest.importorskip("torch")
CUDA = torch.cuda.is_available()

# A second name for the CUDA-free method, so one grid can ask for two GPU shapes.
if "test-logical-gpu-pair" not in METHODS:
    METHODS.register("test-logical-gpu-pair", "tests.fixtures.methods:logical_gpu")


def run_grid(tmp_path: Path, methods: dict[str, tuple[float, dict]], seeds: int, ray: str = "",
             expect_rc: int = 0) -> list[dict]:
    """methods: name -> (gpus_per_trial, params), each run with seeds 0..seeds-1. Returns every
    stored row (status, error and the trial's extra)."""
    overrides = "".join(
        f"  {m}:\n    params: {json.dumps(params)}\n    resources: {{gpus_per_trial: {gpus}}}\n"
        for m, (gpus, params) in methods.items())
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"""name: gpu
imports: [tests.fixtures.methods]
grid:
  method: [{", ".join(methods)}]
  k: [4]
  seed: [{", ".join(str(s) for s in range(seeds))}]
  train_mix: [movie]
resources:
  cpus_per_trial: 1
{ray}overrides:
{overrides}""")
    db = tmp_path / "r.duckdb"
    old = os.getcwd()
    os.chdir(REPO)
    try:
        assert main(["run", str(grid), "--db", str(db)]) == expect_rc
    finally:
        os.chdir(old)
    frame = Store(db).query("SELECT method, seed, status, error, extra FROM trials")
    rows = []
    for r in frame.itertuples():
        extra = json.loads(r.extra) if r.extra else {}
        rows.append({"method": r.method, "status": r.status, "error": r.error, **extra})
    return rows


def _max_overlap(extras: list[dict]) -> int:
    events = sorted([(e["started"], 1) for e in extras] + [(e["finished"], -1) for e in extras])
    now = peak = 0
    for _, step in events:
        now += step
        peak = max(peak, now)
    return peak


def _per_id(extras: list[dict]) -> dict[str, int]:
    """GPU id -> the most trials that held it at the same time."""
    by_id = defaultdict(list)
    for e in extras:
        for gpu in e["visible"].split(","):
            by_id[gpu].append(e)
    return {gpu: _max_overlap(trials) for gpu, trials in by_id.items()}


# -- on logical GPUs (CI; ~30 s each on 2 busy cores: a local Ray start and 2-3 s trials) -----------
@pytest.mark.slow
def test_one_trial_per_logical_gpu_and_workers_reused(tmp_path):
    methods = {"test-logical-gpu": (1, {"sleep_s": 2.0})}
    if not CUDA:   # a CUDA-needing method given a GPU here fails with one line, not on the CPU
        methods["test-gpu"] = (1, {"gpu_mb": 16})
    rows = run_grid(tmp_path, methods, seeds=5, ray="ray: {num_cpus: 8, num_gpus: 2, max_retries: 0}\n",
                    expect_rc=0 if CUDA else 1)
    extras = [r for r in rows if r["method"] == "test-logical-gpu"]
    assert len(extras) == 5 and {r["status"] for r in extras} == {"complete"}
    assert 1 <= _max_overlap(extras) <= 2                  # never more trials than GPUs
    assert all(e["visible"] in ("0", "1") for e in extras)  # CUDA_VISIBLE_DEVICES: one id each
    assert max(_per_id(extras).values()) == 1               # never two trials on one id
    assert len({e["pid"] for e in extras}) < len(extras)    # actors reused between trials
    if not CUDA:
        failed = [r for r in rows if r["method"] == "test-gpu"]
        assert len(failed) == 5 and {r["status"] for r in failed} == {"failed"}
        error = failed[0]["error"].strip()
        assert "\n" not in error and "was given 1 GPU" in error and "no usable CUDA" in error, error


@pytest.mark.slow
def test_fractional_gpus_share_an_id_and_pairs_take_two(tmp_path):
    rows = run_grid(tmp_path, {"test-logical-gpu": (0.5, {"sleep_s": 3.0}),
                               "test-logical-gpu-pair": (2, {"sleep_s": 1.0})},
                    seeds=4, ray="ray: {num_cpus: 8, num_gpus: 2}\n")
    assert {r["status"] for r in rows} == {"complete"} and len(rows) == 8
    halves = [r for r in rows if r["method"] == "test-logical-gpu"]
    pairs = [r for r in rows if r["method"] == "test-logical-gpu-pair"]
    assert all("," not in e["visible"] for e in halves)
    assert max(_per_id(halves).values()) == 2               # two halves on one id at once
    assert all(sorted(e["visible"].split(",")) == ["0", "1"] for e in pairs)
    # a pair holds both GPUs: nothing else runs beside it
    for p in pairs:
        assert not [h for h in halves if h["started"] < p["finished"] and p["started"] < h["finished"]]


@pytest.mark.slow
def test_a_deepspeed_trial_on_two_logical_gpus_runs_one_process_per_device(tmp_path):
    # the real path: Tune trial -> missing_cuda (lets a CUDA-free method through) -> _run_on_devices
    # -> Ray Train, 2 CPU workers with gloo -> rank 0's result back through Tune into the store
    rows = run_grid(tmp_path, {"test-devices": (2, {})}, seeds=1,
                    ray="ray: {num_cpus: 4, num_gpus: 2, max_retries: 0}\n"
                        "training: {deepspeed: ray_configs/deepspeed_zero2.json}\n")
    assert len(rows) == 1 and rows[0]["status"] == "complete", rows
    ranks = rows[0]["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1] and len({r["pid"] for r in ranks}) == 2
    assert rows[0]["pid"] == ranks[0]["pid"] and rows[0]["device"] == "cpu"


# -- CUDA memory (GPU hosts only) ----------------------------------------------------------------
@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_one_trial_per_gpu_and_memory_released_between_trials(tmp_path):
    gpus = torch.cuda.device_count()
    extras = run_grid(tmp_path, {"test-gpu": (1, {"gpu_mb": 2048, "sleep_s": 2.0})}, seeds=2 * gpus + 1)
    assert _max_overlap(extras) <= gpus                   # never two trials on one GPU
    assert all(e["visible"] not in (None, "") for e in extras)
    assert all(e["allocated_mb"] >= 2048 for e in extras)   # the trial really held its block
    # After each trial the worker collected and emptied CUDA's cache: nothing of the 2 GiB is
    # left, on reused workers too (fewer worker processes than trials).
    assert all(e["gpu_allocated_mb"] < 64 for e in extras), extras
    assert not any("gpu_leak_mb" in e for e in extras)
    assert len({e["pid"] for e in extras}) < len(extras)


@pytest.mark.gpu
@pytest.mark.skipif(not CUDA, reason="needs CUDA")
def test_fractional_gpus_share_a_device(tmp_path):
    extras = run_grid(tmp_path, {"test-gpu": (0.5, {"gpu_mb": 512, "sleep_s": 2.0})}, seeds=4)
    assert _max_overlap(extras) >= 2                      # two trials on one GPU at once
