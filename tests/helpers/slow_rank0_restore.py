"""Importing this module makes rank 0 of a process group wait 5 s before it reads a ZeRO
optimizer shard back (DeepSpeed's checkpoint engine), so the other ranks finish
`load_best_model_at_end` first: the order in which a rank that cleans up the shared work folder
too early deletes a shard rank 0 still needs. For Ray Train workers; never the test process."""
import time

import torch.distributed as dist
from deepspeed.runtime.checkpoint_engine.torch_checkpoint_engine import TorchCheckpointEngine

_load = TorchCheckpointEngine.load


def _late_rank0_load(self, path: str, map_location=None):
    if "optim_states" in str(path) and dist.is_initialized() and dist.get_rank() == 0:
        time.sleep(5)
    return _load(self, path, map_location=map_location)


TorchCheckpointEngine.load = _late_rank0_load
