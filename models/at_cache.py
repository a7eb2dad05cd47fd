"""AT adapters (LoRA instruction-tuned on Alpaca) as cached artifacts.

An AT adapter depends on the base model block, the LoRA block, the AT block and the seed, and on
nothing else: `at_key` hashes exactly those, and the adapter lives in
`cache_dir/at_adapters/<key>/` in standard PEFT format (`PeftModel.from_pretrained` loads it),
with `harness_at.json` describing how it was built. It is built on demand by the first trial
that needs it (the AT trial itself, or a `full` trial) and reused by every later one.

Two processes may race to build the same adapter: the builder holds an advisory lock (so the
second waits instead of training twice), writes into a temporary directory beside the target
and renames it into place atomically, so a reader never sees a half-written adapter.

`at.adapter_path` names an existing adapter (e.g. the released alpaca-lora weights) instead.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness.core.config import ATConfig, LoraConfig, ModelConfig
from harness.core.errors import HarnessError
from harness.core.locks import file_lock
from models.adapters import ADAPTER_FILES, check_adapter_dir

AT_CACHE_VERSION = 1
META = "harness_at.json"


@dataclass
class ATAdapter:
    path: Path
    key: str | None          # None for a user-given adapter_path
    built: bool = False      # built by this call
    build_s: float = 0.0
    meta: dict | None = None
    partitioned: bool = False  # its build left the base model's weights as ZeRO-3 shards


def at_key(model: ModelConfig, lora: LoraConfig, at: ATConfig, seed: int, data: dict | None = None) -> str:
    """sha256 of the blocks an AT adapter depends on. `data` names the Alpaca file actually read
    (the subset or the full file, and how many records), so adding the full file later never
    serves an adapter trained on the subset."""
    at_fields = at.model_dump(mode="json", exclude={"adapter_path"})
    blob = json.dumps({"model": model.model_dump(mode="json"), "lora": lora.model_dump(mode="json"),
                       "at": at_fields, "seed": seed, "data": data, "version": AT_CACHE_VERSION},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def adapter_dir(cache_dir: Path, key: str) -> Path:
    return Path(cache_dir) / "at_adapters" / key[:24]


def _complete(path: Path) -> bool:
    return (path / META).is_file() and (path / "adapter_config.json").is_file() \
        and any((path / f).is_file() for f in ADAPTER_FILES)



def load_alpaca_frame(ctx, max_records: int | None):
    """The Alpaca records for AT (data.alpaca) and their identity for the cache key."""
    from data.alpaca import load_alpaca

    frame = load_alpaca(ctx.raw_dir, max_records, cache_dir=Path(ctx.cache_dir) / "data")
    if len(frame) == 0:
        raise HarnessError("the Alpaca file has no records: AT needs instruction data")
    source = Path(frame.attrs.get("source", "unknown")).name
    return frame, {"alpaca_file": source, "records": len(frame)}


def find_or_build(model_cfg: ModelConfig, lora: LoraConfig, at: ATConfig, seed: int, ctx, base_model,
                  tokenizer, device: str, deepspeed: str | None = None) -> ATAdapter:
    """The AT adapter for these blocks: user-given, cached, or trained now on `base_model`
    (which is left as it was: the adapter is detached before returning). In a trial of several
    processes (harness/tune/multiworker.py) every rank calls this, and a missing adapter is
    trained by all of them together, under the trial's `deepspeed` config."""
    if at.adapter_path:
        return ATAdapter(check_adapter_dir(at.adapter_path, "AT adapter"), None)
    frame, data_id = load_alpaca_frame(ctx, at.max_records)
    key = at_key(model_cfg, lora, at, seed, data_id)
    target = adapter_dir(ctx.cache_dir, key)
    from models.deepspeed_env import world_size

    if world_size() > 1:
        return _find_or_build_together(target, key, data_id, frame, model_cfg, lora, at, seed,
                                       base_model, tokenizer, device, deepspeed)
    if _complete(target):
        return ATAdapter(target, key, meta=json.loads((target / META).read_text()))
    with file_lock(target.parent / f".{target.name}.lock"):
        if _complete(target):  # built by another process while we waited
            return ATAdapter(target, key, meta=json.loads((target / META).read_text()))
        t0 = time.perf_counter()
        meta, _ = _build(target, frame, model_cfg, lora, at, seed, base_model, tokenizer, device)
        meta["data"] = data_id
        meta["key"] = key
        return ATAdapter(target, key, built=True, build_s=time.perf_counter() - t0, meta=meta)


