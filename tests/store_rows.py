"""Build TrialResults with known numbers for store and report tests."""
import time

import numpy as np
import pandas as pd

from harness.core.result import TrialResult
from harness.core.spec import TrialSpec
from harness.core.metrics import metrics_from_predictions


def make_result(method="random", variant=None, train_mix="movie", k=16, seed=0, status="complete",
                n=50, domains=("movie", "book"), shift=0.0, error=None, model=None, eval=None,
                spec=None, users=None) -> TrialResult:
    """`model` / `eval` set those spec blocks (two configurations of one method); `spec` gives the
    whole TrialSpec (a grid's expansion), overriding the other spec fields; `users`: that many
    users (`u0`, `u1`, ... in turn) in a user_id column (None: no user_id column)."""
    spec = spec or TrialSpec(method=method, variant=variant, train_mix=train_mix, k=k, seed=seed,
                             model=model, **({"eval": eval} if eval is not None else {}))
    seed, k = spec.seed, spec.k
    rng = np.random.default_rng(seed * 1000 + k)
    predictions = {}
    if status == "complete":
        for d in domains:
            labels = rng.integers(0, 2, n)
            labels[:2] = [0, 1]
            scores = rng.random(n) + shift * labels
            predictions[d] = pd.DataFrame({"sample_id": [f"{d}:test:{i:05d}" for i in range(n)],
                                           "label": labels, "score": scores})
            if users:
                predictions[d]["user_id"] = [f"u{i % users}" for i in range(n)]
    now = time.time()
    return TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(), status=status,
                       error=error, metrics=metrics_from_predictions(predictions, "test"),
                       predictions=predictions, started_at=now - 2.0, finished_at=now,
                       host="test-host", device="cpu")
