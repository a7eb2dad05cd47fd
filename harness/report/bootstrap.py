"""Bootstrap confidence intervals for a metric over the test set, from stored predictions.

A cell of a table is the mean metric of several trials (seeds) on one test set. Each resample
draws the test set with replacement; trials that share the test set (same sample ids) are
resampled with the same draw (a paired bootstrap), and the cell's statistic is the mean of the
trials' values on that draw. The interval is the percentile interval of that statistic. It
measures test-set sampling noise only; seed spread is the table's standard deviation.

What is drawn (`unit`): `users` draws whole users with all their samples (a cluster bootstrap:
the honest interval when a test split holds few users with many samples each, as Movie's 16
users), `samples` draws samples one by one, and `auto` (the default) draws users wherever the
predictions carry user ids and some user has several samples, samples elsewhere.

A resample's value is computed from per-sample weights (how often each sample was drawn, by
itself or with its user), with one sort per trial, so 1,000 resamples take milliseconds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from harness.core.errors import HarnessError
from harness.core.metrics import AUC, Metric, weighted_auc  # noqa: F401 - weighted_auc re-exported

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95
UNITS = ("auto", "users", "samples")


def resample_weights(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n) counts: how often each item is drawn in each resample."""
    idx = rng.integers(0, n, size=(resamples, n))
    flat = idx + (np.arange(resamples)[:, None] * n)
    return np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n)


def _has_users(frame: pd.DataFrame) -> bool:
    return "user_id" in frame.columns and bool(frame["user_id"].notna().all())


def resample_unit(frames: list[pd.DataFrame], requested: str = "auto") -> str:
    """`users` or `samples`: what the bootstrap of these frames draws (see the module doc)."""
    if requested not in UNITS:
        raise HarnessError(f"unknown bootstrap unit {requested!r}; valid: {', '.join(UNITS)}")
    if requested == "samples" or not frames:
        return "samples"
    has = all(_has_users(f) for f in frames)
    if requested == "users":
        if not has:
            raise HarnessError("a user-level bootstrap needs user ids, and some stored predictions "
                               "have none; add them with `harness store users --db PATH`")
        return "users"
    return "users" if has and any(f["user_id"].nunique() < len(f) for f in frames) else "samples"


def _weights(frame: pd.DataFrame, unit: str, resamples: int, rng: np.random.Generator) -> np.ndarray:
    if unit == "samples":
        return resample_weights(len(frame), resamples, rng)
    codes, uniques = pd.factorize(frame["user_id"], sort=True)
    return resample_weights(len(uniques), resamples, rng)[:, codes]   # a user's samples share its count


def _mean_draws(frames: list[pd.DataFrame], draws: dict, rng: np.random.Generator, resamples: int,
                metric: Metric, unit: str) -> np.ndarray:
    """The mean metric of `frames` on each resample; frames with the same sample ids share a draw."""
    stats = np.zeros(resamples)
    for frame in frames:
        key = tuple(frame["sample_id"])        # same test set -> same draw (paired)
        if key not in draws:
            draws[key] = _weights(frame, unit, resamples, rng)
        users = frame["user_id"].to_numpy() if "user_id" in frame.columns else None
        stats += metric.weighted(frame["label"].to_numpy(), frame["score"].to_numpy(), users, draws[key])
    return stats / len(frames)


def _sorted(frames: list[pd.DataFrame]) -> list[pd.DataFrame]:
    return [f.sort_values("sample_id", kind="mergesort").reset_index(drop=True) for f in frames if len(f)]


def _interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    stats = stats[~np.isnan(stats)]
    if not len(stats):
        return (np.nan, np.nan)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def mean_auc_ci(frames: list[pd.DataFrame], resamples: int = DEFAULT_RESAMPLES,
                level: float = DEFAULT_LEVEL, seed: int = 0, metric: Metric = AUC,
                unit: str = "samples") -> tuple[float, float]:
    """Percentile interval of the mean metric (default AUC) of `frames` (each: sample_id, label,
    score, and user_id for `unit="users"` or a per-user metric)."""
    frames = _sorted(frames)
    if not frames:
        return (np.nan, np.nan)
    unit = resample_unit(frames, unit)
    return _interval(_mean_draws(frames, {}, np.random.default_rng(seed), resamples, metric, unit), level)


def paired_diff_ci(frames_a: list[pd.DataFrame], frames_b: list[pd.DataFrame],
                   resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
                   seed: int = 0, metric: Metric = AUC, unit: str = "samples") -> tuple[float, float]:
    """Percentile interval of mean metric(a) - mean metric(b), both scored on each resample of the
    same test set (a paired bootstrap): an interval above zero means a beats b beyond test noise.
    NaN when the two sides share no test set."""
    frames_a, frames_b = _sorted(frames_a), _sorted(frames_b)
    keys_a = {tuple(f["sample_id"]) for f in frames_a}
    if not frames_a or not frames_b or not keys_a & {tuple(f["sample_id"]) for f in frames_b}:
        return (np.nan, np.nan)
    unit = resample_unit(frames_a + frames_b, unit)
    draws: dict = {}
    rng = np.random.default_rng(seed)
    diff = (_mean_draws(frames_a, draws, rng, resamples, metric, unit)
            - _mean_draws(frames_b, draws, rng, resamples, metric, unit))
    return _interval(diff, level)
