"""What a protocol search optimises: a validation metric by name, and the hook through which
training reports each validation pass (so Ray Tune's schedulers can stop bad trials early).

`objective_value(name, frame)` is the one place a search computes its metric from (user_id,
label, score) rows; once the metric registry lands (harness/core/metrics.py) it should look the
name up there instead. The hook is process-local (a ContextVar): `harness.tune.search` sets it
around a search trial; training calls `report_validation` after every validation pass and
knows nothing of Ray.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Callable

import pandas as pd

# name -> the direction that is better (a search's default `mode`)
OBJECTIVES = {"auc": "max", "uauc": "max", "logloss": "min"}

_HOOK: ContextVar[Callable[[int, pd.DataFrame], None] | None] = ContextVar("validation_hook", default=None)


def objective_value(name: str, frame: pd.DataFrame) -> float | None:
    """The metric `name` of validation rows (columns user_id, label, score); None where it is
    undefined (one class only; for uauc, no user with both labels). `uauc` is the user-averaged
    AUC where the split repeats users; on a split with one row per user (Book) there is nothing
    within a user to rank, and it is the pooled AUC, as issue 25 specifies."""
    from sklearn.metrics import log_loss

    from harness.core.metrics import compute_auc

    if name not in OBJECTIVES:
        raise ValueError(f"unknown search metric {name!r}; known: {', '.join(OBJECTIVES)}")
    labels = frame["label"].astype(int)
    if name == "auc":
        return compute_auc(labels, frame["score"])
    if name == "logloss":
        return float(log_loss(labels, frame["score"].clip(1e-7, 1 - 1e-7), labels=[0, 1]))
    if frame["user_id"].notna().all() and not frame["user_id"].duplicated().any():
        return compute_auc(labels, frame["score"])      # one row per user: pooled AUC
    return user_averaged_auc(frame)


def user_averaged_auc(frame: pd.DataFrame) -> float | None:
    """UAUC: the mean of per-user AUCs over the users with both labels (CoLLM's UAUC)."""
    from harness.core.metrics import compute_auc

    aucs = [compute_auc(g["label"], g["score"]) for _, g in frame.groupby("user_id", sort=False)]
    aucs = [a for a in aucs if a is not None]
    return float(sum(aucs) / len(aucs)) if aucs else None


@contextlib.contextmanager
def validation_hook(fn: Callable[[int, pd.DataFrame], None]):
    """Call `fn(step, frame)` after every validation pass of training inside the block."""
    token = _HOOK.set(fn)
    try:
        yield
    finally:
        _HOOK.reset(token)


def report_validation(step: int, frame: pd.DataFrame) -> None:
    """Training's side: hand one validation pass (sample_id, user_id, label, score) to the hook."""
    hook = _HOOK.get()
    if hook is not None:
        hook(step, frame)
