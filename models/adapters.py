"""LoRA adapters on a borrowed base model: attach a fresh or saved one, detach it again.

The base model belongs to the worker's model cache (models/cache.py): every trial attaches its
own adapter and must detach it (`detach`), which leaves the base exactly as loaded.
"""
from __future__ import annotations

import contextlib
import logging
import warnings
from pathlib import Path

from harness.core.config import LoraConfig
from harness.core.errors import HarnessError

logging.getLogger("bitsandbytes").setLevel(logging.ERROR)  # before peft is imported

ADAPTER_FILES = ("adapter_model.safetensors", "adapter_model.bin")


def peft_lora_config(block: LoraConfig):
    from peft import LoraConfig as PeftLoraConfig

    return PeftLoraConfig(r=block.r, lora_alpha=block.alpha, lora_dropout=block.dropout,
                          target_modules=list(block.target_modules), bias="none", task_type="CAUSAL_LM")


@contextlib.contextmanager
def _quiet():
    # peft reads the deprecated `is_gradient_checkpointing` of transformers 5 models
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


def attach_new(model, block: LoraConfig, seed: int):
    """A fresh LoRA (A random from `seed`, B zero) on the base; returns the PeftModel."""
    from peft import get_peft_model
    from transformers import set_seed

    set_seed(seed)
    try:
        with _quiet():
            return get_peft_model(model, peft_lora_config(block))
    except ValueError as exc:  # e.g. target modules not found in the model
        raise HarnessError(f"cannot attach LoRA {block.model_dump()}: {' '.join(str(exc).split())[:300]}") from exc


def check_adapter_dir(path: str | Path, what: str = "adapter") -> Path:
    p = Path(path).expanduser()
    if not p.is_dir():
        raise HarnessError(f"{what} path does not exist: {path}")
    if not (p / "adapter_config.json").is_file() or not any((p / f).is_file() for f in ADAPTER_FILES):
        raise HarnessError(f"{what} path {path} is not a PEFT adapter (needs adapter_config.json and "
                           f"{' or '.join(ADAPTER_FILES)})")
    return p


def attach_saved(model, path: str | Path, trainable: bool):
    """A saved PEFT adapter (standard format) on the base; `trainable` to keep training it."""
    from peft import PeftModel

    p = check_adapter_dir(path)
    with _quiet():
        return PeftModel.from_pretrained(model, str(p), is_trainable=trainable)


def detach(peft_model):
    """Remove the adapter layers (no merge) and PEFT's bookkeeping; returns the bare base."""
    base = peft_model.unload()
    if hasattr(base, "peft_config"):
        del base.peft_config
    for name in ("_hf_peft_config_loaded",):
        if getattr(base, name, False):
            setattr(base, name, False)
    return base


def adapter_summary(path: str | Path) -> dict:
    """Size and non-emptiness of a saved adapter: TALLRec users hit 4 KB all-zero adapters, and
    an unfinished ZeRO-3 save writes `[0]`-shaped tensors (refused: one line)."""
    import torch
    from safetensors.torch import load_file

    p = Path(path)
    f = p / "adapter_model.safetensors"
    tensors = load_file(str(f)) if f.is_file() else torch.load(p / "adapter_model.bin", map_location="cpu", weights_only=True)
    empty = sorted(k for k, t in tensors.items() if t.numel() == 0 or t.dim() != 2)
    if not tensors or empty:   # e.g. ZeRO-3 shards saved without gathering them
        raise HarnessError(f"the saved adapter {p} has empty or malformed tensors "
                           f"({len(empty)} of {len(tensors)}, e.g. {empty[0] if empty else 'none saved'})")
    b_norm = sum(float(t.float().norm()) for k, t in tensors.items() if "lora_B" in k)
    return {"adapter_bytes": sum(x.stat().st_size for x in p.iterdir() if x.is_file()),
            "adapter_tensors": len(tensors), "lora_B_norm": b_norm}


def keep_adapter(saved: str | Path, artifacts_dir: Path, trial_id: str) -> dict:
    """Copy a trial's saved adapter to `artifacts_dir/adapters/<trial_id>/` (a standard PEFT
    folder) and describe it for the store: path, bytes, sha256 of the weights file and (`files`)
    of every file in it, which `harness export` checks. The copy lands under a temporary name
    first, so a crash never leaves a half-written adapter, and a retried trial replaces the
    earlier attempt's."""
    import os
    import shutil

    src = check_adapter_dir(saved, "trained adapter")
    target = Path(artifacts_dir).expanduser().resolve() / "adapters" / trial_id
    partial = target.with_name(f".{trial_id}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(src, partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    weights = next(target / f for f in ADAPTER_FILES if (target / f).is_file())
    files = {x.name: _sha256(x) for x in sorted(target.iterdir()) if x.is_file()}
    return {"path": str(target), "bytes": sum(x.stat().st_size for x in target.iterdir() if x.is_file()),
            "weights_file": weights.name, "sha256": files[weights.name], "files": files}


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
