"""`history-like-rate`: the fraction of liked items among the history in the prompt, as the score.

Reads nothing but the sample itself (no training, no K samples: zero-shot, like `icl`). A pooled
AUC over few test users rewards knowing which users like most things; this reference shows how
much of a method's AUC that alone buys (Movie's test split is 16 users: 0.725 on the 500 spread
samples of grids/cpu-paper.yaml, above every learned method there). Ties keep their ranks
(scikit-learn's AUC counts a tie as half), so there is no jitter and no seed dependence.
"""
from __future__ import annotations

import numpy as np

from harness.core.methods import MethodInfo
from harness.core.result import MethodOutput
from data.trial import as_predictions, eval_samples

INFO = MethodInfo(zero_shot=True, blocks=())


def like_rate(history_labels) -> float:
    """The fraction of liked items in a prompt's history (0.5 for an empty one)."""
    return float(np.mean(history_labels)) if len(history_labels) else 0.5


def run(spec, ctx) -> MethodOutput:
    predictions = {domain: as_predictions(frame, np.array([like_rate(h) for h in frame["history_labels"]]))
                   for domain, frame in eval_samples(spec, ctx).items()}
    return MethodOutput(predictions=predictions, split=spec.eval.split)
