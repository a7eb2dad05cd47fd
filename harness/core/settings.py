"""Dotted training settings (`training.learning_rate`, `training.steps.per_sample`, `lora.r`)
applied to a trial's params: what a protocol search explores and what its chosen fragment sets."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from harness.core.config import ATConfig, BaselineConfig, LoraConfig, TrainingConfig

BLOCKS: dict[str, type[BaseModel]] = {"lora": LoraConfig, "training": TrainingConfig,
                                      "at": ATConfig, "baseline": BaselineConfig}


def apply_settings(params: dict[str, Any], settings: dict[str, Any]) -> dict[str, Any]:
    """`params` (block name -> block dump) with the dotted settings set, each changed block
    validated and dumped again (so its dump, and the trial id, are canonical). Settings of a
    block the trial does not use are skipped."""
    out = {name: dict(block) if isinstance(block, dict) else block for name, block in params.items()}
    changed = set()
    for path, value in settings.items():
        block, *fields = path.split(".")
        if block not in out or not fields:
            continue
        target = out[block]
        for name in fields[:-1]:
            target[name] = dict(target.get(name) or {})
            target = target[name]
        target[fields[-1]] = value
        changed.add(block)
    for name in changed & set(BLOCKS):
        out[name] = BLOCKS[name].model_validate(out[name]).model_dump(mode="json")
    return out
