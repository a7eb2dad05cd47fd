"""The trial contract's input: a frozen, content-hashed TrialSpec.

Everything that can change a trial's numbers is in the spec, and nothing else is: where it runs
(GPUs, Ray address, store path) is not. `trial_id` is the sha256 of the canonical JSON, so a
trial already stored is recognised whatever grid file it came from.
"""
from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from harness.core.config import StableDump
from harness.core.datasets import BOTH, DATASETS, NAME, PAPER_DOMAINS, DatasetConfig, dataset_names, mix_domains

DOMAINS = PAPER_DOMAINS
K_MIN, K_MAX = 1, 256
RAW_VARIANT = re.compile(r"^(ml-100k|bookcrossing|alpaca):[0-9a-f]{16}$")
# The store keeps seeds in a 32-bit INTEGER column (HF / numpy accept < 2**32): one bound for both.
SEED_MAX = 2**31 - 1
# Any other integer goes to torch / numpy, whose integers are 64-bit.
INT_MAX = 2**63 - 1


class _Frozen(StableDump):
    pass


class EvalSpec(_Frozen):
    domains: tuple[str, ...] = DOMAINS

    @field_validator("domains")
    @classmethod
    def _names(cls, value):
        for name in value:
            _check_name(name)
        return value
    split: Literal["test", "valid"] = "test"
    max_samples: int | None = Field(default=None, ge=1)  # cap per domain: the first N samples


class DataSpec(_Frozen):
    ADDED_FIELDS = frozenset({"raw_variants", "subset", "datasets"})
    # "correct": items and labels permuted together (default); "tallrec": the published files'
    # defect, titles permuted three times and labels once (see docs/data.md).
    book_label_alignment: Literal["correct", "tallrec"] = "correct"
    # Raw files that are not the published ones, accepted on purpose: tokens
    # "<dataset>:<16 hex>" pinning their content (data/manifest.py). In the id, so results from
    # modified data never pass for results on the published data.
    raw_variants: tuple[str, ...] = ()
    # How a capped split is cut (eval.max_samples, the validation caps): its first N rows, or N
    # rows spread evenly over it. The movie splits are ordered by user, so the first 500 test rows
    # hold only 8 users; "spread" reaches every part of the split.
    subset: Literal["first", "spread"] = "first"
    # The grid's declared datasets (`datasets:`) this trial reads, by name: their settings change
    # its numbers, so they are in its id; empty (left out of the id) for registered datasets.
    datasets: dict[str, DatasetConfig] = {}

    @field_validator("datasets")
    @classmethod
    def _dataset_names(cls, value):
        for name in value:
            _check_name(name)
        return value

    @field_validator("raw_variants", mode="before")
    @classmethod
    def _tokens(cls, value):
        return check_raw_variants(value)


def _check_name(name) -> None:
    if not isinstance(name, str) or not NAME.match(name):
        raise ValueError(f"dataset name {name!r} is not allowed: lower-case letters, digits, '-' and '_'")


def check_raw_variants(tokens) -> tuple[str, ...]:
    """Validated, sorted, deduplicated variant tokens (so their order never changes an id)."""
    if isinstance(tokens, str):
        tokens = (tokens,)
    bad = [t for t in tokens if not isinstance(t, str) or not RAW_VARIANT.match(t)]
    if bad:
        raise ValueError(f"raw variant {bad[0]!r} is not <dataset>:<16 hex digits> "
                         "(the token printed by the error that refused the file)")
    return tuple(sorted(set(tokens)))


class TrialSpec(_Frozen):
    method: str
    variant: str | None = None
    train_mix: str | None = None       # a dataset name, or `both` (Movie and Book)
    k: int = Field(default=0, ge=0, le=K_MAX)
    seed: int = Field(default=0, ge=0, le=SEED_MAX)
    # The LLM block (name/path, dtype, 8-bit, template...); None for methods that use no LLM.
    model: dict[str, Any] | None = None
    # Method hyper-parameters (lora, training, at, baseline knobs, deepspeed config...).
    params: dict[str, Any] = Field(default_factory=dict)
    eval: EvalSpec = EvalSpec()
    data: DataSpec = DataSpec()

    @field_validator("train_mix")
    @classmethod
    def _mix(cls, value):
        if value is not None and value != BOTH:
            _check_name(value)
        return value

    @model_validator(mode="after")
    def _known_datasets(self, info: ValidationInfo):
        """Every domain is a registered dataset or one of the spec's declared ones. Not checked
        for a stored spec read back (`from_json`): its plugin may not be imported there."""
        if (info.context or {}).get("stored"):
            return self
        for name in dict.fromkeys(self.train_domains + tuple(self.eval.domains)):
            if name not in self.data.datasets and name not in DATASETS:
                raise ValueError(f"{name!r} is not a dataset; registered: {', '.join(dataset_names())}"
                                 + (f"; declared: {', '.join(self.data.datasets)}" if self.data.datasets else ""))
        return self

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
        return mix_domains(self.train_mix)

    def label(self) -> str:
        parts = [self.method] + ([self.variant] if self.variant else [])
        if self.train_mix:
            parts.append(f"{self.train_mix}@K{self.k}")
        parts.append(f"s{self.seed}")
        return "/".join(parts)

    @classmethod
    def from_json(cls, text: str) -> "TrialSpec":
        return cls.model_validate_json(text, context={"stored": True})
