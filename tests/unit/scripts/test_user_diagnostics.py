"""scripts/user_diagnostics.py: pooled against within-user AUC, beside the like-rate reference."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("user_diagnostics", REPO / "scripts" / "user_diagnostics.py")
user_diagnostics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(user_diagnostics)


def _split():
    # user a likes most things (history 0.9), user b few (0.2); each has liked and disliked targets
    rows = []
    for user, hist, labels in (("a", [1] * 9 + [0], [1, 1, 1, 0]), ("b", [1, 1] + [0] * 8, [1, 0, 0, 0])):
        for i, y in enumerate(labels):
            rows.append({"sample_id": f"{user}{i}", "user_id": user, "history_labels": hist, "label": y})
    return pd.DataFrame(rows)


def test_a_score_that_ranks_within_users_but_not_between_them():
    split = _split()
    # perfect inside each user, but user b's scores all sit above user a's
    score = {"a0": 0.2, "a1": 0.2, "a2": 0.2, "a3": 0.1, "b0": 0.9, "b1": 0.8, "b2": 0.8, "b3": 0.8}
    preds = split.assign(trial_id="t", method="m", variant="", train_mix="movie", k=16,
                         score=split.sample_id.map(score))[["trial_id", "method", "variant", "train_mix", "k",
                                                            "sample_id", "label", "score"]]
    r = user_diagnostics.analyse(preds, split)
    (row,) = r["trials"]
    assert row["within_user"] == pytest.approx(1.0)
    assert row["pooled"] < 0.5                      # pooled over users it ranks backwards
    assert r["users"] == 2 and r["samples"] == 8
    assert r["like_rate"]["pooled"] == pytest.approx(12 / 16)   # 9 wins + 6 ties of 16 pairs
    assert "within-user" in user_diagnostics.markdown(r, "movie")
