"""A trial across several devices: Ray Train's TorchTrainer, one process per device, DeepSpeed
data-parallel in the group it sets up. On the CPU: 2 workers, gloo, the same adapter and scores
as one process within float tolerance."""
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("deepspeed")
pytest.importorskip("ray")

from harness.core.spec import TrialSpec  # noqa: E402
from harness.tune.multiworker import spans_devices  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
# dropout off: each rank draws its own dropout masks, so only then are 1 and 2 processes the
# same computation (up to the order of float sums); K = batch: every step sees every row
TRAINING = {"epochs": 2, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 1e-3,
            "warmup_steps": 0, "valid_max_samples": 8, "patience": 2, "score_batch_size": 16,
            "deepspeed": "ray_configs/deepspeed_zero2.json"}
AT = {"max_records": 8, "batch_size": 8, "micro_batch_size": 4, "epochs": 1, "warmup_steps": 0}


def rt_spec(tiny_dir, training=TRAINING, variant="RT") -> TrialSpec:
    params = {"lora": {"dropout": 0.0}, "training": training, **({"at": AT} if variant == "full" else {})}
    return TrialSpec(method="tallrec", variant=variant, train_mix="movie", k=8, seed=1,
                     model={"name": str(tiny_dir)}, params=params)


def _max_difference(first_dir, second_dir) -> float:
    from safetensors.torch import load_file

    first = load_file(f"{first_dir}/adapter_model.safetensors")
    second = load_file(f"{second_dir}/adapter_model.safetensors")
    assert first.keys() == second.keys()
    return max(float((first[k] - second[k]).abs().max()) for k in first)


def test_which_trials_span_devices(tiny_dir):
    assert spans_devices(rt_spec(tiny_dir), 2) and spans_devices(rt_spec(tiny_dir), 4)
    assert not spans_devices(rt_spec(tiny_dir), 1) and not spans_devices(rt_spec(tiny_dir), 0.5)
    plain = rt_spec(tiny_dir, {k: v for k, v in TRAINING.items() if k != "deepspeed"})
    assert not spans_devices(plain, 2)   # without DeepSpeed a trial trains in one process


def test_trial_resources_of_a_spanning_trial_leave_the_devices_to_ray_train(tiny_dir):
    from harness.tune.worker import trial_resources

    spanning = trial_resources({"spec": rt_spec(tiny_dir).canonical_json(), "resources": (4.0, 2.0)})
    assert spanning.required_resources == {"CPU": 0.01}
    single = trial_resources({"spec": rt_spec(tiny_dir).canonical_json(), "resources": (4.0, 1.0)})
    assert single.required_resources == {"CPU": 4.0, "GPU": 1.0}


def test_a_search_trial_of_a_spanning_cell_takes_one_gpu(tiny_dir):
    """A search trial reports its validation passes to Tune from one process: it gets one GPU
    where `harness run` would spread the cell's DeepSpeed trial over several."""
    from harness.tune.search import search_resources

    assert search_resources(rt_spec(tiny_dir), 4.0, 2.0) == {"cpu": 4.0, "gpu": 1.0}
    plain = rt_spec(tiny_dir, {k: v for k, v in TRAINING.items() if k != "deepspeed"})
    assert search_resources(plain, 4.0, 2.0) == {"cpu": 4.0, "gpu": 2.0}
    assert search_resources(plain, 2.0, 0.5) == {"cpu": 2.0, "gpu": 0.5}
    assert search_resources(plain, 1.0, 0.0) == {"cpu": 1.0}


@pytest.mark.slow      # a local Ray, a Train run of 2 processes and one plain trial: ~1-3 min
@pytest.mark.timeout(600)
# full under ZeRO-3 covers the shared AT build and the fresh base after it (full under ZeRO-2
# passes too: ~30 s more of the suite's 15-minute budget)
@pytest.mark.parametrize("variant, zero", [("RT", "deepspeed_zero2.json"), ("RT", "deepspeed_zero3.json"),
                                           ("full", "deepspeed_zero3.json")])
def test_two_cpu_workers_give_the_adapter_and_scores_of_one_process(variant, zero, tiny_dir, tmp_path,
                                                                    monkeypatch):
    """full: both ranks train the missing AT adapter together (rank 1 used to wait on the cache
    lock while rank 0 trained in the group: the trial hung), then RT on a base ZeRO-3 left whole."""
    import ray

    import sys

    from harness.core.context import TrialContext
    from harness.core.trial import run_trial
    from harness.tune.multiworker import run_distributed
    from harness.tune.session import _configure_env, _local_auth

    from tests.helpers import llm as testing

    # the Train workers import tests.helpers.fake_data_installed; here: undone after the test.
    # They also import slow_rank0_restore: rank 0 restores its best checkpoint last, the order in
    # which a rank deleting the shared checkpoints early broke the restore (a CI flake before),
    # and rank1_scores_differ: rank 1 scores validation rows as 1 - P(Yes), so the ranks agree on
    # the best checkpoint only if rank 0's scores decide for all
    for name, module in testing.fake_data_modules(testing.WORKER_SIZES).items():
        monkeypatch.setitem(sys.modules, name, module)
    spec = rt_spec(tiny_dir, {**TRAINING, "deepspeed": f"ray_configs/{zero}"}, variant)
    one = run_trial(spec, TrialContext(cache_dir=tmp_path / "cache-one", artifacts_dir=tmp_path / "one"))
    assert one.status == "complete", one.error

    _configure_env()
    _local_auth()
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")   # loopback only, as a local run
    temp = tempfile.mkdtemp(prefix="rh-mw-", dir="/tmp")
    ray.init(num_cpus=3, num_gpus=0, _temp_dir=temp, include_dashboard=False, log_to_driver=False,
             object_store_memory=256 * 2**20,
             runtime_env={"env_vars": {"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}})
    try:
        two = run_distributed(spec, {"cache_dir": str(tmp_path / "cache-two"), "artifacts_dir": str(tmp_path / "two")},
                              workers=2, use_gpu=False, storage_path=str(tmp_path / "train"),
                              imports=("tests.helpers.fake_data_installed", "tests.helpers.slow_rank0_restore",
                                       "tests.helpers.rank1_scores_differ"))
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
    assert two.status == "complete", two.error
    # the ranks' shared work folder (checkpoints, ZeRO shards) is gone; the kept adapter stays
    assert not list((tmp_path / "train").glob("*-work")) and "adapter_dir" not in two.extra
    assert two.extra["global_step"] == one.extra["global_step"] == 2
    for domain in ("movie", "book"):
        a = one.predictions[domain].sort_values("sample_id")["score"].to_numpy()
        b = two.predictions[domain].sort_values("sample_id")["score"].to_numpy()
        assert np.abs(a - b).max() < 1e-4, (domain, np.abs(a - b).max())
    assert _max_difference(one.extra["kept_adapter"]["path"], two.extra["kept_adapter"]["path"]) < 1e-4
    if variant == "full":   # each built its own AT adapter (own caches): the same weights
        assert one.extra["at_adapter"]["built"] and two.extra["at_adapter"]["built"]
        assert one.extra["at_adapter"]["key"] == two.extra["at_adapter"]["key"]
        assert _max_difference(one.extra["at_adapter"]["path"], two.extra["at_adapter"]["path"]) < 1e-4
