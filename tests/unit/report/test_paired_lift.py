"""The paired lift: the significance target's AUC minus each other column's, bootstrapped on the
same test samples, in Table 3's cells and CSV when `--ci` is on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.report import load_spec
from harness.report.bootstrap import paired_diff_ci
from harness.report.demo import build_demo_store
from harness.report.render import render_report


def _frame(scores, labels, ids=None) -> pd.DataFrame:
    ids = ids if ids is not None else [f"s{i:04d}" for i in range(len(labels))]
    return pd.DataFrame({"sample_id": ids, "label": labels, "score": scores})


def test_paired_interval_separates_a_better_scorer_and_centres_a_tie():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 400)
    good = _frame(labels + rng.normal(0, 0.8, 400), labels)      # AUC ~0.8
    weak = _frame(labels + rng.normal(0, 3.0, 400), labels)      # AUC ~0.6
    lo, hi = paired_diff_ci([good], [weak], resamples=300)
    assert 0 < lo < hi
    lo, hi = paired_diff_ci([good], [good], resamples=300)      # same scores: exactly zero
    assert lo == hi == 0
    lo, hi = paired_diff_ci([weak], [good], resamples=300)
    assert lo < hi < 0
    other = _frame(weak["score"], labels, ids=[f"t{i}" for i in range(400)])
    assert np.isnan(paired_diff_ci([good], [other])[0])          # no shared test set: undefined


def test_the_paired_interval_is_narrower_than_the_two_unpaired_ones():
    from harness.report.bootstrap import mean_auc_ci

    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    base = labels + rng.normal(0, 1.5, 300)
    a, b = _frame(base + rng.normal(0, 0.3, 300), labels), _frame(base, labels)
    lo, hi = paired_diff_ci([a], [b], resamples=300)
    (alo, ahi), (blo, bhi) = mean_auc_ci([a], resamples=300), mean_auc_ci([b], resamples=300)
    assert hi - lo < min(ahi - alo, bhi - blo)


def test_table3_carries_the_lift_of_tallrec_over_each_baseline(tmp_path):
    store = build_demo_store(tmp_path / "demo.duckdb", seeds=2, n=300)
    out = tmp_path / "out"
    render_report(store.path, load_spec("paper"), out, ci=True, ci_resamples=200)
    got = pd.read_csv(out / "table3.csv")
    filled = got[got.n > 0]
    tallrec = filled.method == "TALLRec"
    assert filled[tallrec].lift_lo.isna().all()                  # no lift of a column over itself
    others = filled[~tallrec]
    assert len(others) and others.lift_lo.notna().all() and (others.lift_lo <= others.lift_hi).all()
    # the synthetic store makes TALLRec clearly better than every baseline
    assert (others.lift_lo > 0).mean() > 0.8
    assert "Δ [" in (out / "report.md").read_text()
    without = tmp_path / "plain"
    render_report(store.path, load_spec("paper"), without, ci=False)
    assert pd.read_csv(without / "table3.csv").lift_lo.isna().all()
