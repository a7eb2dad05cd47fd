"""DeepSpeed for one trial, on a GPU or on the CPU (DeepSpeed's CPU accelerator, gloo).

* `check_deepspeed(config)`: the JSON resolved (cwd, then the project root), parsed, and
  deepspeed importable; every problem one line.
* `trial_environment(device)`: the launcher variables a single-process DeepSpeed run needs,
  with a free `MASTER_PORT` per trial (two trials on one node must not collide on a fixed
  port), and on exit everything as it was: `os.environ` (the HF Trainer leaves
  `ACCELERATE_USE_DEEPSPEED=true` behind, which breaks the next plain trial of a reused
  worker), accelerate's process-wide state and transformers' ZeRO-3 flag. The (one-rank, gloo
  or NCCL) process group DeepSpeed creates stays for the worker's later DeepSpeed trials:
  DeepSpeed caches its groups, and a destroyed one breaks the next trial.
* `zero_stage(config)`: 3 partitions the parameters, so the adapter must be saved through the
  Trainer (gathered) and the trained model is not scored in place (models/training.py).
* `from_rank0(value)` / `side_group()`: in a trial of several processes, rank 0's decision for
  every rank (validation scores, whether the AT adapter is cached) over a gloo group.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import socket

from harness.core.config import deepspeed_config_path
from harness.core.errors import HarnessError

LAUNCHER_VARS = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE")


def check_deepspeed(config: str | None) -> str | None:
    """The absolute path of a readable, parsing DeepSpeed JSON, or None without one."""
    if not config:
        return None
    path = deepspeed_config_path(config)
    if importlib.util.find_spec("deepspeed") is None:
        raise HarnessError("DeepSpeed training needs deepspeed: "
                           "DS_BUILD_OPS=0 pip install --no-build-isolation deepspeed (scripts/setup.sh does)")
    return str(path)


def zero_stage(config: str | None) -> int:
    if not config:
        return 0
    with open(config) as fh:
        return int((json.load(fh).get("zero_optimization") or {}).get("stage", 0) or 0)


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice), for this trial's rendezvous."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def world_size() -> int:
    """Processes training this trial together (1 unless a launcher, e.g. Ray Train, set up a group)."""
    import torch.distributed as dist

    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    import torch.distributed as dist

    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


_SIDE: tuple | None = None   # (the process group it serves, a gloo group over the same ranks)


def side_group():
    """A gloo group over the trial's ranks for small Python messages: they need no device,
    whatever the training backend (NCCL). Made once per process group; `new_group` is
    collective, so every rank reaches the first call together."""
    global _SIDE
    import torch.distributed as dist

    if _SIDE is None or _SIDE[0] is not dist.group.WORLD:
        _SIDE = (dist.group.WORLD, dist.new_group(backend="gloo"))
    return _SIDE[1]


def from_rank0(value):
    """Rank 0's `value` on every rank of a multi-process trial (`value` itself in one process):
    where each rank decides on its own, two devices' floats could make them decide apart."""
    if world_size() == 1:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0, group=side_group())
    return box[0]


def _launched() -> bool:
    """True where a launcher (torchrun, Ray Train) set up a multi-process group already."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


@contextlib.contextmanager
def trial_environment(device: str):
    """Launcher variables for a single-process DeepSpeed trial; all restored afterwards."""
    saved = dict(os.environ)
    try:
        if not _launched():
            os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(free_port()), RANK="0",
                              LOCAL_RANK="0", WORLD_SIZE="1", LOCAL_WORLD_SIZE="1")
        if not device.startswith("cuda"):
            os.environ.setdefault("DS_ACCELERATOR", "cpu")   # also silences "Setting accelerator to CPU"
        yield
    finally:
        forget_zero3()
        _reset_accelerate_state()
        os.environ.clear()
        os.environ.update(saved)


def forget_zero3() -> None:
    """transformers keeps the last DeepSpeed config process-wide; while it lives, every
    `from_pretrained` builds a ZeRO-3-partitioned model (deepspeed.zero.Init)."""
    with contextlib.suppress(Exception):
        from transformers.integrations.deepspeed import unset_hf_deepspeed_config

        unset_hf_deepspeed_config()


def _reset_accelerate_state() -> None:
    """A DeepSpeed Trainer leaves accelerate's process-wide state configured for DeepSpeed."""
    try:
        from accelerate.state import AcceleratorState, GradientState

        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    except Exception:  # noqa: BLE001 - best effort; the next trial builds its own state
        pass
