"""Every metric the harness computes from a method's per-sample scores, and the metric registry.

run_trial stores each domain's ROC AUC (scikit-learn). Reports can show any registered metric
(`harness report --metric NAME`), computed from the stored predictions: `auc` (the default and
the paper's), `uauc` (user-averaged AUC: the AUC within each user who has both labels, averaged
over those users; CoLLM's UAUC, RecBole's GAUC with equal user weights) and `logloss`.

A metric is a `Metric` registered by name (`METRICS.register("name", "module:ATTR")`). Its
`weighted(labels, scores, users, weights)` gives the value under each row of sample weights, so
the report's bootstrap (harness/report/bootstrap.py) resamples any metric without a loop; its
`evaluate` gives the value on the data as they are, or None and the reason it is undefined.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from harness.core.registry import Registry, UnknownName
from harness.core.result import DomainMetric


def compute_auc(labels, scores) -> float | None:
    """ROC AUC (scikit-learn); None where only one class is present (AUC is undefined there)."""
    from sklearn.metrics import roc_auc_score

    labels = pd.Series(labels).astype(int)
    if labels.nunique() < 2:
        return None
    return float(roc_auc_score(labels, pd.Series(scores).astype(float)))


def metrics_from_predictions(predictions: dict[str, pd.DataFrame], split: str) -> list[DomainMetric]:
    metrics = []
    for domain, frame in sorted(predictions.items()):
        if frame["score"].isna().any():
            raise ValueError(f"method returned NaN scores for {domain}")
        metrics.append(DomainMetric(eval_domain=domain, split=split,
                                    auc=compute_auc(frame["label"], frame["score"]),
                                    n=len(frame), n_pos=int(frame["label"].astype(int).sum())))
    return metrics


# -- weighted forms: one value per row of weights (B, n) ---------------------------------------
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


def _auc(labels, scores, users, weights):
    return weighted_auc(labels, scores, weights)


def _uauc(labels, scores, users, weights):
    """Mean over users with both labels of the AUC within each user. A user drawn c times in a
    resample (the user-level bootstrap) counts c times; a user absent from it not at all."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    total = np.zeros(weights.shape[0])
    count = np.zeros(weights.shape[0])
    for idx in _user_groups(labels, users):
        w = weights[:, idx]
        auc = weighted_auc(labels[idx], scores[idx], w)
        times = w.mean(axis=1)
        ok = ~np.isnan(auc)
        total += np.where(ok, auc * times, 0.0)
        count += np.where(ok, times, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.where(count > 0, count, 1), np.nan)


_EPS = np.finfo(float).eps   # scikit-learn's clipping of probabilities in log_loss


def _logloss(labels, scores, users, weights):
    p = np.clip(np.asarray(scores, dtype=float), _EPS, 1 - _EPS)
    y = np.asarray(labels).astype(float)
    loss = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    return weights @ loss / weights.sum(axis=1)





def _user_groups(labels, users) -> list[np.ndarray]:
    """Sample indices of each user who has both labels."""
    frame = pd.DataFrame({"user": users, "label": np.asarray(labels).astype(int)})
    return [g.index.to_numpy() for _, g in frame.groupby("user", sort=True) if g["label"].nunique() == 2]


# -- the registry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MetricValue:
    value: float | None          # None: undefined here (see note)
    note: str = ""               # why undefined, or what the value covers (UAUC: how many users)
    users: int | None = None     # users the value counts (per-user metrics)


@dataclass(frozen=True)
class Metric:
    name: str                    # the registry name (`--metric NAME`)
    label: str                   # how tables and figure titles name it
    scale: float                 # shown as value x scale (AUC x 100, as the paper)
    higher_is_better: bool
    per_user: bool               # needs user ids
    weighted: Callable           # (labels, scores, users, weights (B, n)) -> (B,), NaN = undefined
    description: str = ""
    needs_both_classes: bool = False
    needs_probabilities: bool = False   # scores must lie in [0, 1]

    @property
    def shown(self) -> str:
        """The metric as a title names it: "AUC x 100", "log loss"."""
        return f"{self.label} x {self.scale:g}" if self.scale != 1 else self.label

    def evaluate(self, labels, scores, users=None) -> MetricValue:
        labels = np.asarray(labels).astype(int)
        scores = np.asarray(scores, dtype=float)
        reason = self.undefined(labels, scores, users)
        if reason:
            return MetricValue(None, reason)
        value = float(self.weighted(labels, scores, np.asarray(users) if users is not None else None,
                                    np.ones((1, len(labels))))[0])
        if not self.per_user:
            return MetricValue(value)
        n_users = len(_user_groups(labels, users))
        return MetricValue(value, f"{n_users} of {len(set(users))} users have both labels", n_users)

    def undefined(self, labels, scores, users) -> str:
        """Why the metric cannot be computed on these data ("" when it can)."""
        if len(labels) == 0:
            return "no predictions"
        if self.per_user:
            if users is None or pd.isna(pd.Series(users, dtype=object)).any():
                return "no user ids stored (add them with `harness store users`)"
            if not _user_groups(labels, users):
                return "no user has both labels"
        elif self.needs_both_classes and len(set(labels.tolist())) < 2:
            return "one class only"
        if self.needs_probabilities and ((scores < 0) | (scores > 1)).any():
            return "scores are not probabilities (outside [0, 1])"
        return ""


AUC = Metric("auc", "AUC", 100, True, False, _auc, "ROC AUC over all samples (the paper's)",
             needs_both_classes=True)
UAUC = Metric("uauc", "UAUC", 100, True, True, _uauc,
              "AUC within each user who has both labels, averaged over those users")
LOGLOSS = Metric("logloss", "log loss", 1, False, False, _logloss,
                 "mean negative log-likelihood of the labels under score = P(Yes)",
                 needs_probabilities=True)

METRICS = Registry("metric", {"auc": "harness.core.metrics:AUC", "uauc": "harness.core.metrics:UAUC",
                              "logloss": "harness.core.metrics:LOGLOSS"})


def get_metric(name: str) -> Metric:
    """The registered metric; an unknown name is a one-line error listing the registered ones.
    A "module:ATTR" name is imported and registered under that name (a metric of your own)."""
    if ":" in name and name not in METRICS:
        module, _, attr = name.partition(":")
        try:
            getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as exc:
            raise UnknownName(f"metric {name!r} cannot be imported ({type(exc).__name__}: {exc})") from None
        METRICS.register(name, name)
    metric = METRICS.get(name)
    if not isinstance(metric, Metric):
        raise TypeError(f"metric {name!r} is registered as {METRICS.target(name)}, not a Metric")
    return metric