def _find_or_build_together(target: Path, key: str, data_id: dict, frame, model_cfg, lora, at, seed,
                            base_model, tokenizer, device: str, deepspeed: str | None) -> ATAdapter:
    """Every rank of one trial: rank 0 holds the builders' lock from its look at the cache to
    the rename (so no other builder changes the folder meanwhile) and tells the others what it
    saw; a missing adapter is trained data-parallel by all ranks (as the trial's RT stage; rank 1
    waiting on the lock while rank 0 trained in the group hung the trial) and written by rank 0.
    The cache folder must be one every rank reads, as the trial's work folder is."""
    import contextlib

    import torch.distributed as dist

    from models.deepspeed_env import from_rank0, rank, side_group

    with contextlib.ExitStack() as stack:
        if rank() == 0:
            stack.enter_context(file_lock(target.parent / f".{target.name}.lock"))
        if from_rank0(_complete(target) if rank() == 0 else None):
            return ATAdapter(target, key, meta=json.loads((target / META).read_text()))
        t0 = time.perf_counter()
        _, partitioned = _build(target, frame, model_cfg, lora, at, seed, base_model, tokenizer, device,
                                deepspeed=deepspeed, writer=rank() == 0)
        dist.barrier(group=side_group())      # rank 0 renamed the adapter into place
        meta = {**json.loads((target / META).read_text()), "data": data_id, "key": key}
        return ATAdapter(target, key, built=True, build_s=time.perf_counter() - t0, meta=meta,
                         partitioned=partitioned)


def _build(target: Path, frame, model_cfg, lora, at, seed, base_model, tokenizer, device,
           deepspeed: str | None = None, writer: bool = True) -> tuple[dict, bool]:
    """Train the adapter and rename it into `target` (the `writer`; the other ranks of a
    multi-process build train along and write nothing). Returns its metadata and whether
    training left `base_model` partitioned (ZeRO-3)."""
    from models.adapters import attach_new, detach
    from models.training import train_lora

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        peft_model = attach_new(base_model, lora, seed)
        try:
            # under DeepSpeed (a multi-process build): Trainer.save_model (every rank joins; it
            # gathers ZeRO-3's shards and rank 0 writes); else PEFT's own save, as ever
            outcome = train_lora(peft_model, tokenizer, frame, cfg=at, template=model_cfg.template,
                                 seed=seed, output_dir=tmp / "_trainer", device=device,
                                 deepspeed=deepspeed,
                                 gradient_checkpointing=model_cfg.gradient_checkpointing,
                                 dtype=model_cfg.dtype, chat_template=model_cfg.chat_template,
                                 save_dir=tmp if deepspeed else None)
            shutil.rmtree(tmp / "_trainer", ignore_errors=True)
            if not deepspeed:
                peft_model.save_pretrained(str(tmp))
        finally:
            detach(peft_model)
        if not writer:
            return {}, outcome.partitioned
        meta = {"records": len(frame), "global_step": outcome.global_step, "epochs": outcome.epochs,
                "tokens_seen": outcome.tokens_seen, "train_s": round(outcome.train_s, 3),
                "final_loss": outcome.losses[-1] if outcome.losses else None,
                "model": model_cfg.model_dump(mode="json"), "lora": lora.model_dump(mode="json"),
                "at": at.model_dump(mode="json"), "seed": seed, "version": AT_CACHE_VERSION,
                "created": time.time()}
        (tmp / META).write_text(json.dumps(meta, indent=2))
        os.chmod(tmp, 0o755)
        if target.exists():  # an incomplete leftover (a crashed builder): replace it
            shutil.rmtree(target, ignore_errors=True)
        os.rename(tmp, target)
        return meta, outcome.partitioned
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
