"""`gauc`: a new metric, in one file. RecBole's GAUC: the AUC within each user who has both
labels, averaged with weights = the user's number of samples (UAUC weights every user alike).

    harness report --metric examples.metric.gauc:GAUC     # a module:ATTR name imports it
    # or, in your own code: METRICS.register("gauc", "examples.metric.gauc:GAUC")

docs/extending.md walks through it.
"""
from __future__ import annotations

import numpy as np

from harness.core.metrics import Metric, weighted_auc


def _gauc(labels, scores, users, weights):
    """One value per row of `weights` (bootstrap resamples); NaN where no user has both labels."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    total = np.zeros(weights.shape[0])
    mass = np.zeros(weights.shape[0])
    for user in np.unique(users):
        idx = np.flatnonzero(users == user)
        if len(set(labels[idx].tolist())) < 2:
            continue
        auc = weighted_auc(labels[idx], scores[idx], weights[:, idx])
        n = weights[:, idx].sum(axis=1)           # the user's samples in this resample
        ok = ~np.isnan(auc)
        total += np.where(ok, auc * n, 0.0)
        mass += np.where(ok, n, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, total / np.where(mass > 0, mass, 1), np.nan)


GAUC = Metric(name="gauc", label="GAUC", scale=100, higher_is_better=True, per_user=True,
              weighted=_gauc, description="AUC within each user with both labels, weighted by samples")
