"""The worker side: one Tune trial runs one TrialSpec through `run_trial` (which knows nothing of Ray).

step() returns the pickled TrialResult; a failed result is returned with done=False and the next
step() raises, so that Tune retries the trial on a fresh worker. Actors are reused between trials
of the same resource shape, and with them the worker-level model cache.
"""
from __future__ import annotations

import gc
import importlib
import os
import pickle
import sys
import time
from pathlib import Path

from ray import tune
from ray.tune import PlacementGroupFactory

from harness.core import provenance
from harness.core.context import TrialContext
from harness.core.methods import METHODS, method_info
from harness.core.result import TrialResult
from harness.core.spec import TrialSpec
from harness.core.trial import run_trial
from harness.tune.multiworker import run_distributed, spans_devices

_prepared: set = set()


def prepare_worker(config: dict) -> None:
    """Import the grid's plugin modules and mirror the driver's method registrations."""
    key = (tuple(config["imports"]), tuple(sorted(config["registry"].items())))
    if key in _prepared:
        return
    for module in config["imports"]:
        importlib.import_module(module)
    for name, target in config["registry"].items():
        if name not in METHODS:
            METHODS.register(name, target)
    _prepared.add(key)


def release_accelerator_memory() -> dict[str, float]:
    """Free the GPU memory the last trial left: collect garbage (tensors in reference cycles),
    then return CUDA's cached blocks. Returns what stays allocated ({} where CUDA is unused).

    Only where CUDA is in use: a full gc.collect() costs 0.15-0.3 s in a worker that imported
    torch and pandas, which would triple the per-trial overhead of small CPU trials.
    """
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.ipc_collect()
    return {"gpu_allocated_mb": torch.cuda.memory_allocated() / 2**20,
            "gpu_reserved_mb": torch.cuda.memory_reserved() / 2**20}


def missing_cuda(spec: TrialSpec, gpus: float) -> TrialResult | None:
    """A failed result (one line) for a trial Ray gave GPUs on a worker where torch finds no
    CUDA (a broken driver, a CPU build of torch): it must not run on the CPU unnoticed."""
    if not gpus or not method_info(spec.method).needs_cuda:
        return None
    try:
        import torch

        if torch.cuda.is_available():
            return None
        build = f"torch {torch.__version__}"
    except ImportError:
        build = "torch is not installed"
    now = time.time()
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    return TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(), status="failed",
                       error=f"this trial was given {gpus:g} GPU (CUDA_VISIBLE_DEVICES={visible!r}) "
                             f"but this worker has no usable CUDA ({build}): fix the node's GPU "
                             "driver or torch, or set gpus_per_trial: 0 to run on CPUs",
                       started_at=now, finished_at=now, host=provenance.host(), device="cpu")


def trial_resources(config: dict):
    cpus, gpus = config["resources"]
    if spans_devices(TrialSpec.from_json(config["spec"]), gpus):
        # the Tune trial only drives a Ray Train run, whose workers hold the CPUs and GPUs
        return PlacementGroupFactory([{"CPU": 0.01}])
    return PlacementGroupFactory([{"CPU": cpus, "GPU": gpus} if gpus else {"CPU": cpus}])


class HarnessTrainable(tune.Trainable):
    """Runs one TrialSpec per Tune trial; a reused actor runs one trial after another.

    step() returns the result with done=True. A failed result is returned with done=False
    and the next step() raises, so that Tune retries the trial on a fresh worker.
    """

    def setup(self, config: dict):
        # Relative paths in a grid mean what they mean on the driver (where that directory
        # exists: on the driver's machine, or a shared filesystem).
        if os.path.isdir(config["cwd"]) and os.getcwd() != config["cwd"]:
            os.chdir(config["cwd"])
        self._config = config
        self._failure: str | None = None
        self._baseline_mb: float | None = None

    def reset_config(self, new_config: dict) -> bool:
        self._config = new_config   # memory was released at the end of the last step()
        self._failure = None
        return True

    def step(self) -> dict:
        if self._failure:
            raise RuntimeError(self._failure)

        config = self._config
        prepare_worker(config)
        spec = TrialSpec.from_json(config["spec"])
        ctx = TrialContext(raw_dir=config["raw_dir"], artifacts_dir=config.get("artifacts_dir"),
                           **({"cache_dir": config["cache_dir"]} if config["cache_dir"] else {}))
        gpus = config["resources"][1]
        missing = missing_cuda(spec, gpus)
        if missing is not None:
            result = missing
        elif spans_devices(spec, gpus):
            result = self._run_on_devices(spec, ctx, int(gpus))
        else:
            result = run_trial(spec, ctx)
        result.extra.update(config.get("extra") or {})
        del spec, ctx
        memory = release_accelerator_memory()
        if memory:
            result.extra.update(memory)
            held = memory["gpu_allocated_mb"]
            if self._baseline_mb is None:
                self._baseline_mb = held        # what the worker-level caches keep
            elif held - self._baseline_mb > config["gpu_leak_mb"]:
                result.extra["gpu_leak_mb"] = held - self._baseline_mb
        payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        if result.status == "complete":
            return {"harness_payload": payload, "done": True}
        last = (result.error or "failed").strip().splitlines()[-1:] or ["failed"]
        self._failure = f"trial failed (stored with its error): {last[0]}"
        return {"harness_payload": payload, "done": False}

    def _run_on_devices(self, spec: TrialSpec, ctx: TrialContext, devices: int) -> TrialResult:
        """One process per GPU through Ray Train (harness/tune/multiworker.py); a failure of
        the Train run is this trial's failure, stored like any other. A method that needs no
        CUDA (missing_cuda let it through) runs its ranks on CPU workers with gloo: how CI
        exercises this path on logical GPUs."""
        import tempfile
        import traceback

        config = self._config
        storage = str(Path(config["artifacts_dir"]) / "train") if config.get("artifacts_dir") \
            else tempfile.mkdtemp(prefix="harness-train-")
        cuda = method_info(spec.method).needs_cuda
        ctx_kwargs = {"raw_dir": ctx.raw_dir, "cache_dir": str(ctx.cache_dir), "device": "cuda" if cuda else "cpu",
                      "artifacts_dir": config.get("artifacts_dir")}
        started = time.time()
        try:
            return run_distributed(spec, ctx_kwargs, devices, use_gpu=cuda, storage_path=storage,
                                   cpus_per_worker=config["resources"][0] / devices,
                                   imports=tuple(config["imports"]))
        except Exception as exc:  # noqa: BLE001 - a trial's failure is data, not a crash
            return TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(), status="failed",
                               error="".join(traceback.format_exception(exc)).strip()[-8000:],
                               started_at=started, finished_at=time.time(), host=provenance.host())

    def cleanup(self):
        release_accelerator_memory()
