"""Worker-level model cache: consecutive trials with the same base model reuse loaded weights.

A Ray worker (or any process) runs trial after trial; loading a 7B model each time costs more
than many small trials. `borrow(cfg, cache_dir, device)` hands out the cached base model when
the (model block, device) key matches, else loads it (dropping the previous one: one entry, so
memory stays bounded). Each trial puts its own fresh adapter on top and must take it off again
(`models.adapters.detach`); on return the cache checks that the base is clean (no adapter
modules, no PEFT config, training hooks removed, weights unchanged by a fingerprint) and drops
it otherwise, so nothing can leak from one trial into the next.

Set HARNESS_MODEL_CACHE=0 to load afresh for every trial.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.config import ModelConfig

log = logging.getLogger(__name__)


@dataclass
class LoadedBase:
    model: object
    tokenizer: object
    key: str
    device: str
    load_s: float = 0.0        # seconds spent loading for this borrow (0 on a cache hit)
    reused: bool = False
    fingerprint: float | None = None
    state: dict = field(default_factory=dict)


def weight_fingerprint(model) -> float:
    """A cheap checksum of every base weight (sum of per-tensor float64 sums, position-weighted)."""
    import torch

    total = 0.0
    with torch.no_grad():
        for i, (_, p) in enumerate(sorted(model.named_parameters(), key=lambda kv: kv[0])):
            total += (i + 1) * float(p.detach().sum(dtype=torch.float64))
    return total


def _model_key(cfg: ModelConfig, device: str) -> str:
    blob = json.dumps({"model": cfg.model_dump(mode="json"), "device": device}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def checkpointing_on(model) -> bool:
    """Activation (gradient) checkpointing state, under its transformers 5 or 4 name."""
    if hasattr(type(model), "is_activation_checkpointing"):
        return bool(model.is_activation_checkpointing)
    return bool(getattr(model, "is_gradient_checkpointing", False))


def _checkpointing_off(model) -> None:
    off = getattr(model, "activation_checkpointing_disable", None) or model.gradient_checkpointing_disable
    off()


def _hooks(model) -> int:
    return len(getattr(model, "_require_grads_hooks", None) or ()) or \
        int(getattr(model, "_require_grads_hook", None) is not None)


def _snapshot(model) -> dict:
    """What training may change outside the weights, as loaded (8-bit loading sets some)."""
    return {"use_cache": getattr(model.config, "use_cache", None),
            "checkpointing": checkpointing_on(model), "hooks": _hooks(model)}


def is_clean(model, state: dict) -> tuple[bool, str]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    if hasattr(model, "peft_config"):
        return False, "peft_config attribute left on the base model"
    for name, module in model.named_modules():
        if isinstance(module, BaseTunerLayer):
            return False, f"adapter layer left at {name}"
    if _hooks(model) != state.get("hooks", 0):
        return False, "input-require-grads hooks changed"
    if checkpointing_on(model) != state.get("checkpointing", False):
        return False, "gradient checkpointing changed"
    return True, ""


class ModelCache:
    def __init__(self):
        self._entry: LoadedBase | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.loads = 0

    @property
    def enabled(self) -> bool:
        return os.environ.get("HARNESS_MODEL_CACHE", "1") not in ("0", "false", "no")

    def clear(self) -> None:
        self._entry = None
        _free_memory()

    def acquire(self, cfg: ModelConfig, cache_dir: Path, device: str | None = None,
                cacheable: bool = True) -> LoadedBase:
        from models.loading import load_base, resolve_device

        device = resolve_device(device)
        key = _model_key(cfg, device)
        with self._lock:
            entry = self._entry
            if entry is not None and entry.key == key and cacheable and self.enabled:
                self.hits += 1
                entry.load_s, entry.reused = 0.0, True
                self._entry = None  # borrowed: not handed out twice
                return entry
            self.clear()
        t0 = time.perf_counter()
        model, tok = load_base(cfg, cache_dir, device)
        self.loads += 1
        entry = LoadedBase(model, tok, key, device, load_s=time.perf_counter() - t0,
                          state=_snapshot(model))
        if cacheable and self.enabled:
            entry.fingerprint = weight_fingerprint(model)
        return entry

    def release(self, entry: LoadedBase, cacheable: bool = True) -> None:
        """Take a borrowed base back; keep it only if it is provably as loaded."""
        model = entry.model
        _restore(model, entry.state)
        if not (cacheable and self.enabled and entry.fingerprint is not None):
            _free_memory()
            return
        clean, why = is_clean(model, entry.state)
        if clean and weight_fingerprint(model) != entry.fingerprint:
            clean, why = False, "base weights changed"
        if not clean:
            log.warning("model cache: dropping the base model (%s)", why)
            _free_memory()
            return
        model.eval()
        with self._lock:
            self._entry = entry


def _restore(model, state: dict) -> None:
    """Undo what training does to a base model outside its weights."""
    if checkpointing_on(model) and not state.get("checkpointing"):
        _checkpointing_off(model)
    if _hooks(model) and not state.get("hooks"):
        model.disable_input_require_grads()
    if "use_cache" in state and state["use_cache"] is not None:
        model.config.use_cache = state["use_cache"]


def _free_memory() -> None:
    import gc

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


MODEL_CACHE = ModelCache()


@contextlib.contextmanager
def borrow(cfg: ModelConfig, cache_dir: Path, device: str | None = None, cacheable: bool = True):
    """with borrow(cfg, cache_dir) as base: ... base.model, base.tokenizer (returned on exit)."""
    entry = MODEL_CACHE.acquire(cfg, cache_dir, device, cacheable)
    try:
        yield entry
    finally:
        MODEL_CACHE.release(entry, cacheable)
