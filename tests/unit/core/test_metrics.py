"""The metric registry: AUC, user-averaged AUC and log loss, their weighted (bootstrap) forms
and the reasons a metric is undefined."""
import numpy as np
import pytest
from sklearn.metrics import log_loss, roc_auc_score

from harness.core.errors import HarnessError
from harness.core.metrics import AUC, LOGLOSS, METRICS, UAUC, get_metric

RNG = np.random.default_rng(3)
LABELS = RNG.integers(0, 2, 60)
SCORES = RNG.random(60)
USERS = np.array([f"u{i % 7}" for i in range(60)])


def _per_user_auc():
    aucs = []
    for u in np.unique(USERS):
        m = USERS == u
        if len(set(LABELS[m])) == 2:
            aucs.append(roc_auc_score(LABELS[m], SCORES[m]))
    return aucs


def test_registry_names_and_unknown_metric_lists_them():
    assert METRICS.names() == ["auc", "logloss", "uauc"]
    with pytest.raises(HarnessError, match=r"unknown metric 'gauc'; registered: auc, logloss, uauc"):
        get_metric("gauc")


def test_values_equal_scikit_learn():
    assert AUC.evaluate(LABELS, SCORES).value == pytest.approx(roc_auc_score(LABELS, SCORES))
    assert LOGLOSS.evaluate(LABELS, SCORES).value == pytest.approx(log_loss(LABELS, SCORES))
    uauc = UAUC.evaluate(LABELS, SCORES, USERS)
    assert uauc.value == pytest.approx(np.mean(_per_user_auc()))
    assert uauc.users == len(_per_user_auc()) and "of 7 users have both labels" in uauc.note


def test_a_user_with_one_label_is_left_out_of_uauc():
    labels = LABELS.copy()
    labels[USERS == "u0"] = 1
    got = UAUC.evaluate(labels, SCORES, USERS)
    assert got.users == 6 and got.note == "6 of 7 users have both labels"


def test_weighted_forms_equal_the_values_on_the_resampled_data():
    idx = RNG.integers(0, 60, 60)                     # one resample, as explicit rows
    weights = np.bincount(idx, minlength=60)[None, :]
    for metric, truth in ((AUC, roc_auc_score(LABELS[idx], SCORES[idx])),
                          (LOGLOSS, log_loss(LABELS[idx], SCORES[idx], labels=[0, 1]))):
        assert metric.weighted(LABELS, SCORES, USERS, weights)[0] == pytest.approx(truth)


def test_weighted_uauc_counts_a_user_drawn_twice_twice():
    per_user = {u: roc_auc_score(LABELS[USERS == u], SCORES[USERS == u]) for u in np.unique(USERS)
                if len(set(LABELS[USERS == u])) == 2}
    drawn = {"u1": 2, "u2": 1}                        # u1 twice, u2 once, the rest not at all
    weights = np.array([[drawn.get(u, 0) for u in USERS]], dtype=float)
    want = (2 * per_user["u1"] + per_user["u2"]) / 3
    assert UAUC.weighted(LABELS, SCORES, USERS, weights)[0] == pytest.approx(want)


@pytest.mark.parametrize("metric, labels, scores, users, reason", [
    (AUC, [1, 1, 1], [0.1, 0.2, 0.3], None, "one class only"),
    (UAUC, [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], None, "no user ids stored"),
    (UAUC, [0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], ["a", "b", "c", "d"], "no user has both labels"),
    (LOGLOSS, [0, 1], [-2.0, 3.0], None, "scores are not probabilities"),
])
def test_undefined_metrics_say_why(metric, labels, scores, users, reason):
    got = metric.evaluate(labels, scores, users)
    assert got.value is None and reason in got.note
