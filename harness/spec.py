"""The trial contract's input: a frozen, content-hashed TrialSpec.

Everything that can change a trial's numbers is in the spec, and nothing else is: where it runs
(GPUs, Ray address, store path) is not. `trial_id` is the sha256 of the canonical JSON, so a
trial already stored is recognised whatever grid file it came from.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

DOMAINS = ("movie", "book")
TRAIN_MIXES = ("movie", "book", "both")
K_MIN, K_MAX = 1, 256


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EvalSpec(_Frozen):
    domains: tuple[Literal["movie", "book"], ...] = DOMAINS
    split: Literal["test", "valid"] = "test"
    max_samples: int | None = Field(default=None, ge=1)  # cap per domain: the first N samples


class DataSpec(_Frozen):
    # "correct": items and labels permuted together (default); "tallrec": the published files'
    # defect, titles permuted three times and labels once (see docs/data.md).
    book_label_alignment: Literal["correct", "tallrec"] = "correct"


class TrialSpec(_Frozen):
    method: str
    variant: str | None = None
    train_mix: Literal["movie", "book", "both"] | None = None
    k: int = Field(default=0, ge=0, le=K_MAX)
    seed: int = 0
    # The LLM block (name/path, dtype, 8-bit, template...); None for methods that use no LLM.
    model: dict[str, Any] | None = None
    # Method hyper-parameters (lora, training, at, baseline knobs, deepspeed config...).
    params: dict[str, Any] = Field(default_factory=dict)
    eval: EvalSpec = EvalSpec()
    data: DataSpec = DataSpec()

    @field_validator("model", "params")
    @classmethod
    def _json_only(cls, value):
        # Reject values canonical JSON cannot represent, so the hash is always defined.
        json.dumps(value, sort_keys=True, allow_nan=False)
        return value

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)

    @property
    def trial_id(self) -> str:
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def short_id(self) -> str:
        return self.trial_id[:12]

    @property
    def train_domains(self) -> tuple[str, ...]:
        if self.train_mix is None:
            return ()
        return DOMAINS if self.train_mix == "both" else (self.train_mix,)

    def label(self) -> str:
        parts = [self.method] + ([self.variant] if self.variant else [])
        if self.train_mix:
            parts.append(f"{self.train_mix}@K{self.k}")
        parts.append(f"s{self.seed}")
        return "/".join(parts)

    @classmethod
    def from_json(cls, text: str) -> "TrialSpec":
        return cls.model_validate_json(text)
