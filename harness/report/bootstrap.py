"""Bootstrap confidence intervals for AUC over test samples, from stored predictions.

A cell of a table is the mean AUC of several trials (seeds) on one test set. Each resample
draws the test samples with replacement; trials that share the test set (same sample ids) are
resampled with the same draw (a paired bootstrap), and the cell's statistic is the mean of the
trials' AUCs on that draw. The interval is the percentile interval of that statistic. It
measures test-set sampling noise only; seed spread is the table's standard deviation.

AUCs of a resample are computed from per-sample weights (how often each sample was drawn)
with one sort per trial, so 1,000 resamples of a few thousand samples take milliseconds.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


def resample_weights(n: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples, n) counts: how often each sample is drawn in each resample."""
    idx = rng.integers(0, n, size=(resamples, n))
    flat = idx + (np.arange(resamples)[:, None] * n)
    return np.bincount(flat.ravel(), minlength=resamples * n).reshape(resamples, n)


def weighted_auc(labels: np.ndarray, scores: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ROC AUC for each row of `weights` (ties count one half), as Mann-Whitney U / (P * N).

    Equals sklearn's roc_auc_score on the resampled data; NaN where a resample has one class.
    """
    labels = np.asarray(labels).astype(bool)
    scores = np.asarray(scores, dtype=float)
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    w = weights[:, order]
    pos = labels[order]
    w_pos = np.add.reduceat(np.where(pos, w, 0.0), starts, axis=1)   # (B, groups of tied scores)
    w_neg = np.add.reduceat(np.where(pos, 0.0, w), starts, axis=1)
    neg_below = np.cumsum(w_neg, axis=1) - w_neg
    u = np.sum(w_pos * (neg_below + 0.5 * w_neg), axis=1)
    denom = w_pos.sum(axis=1) * w_neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, u / np.where(denom > 0, denom, 1), np.nan)


def _mean_auc_draws(frames: list[pd.DataFrame], draws: dict, rng: np.random.Generator,
                    resamples: int) -> np.ndarray:
    """The mean AUC of `frames` on each resample; frames with the same sample ids share a draw."""
    stats = np.zeros(resamples)
    for frame in frames:
        key = tuple(frame["sample_id"])        # same test set -> same draw (paired)
        if key not in draws:
            draws[key] = resample_weights(len(frame), resamples, rng)
        stats += weighted_auc(frame["label"].to_numpy(), frame["score"].to_numpy(), draws[key])
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
                level: float = DEFAULT_LEVEL, seed: int = 0) -> tuple[float, float]:
    """Percentile interval of the mean AUC of `frames` (each: sample_id, label, score)."""
    frames = _sorted(frames)
    if not frames:
        return (np.nan, np.nan)
    return _interval(_mean_auc_draws(frames, {}, np.random.default_rng(seed), resamples), level)


def paired_diff_ci(frames_a: list[pd.DataFrame], frames_b: list[pd.DataFrame],
                   resamples: int = DEFAULT_RESAMPLES, level: float = DEFAULT_LEVEL,
                   seed: int = 0) -> tuple[float, float]:
    """Percentile interval of mean AUC(a) - mean AUC(b), both scored on each resample of the same
    test samples (a paired bootstrap): an interval above zero means a beats b beyond test noise.
    NaN when the two sides share no test set."""
    frames_a, frames_b = _sorted(frames_a), _sorted(frames_b)
    keys_a = {tuple(f["sample_id"]) for f in frames_a}
    if not frames_a or not frames_b or not keys_a & {tuple(f["sample_id"]) for f in frames_b}:
        return (np.nan, np.nan)
    draws: dict = {}
    rng = np.random.default_rng(seed)
    diff = _mean_auc_draws(frames_a, draws, rng, resamples) - _mean_auc_draws(frames_b, draws, rng, resamples)
    return _interval(diff, level)
