"""The trial contract's output: what a method returns and what the store keeps."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd


@dataclass
class MethodOutput:
    """What a method's run() returns: per evaluated domain, one row per scored sample.

    Each frame has columns sample_id (str), label (int 0/1) and score (float; higher = "Yes"),
    and should have user_id (str: the user the sample belongs to; per-user metrics and
    user-level bootstrap intervals need it; stored as NULL where a method leaves it out).
    AUCs are computed by run_trial from these scores, never by the method itself.
    """
    predictions: dict[str, pd.DataFrame]
    split: str = "test"
    timings: dict[str, float] = field(default_factory=dict)   # e.g. load_s, train_s, score_s
    extra: dict[str, Any] = field(default_factory=dict)       # e.g. peak_mem_mb, tokens_seen, best_epoch


@dataclass
class DomainMetric:
    eval_domain: str
    split: str
    auc: float | None   # None where a split has one class only (AUC undefined)
    n: int
    n_pos: int


@dataclass
class TrialResult:
    trial_id: str
    spec_json: str
    status: str                         # "complete" | "failed"
    error: str | None = None
    metrics: list[DomainMetric] = field(default_factory=list)
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    started_at: float = 0.0
    finished_at: float = 0.0
    host: str = ""
    device: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    git_sha: str | None = None
    git_dirty: bool | None = None

    @property
    def wall_s(self) -> float:
        return max(0.0, self.finished_at - self.started_at)

    def auc(self, domain: str) -> float | None:
        for m in self.metrics:
            if m.eval_domain == domain:
                return m.auc
        return None
