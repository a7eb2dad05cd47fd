"""One trial across several devices: Ray Train's TorchTrainer starts one process per device
(it sets up the process group: NCCL on GPUs, gloo on CPUs, and RANK / WORLD_SIZE / MASTER_*),
every process runs the same `run_trial`, the HF Trainer and DeepSpeed train data-parallel in
that group (every rank joins the adapter save: ZeRO-3 gathers), and rank 0 (which wrote the
adapter and scored) hands back its TrialResult; the other ranks wait for it at a barrier (so
rank 0's scoring must fit in TorchConfig's timeout, 30 min by default).

All ranks share one work folder (under the Train run's storage, which Ray requires every worker
to reach): the HF Trainer writes a checkpoint from rank 0 and DeepSpeed's ZeRO shards from every
rank into it, and each rank looks for the best checkpoint there. With a temp folder per rank,
rank 1 found no best checkpoint, skipped `load_best_model_at_end` while rank 0 ran its
collectives, and gloo aborted (`op.preamble.length`) under ZeRO-3.

Used by the worker for a DeepSpeed trial given `gpus_per_trial` >= 2; the Tune trial itself
then holds one CPU (this driver of the Train run) and the Train workers hold the devices.
"""
from __future__ import annotations

import pickle
import shutil
import tempfile
from pathlib import Path

from harness.core.result import TrialResult
from harness.core.spec import TrialSpec

RESULT_FILE = "trial_result.pkl"


def spans_devices(spec: TrialSpec, gpus: float) -> bool:
    """A DeepSpeed trial given whole GPUs >= 2 runs one process per GPU."""
    training = spec.params.get("training") or {}
    return bool(training.get("deepspeed")) and gpus >= 2 and float(gpus).is_integer()


def _train_loop(config: dict) -> None:
    """Runs in every Train worker (one per device)."""
    import ray.train
    from ray.train import Checkpoint

    from harness.core.context import TrialContext
    from harness.core.trial import run_trial

    for module in config["imports"]:
        __import__(module)
    result = run_trial(TrialSpec.from_json(config["spec"]), TrialContext(**config["ctx"]))
    # The other ranks leave run_trial after training, rank 0 after saving and scoring: they wait
    # here, since gloo aborts a process whose peer closed the group (within TorchConfig's timeout)
    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
    if ray.train.get_context().get_world_rank() != 0:
        ray.train.report({"rank": ray.train.get_context().get_world_rank()})
        return
    with tempfile.TemporaryDirectory(prefix="harness-rank0-") as tmp:
        (Path(tmp) / RESULT_FILE).write_bytes(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
        ray.train.report({"rank": 0, "status": result.status}, checkpoint=Checkpoint.from_directory(tmp))


def run_distributed(spec: TrialSpec, ctx: dict, workers: int, use_gpu: bool, storage_path: str,
                    cpus_per_worker: float = 1.0, imports: tuple[str, ...] = ()) -> TrialResult:
    """`spec` on `workers` processes (one device each); returns rank 0's TrialResult."""
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    name = f"{spec.trial_id[:12]}-devices"
    work = Path(storage_path) / f"{name}-work"
    trainer = TorchTrainer(
        _train_loop, train_loop_config={"spec": spec.canonical_json(), "ctx": {**ctx, "work_dir": str(work)},
                                        "imports": list(imports)},
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=use_gpu,
                                     resources_per_worker={"CPU": cpus_per_worker, **({"GPU": 1} if use_gpu else {})}),
        torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
        run_config=RunConfig(name=name, storage_path=storage_path))
    try:
        outcome = trainer.fit()
        with outcome.checkpoint.as_directory() as folder:
            result: TrialResult = pickle.loads((Path(folder) / RESULT_FILE).read_bytes())
    finally:
        shutil.rmtree(work, ignore_errors=True)   # scratch: the kept adapter lives under artifacts_dir
    result.extra.pop("adapter_dir", None)          # it pointed into the removed work folder
    return result
