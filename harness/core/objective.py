"""What a protocol search optimises: a validation metric by name, and the hook through which
training reports each validation pass (so Ray Tune's schedulers can stop bad trials early).

`objective_value(name, frame)` is the one place a search computes its metric from (user_id,
label, score) rows, through the metric registry (harness.core.metrics). The hook is
process-local (a ContextVar): `harness.tune.search` sets it
around a search trial; training calls `report_validation` after every validation pass and
knows nothing of Ray.
"""
from __future__ import annotations

import contextlib
from contextvars import ContextVar
from typing import Callable

import pandas as pd

_HOOK: ContextVar[Callable[[int, pd.DataFrame], None] | None] = ContextVar("validation_hook", default=None)


def better_direction(name: str) -> str:
    """A search's default `mode` for the registered metric `name` (an unknown name: one line
    listing the registered ones)."""
    from harness.core.metrics import get_metric

    return "max" if get_metric(name).higher_is_better else "min"


def objective_value(name: str, frame: pd.DataFrame) -> float | None:
    """The registered metric `name` of validation rows (columns user_id, label, score); None
    where it is undefined (one class only; for uauc, no user with both labels). `uauc` is the
    user-averaged AUC where the split repeats users; on a split with one row per user (Book)
    there is nothing within a user to rank, and it is the pooled AUC, as issue 25 specifies."""
    from harness.core.metrics import AUC, get_metric

    metric = get_metric(name)
    users = frame["user_id"]
    if metric.per_user and users.notna().all() and not users.duplicated().any():
        metric = AUC                                       # one row per user: pooled AUC
    return metric.evaluate(frame["label"], frame["score"],
                           users.to_numpy() if metric.per_user else None).value


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
