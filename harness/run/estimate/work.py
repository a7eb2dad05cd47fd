"""What a trial has to do, from its spec alone: the units its phases' costs scale with.

  train_examples   rec-tuning examples seen: K per training domain x epochs (max_steps caps it;
                   a `training.steps` rule fixes the optimizer steps instead)
  valid_samples    validation rows scored: rows per training domain x validations (one per epoch,
                   or one per eval_every_steps)
  at_records       Alpaca records trained on by the AT stage (AT variant only: `full` reuses the
                   cached adapter its AT trial built)
  score_samples    test rows scored, per eval domain
  model            the model's name (for the model-size ratio)
Split sizes are the measured ones of docs/data.md (MovieLens-100K 8,000 / 1,000 / 1,000; Book
19,414 / 2,427 / 2,427); the full Alpaca file has 52,002 records.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.core.config import TrainingConfig
from harness.core.spec import TrialSpec

SPLIT_ROWS = {"movie": {"train": 8000, "valid": 1000, "test": 1000},
              "book": {"train": 19414, "valid": 2427, "test": 2427}}
ALPACA_RECORDS = 52002


@dataclass(frozen=True)
class Work:
    train_examples: float = 0.0
    train_rows: dict[str, float] = field(default_factory=dict)   # per training domain
    valid_samples: float = 0.0
    validations: float = 0.0
    at_records: float = 0.0
    score_samples: dict[str, float] = field(default_factory=dict)
    model: str | None = None


def _capped(domain: str, split: str, cap: int | None) -> float:
    rows = SPLIT_ROWS[domain][split]
    return float(min(rows, cap) if cap else rows)


def work_of(spec: TrialSpec) -> Work:
    model = (spec.model or {}).get("name")
    score = {d: _capped(d, spec.eval.split, spec.eval.max_samples) for d in spec.eval.domains}
    train_cfg, at_cfg = spec.params.get("training"), spec.params.get("at")
    rows = {d: float(spec.k) for d in spec.train_domains}
    train = valid = validations = at = 0.0
    if spec.model and train_cfg and rows:   # rec-tuning (tallrec RT / full)
        per_epoch = sum(rows.values())
        epochs = float(train_cfg.get("epochs", 1))
        batch = int(train_cfg.get("batch_size", 1))
        steps = epochs * math.ceil(per_epoch / batch)
        fixed = TrainingConfig.model_validate(train_cfg).optimizer_steps(int(per_epoch))
        if train_cfg.get("steps") and fixed:      # a steps rule decides, whatever `epochs` says
            steps = float(fixed)
            epochs = steps / math.ceil(per_epoch / batch)
        elif fixed:                               # max_steps caps the epochs
            steps = min(steps, fixed)
            epochs = steps / math.ceil(per_epoch / batch)
        train = per_epoch * epochs
        every = train_cfg.get("eval_every_steps")
        validations = steps / every if every else epochs
        cap = train_cfg.get("valid_max_samples")
        valid = validations * sum(_capped(d, "valid", cap) for d in rows)
    elif not spec.model and rows:           # a baseline: its cost follows its K rows
        train = sum(rows.values())
    if spec.model and at_cfg and spec.variant == "AT" and not at_cfg.get("adapter_path"):
        records = at_cfg.get("max_records") or ALPACA_RECORDS
        at = float(min(records, ALPACA_RECORDS)) * float(at_cfg.get("epochs", 1))
    return Work(train, rows, valid, validations, at, score, model)
