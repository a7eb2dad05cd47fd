"""scripts/paper_reading.py: the numbers a written reading cites follow the store."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import numpy as np
import pytest
from scipy import stats

from harness.report.demo import build_demo_store

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("paper_reading", REPO / "scripts" / "paper_reading.py")
paper_reading = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(paper_reading)


@pytest.fixture(scope="module")
def reading(tmp_path_factory):
    db = tmp_path_factory.mktemp("reading") / "demo.duckdb"
    build_demo_store(db)
    # a zero-shot reference: one baseline trial's movie and book scores, stored again as icl
    con = duckdb.connect(str(db))
    src = con.execute("SELECT trial_id FROM trials WHERE method = 'gru4rec' AND status = 'complete' "
                      "AND train_mix = 'movie' AND k = 16 ORDER BY seed LIMIT 1").fetchone()[0]
    con.execute("INSERT INTO trials (trial_id, method, variant, k, seed, status, config) "
                "VALUES ('icl0', 'icl', 'base', 0, 0, 'complete', '{\"method\": \"icl\"}')")
    con.execute("INSERT INTO metrics SELECT 'icl0', eval_domain, split, auc, n, n_pos FROM metrics WHERE trial_id = ?", [src])
    con.execute("INSERT INTO predictions SELECT 'icl0', eval_domain, sample_id, label, score, user_id FROM predictions WHERE trial_id = ?", [src])
    con.close()
    trials, preds = paper_reading.load(str(db), None)
    return db, paper_reading.analyse(trials, preds, resamples=50)


def _aucs(db, method, variant, domain, k):
    return duckdb.connect(str(db), read_only=True).execute(
        "SELECT m.auc FROM trials t JOIN metrics m USING (trial_id) WHERE t.status = 'complete' "
        "AND m.split = 'test' AND t.method = ? AND coalesce(t.variant, '') = ? AND m.eval_domain = ? "
        "AND t.train_mix = ? AND t.k = ? ORDER BY t.seed", [method, variant, domain, domain, k]).fetchnumpy()["auc"]


def test_table3_p_values_follow_scipy_on_the_stored_aucs(reading):
    db, r = reading
    assert r["table3"]
    for row in r["table3"]:
        mine = _aucs(db, "tallrec", row["tallrec"], row["domain"], row["k"])
        other = _aucs(db, row["baseline"], "", row["domain"], row["k"])
        assert row["tallrec_mean"] == pytest.approx(mine.mean())
        assert row["baseline_mean"] == pytest.approx(other.mean())
        if len(mine) > 1 and len(other) > 1:
            want = stats.ttest_ind(mine, other, equal_var=False, alternative="greater").pvalue
            assert row["p"] == pytest.approx(want)


def test_the_goal_is_met_only_by_a_three_seed_mean_at_or_above_070(reading):
    db, r = reading
    for variant, goal in r["goal"].items():
        aucs = _aucs(db, "tallrec", variant, "movie", 256)
        assert goal["n"] == len(aucs)
        assert goal["met"] == (len(aucs) >= 3 and aucs.mean() >= 0.70)
    md = paper_reading.markdown(r)
    assert "### Goal" in md and "### Table 3's test" in md


def test_lift_is_the_mean_over_seeds_minus_zero_shot_with_a_paired_interval(reading):
    db, r = reading
    assert set(r["zero_shot"]) == {"movie", "book"}
    rows = [x for x in r["lift"] if x["variant"] == "full"]
    assert rows
    for x in rows:
        assert x["lift"] == pytest.approx(x["mean"] - r["zero_shot"][x["domain"]]["auc"])
        lo, hi = x["lift_ci95"]
        assert lo < hi and lo - 0.02 < x["lift"] < hi + 0.02


def test_a_missing_store_is_one_clear_error(tmp_path, capsys):
    assert paper_reading.main(["--db", str(tmp_path / "none.duckdb")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no results store at")


def test_lift_intervals_resample_users_where_the_split_repeats_them(reading):
    """The demo's Movie split repeats 16 users, its Book split has one sample per user."""
    _, r = reading
    units = {(x["domain"], x["ci_unit"]) for x in r["lift"]}
    assert units == {("movie", "users"), ("book", "samples")}
    for x in r["lift"]:
        assert len(x["lift_ci95_samples"]) == 2
        assert (x["uauc"]["n"] > 0) == (x["domain"] == "movie")   # UAUC undefined on one sample per user
    assert "resampling" in paper_reading.markdown(r)
