"""Every metric the harness stores is computed here, from a method's per-sample scores."""
from __future__ import annotations

import pandas as pd

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
