"""scripts/study_reading.py: issue 25's goal checks follow the store, with paired intervals."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import pytest

from harness.report.demo import build_demo_store

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("study_reading", REPO / "scripts" / "study_reading.py")
study_reading = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(study_reading)


def _copy_trial_as(con, src: str, new_id: str, method: str) -> None:
    """Store one trial's predictions and metrics again as a zero-shot reference method."""
    con.execute("INSERT INTO trials (trial_id, method, variant, k, seed, status, config) "
                f"VALUES (?, ?, NULL, 0, 0, 'complete', '{{\"method\": \"{method}\"}}')", [new_id, method])
    con.execute("INSERT INTO metrics SELECT ?, eval_domain, split, auc, n, n_pos FROM metrics WHERE trial_id = ?",
                [new_id, src])
    con.execute("INSERT INTO predictions SELECT ?, eval_domain, sample_id, label, score, user_id "
                "FROM predictions WHERE trial_id = ?", [new_id, src])


@pytest.fixture(scope="module")
def reading(tmp_path_factory):
    db = tmp_path_factory.mktemp("study") / "demo.duckdb"
    build_demo_store(db)
    con = duckdb.connect(str(db))
    src = con.execute("SELECT trial_id FROM trials WHERE method = 'gru4rec' AND status = 'complete' "
                      "AND train_mix = 'movie' AND k = 16 ORDER BY seed LIMIT 1").fetchone()[0]
    _copy_trial_as(con, src, "icl0", "icl")
    src2 = con.execute("SELECT trial_id FROM trials WHERE method = 'caser' AND status = 'complete' "
                       "AND train_mix = 'book' AND k = 256 ORDER BY seed LIMIT 1").fetchone()[0]
    _copy_trial_as(con, src2, "like0", study_reading.LIKE_RATE)
    con.close()
    trials, preds = study_reading.load(str(db), None)
    return db, study_reading.analyse(trials, preds, resamples=50)


def _aucs(db, method, variant, domain, k):
    return duckdb.connect(str(db), read_only=True).execute(
        "SELECT m.auc FROM trials t JOIN metrics m USING (trial_id) WHERE t.status = 'complete' "
        "AND m.split = 'test' AND t.method = ? AND coalesce(t.variant, '') = ? AND m.eval_domain = ? "
        "AND t.train_mix = ? AND t.k = ? ORDER BY t.seed", [method, variant, domain, domain, k]).fetchnumpy()["auc"]


def test_each_baseline_comparison_is_a_difference_of_stored_seed_means_with_its_interval(reading):
    db, r = reading
    assert r["vs_baselines"]
    for row in r["vs_baselines"]:
        mine = _aucs(db, "tallrec", "full", row["domain"], row["k"])
        other = _aucs(db, row["baseline"], "", row["domain"], row["k"])
        assert row["auc"]["diff"] == pytest.approx(mine.mean() - other.mean())
        lo, hi = row["auc"]["ci95"]
        assert lo <= hi
        assert row["auc"]["unit"] == ("users" if row["domain"] == "movie" else "samples")
        assert ("uauc" in row) == (row["domain"] == "movie")   # UAUC only where users repeat


def test_beats_all_needs_every_baseline_and_every_lower_end_above_zero(reading):
    _, r = reading
    assert r["beats_all"]
    for cell in r["beats_all"]:
        rows = [x for x in r["vs_baselines"] if (x["domain"], x["k"]) == (cell["domain"], cell["k"])]
        want = len(rows) == len(study_reading.BASELINES) and all(x["auc"]["ci95"][0] > 0 for x in rows)
        assert cell["auc"] == (want if len(rows) == len(study_reading.BASELINES) else None)


def test_rise_with_k_and_the_goal_follow_the_full_means(reading):
    db, r = reading
    for row in r["rise"]:
        means = [_aucs(db, "tallrec", "full", row["domain"], k).mean() for k in study_reading.KS]
        assert [row["means"][str(k)] for k in study_reading.KS] == pytest.approx(means)
        assert row["holds"] == (means[0] <= means[1] <= means[2])
        for lo, hi in zip(study_reading.KS, study_reading.KS[1:]):
            step = row["steps"][f"{hi}-{lo}"]
            assert step["diff"] == pytest.approx(means[study_reading.KS.index(hi)] - means[study_reading.KS.index(lo)])
            assert step["ci95"][0] <= step["ci95"][1]
    aucs = _aucs(db, "tallrec", "full", "movie", 256)
    assert r["goal"]["met"] == (len(aucs) >= 3 and aucs.mean() >= 0.70)


def test_references_and_the_like_rate_comparison_use_the_stored_reference_trials(reading):
    _, r = reading
    names = {(x["domain"], x["name"]) for x in r["references"]}
    assert {("movie", "zero-shot (icl)"), ("book", "like-rate")} <= names
    assert {(x["domain"], x["k"]) for x in r["vs_like_rate"]} >= {("book", 256), ("movie", 64)}
    for cell in r["cells"]:
        assert cell["lift"]["diff"] is not None
    md = study_reading.markdown(r)
    assert "### Beats every baseline" in md and "like-rate" in md


def test_a_missing_store_is_one_clear_error(tmp_path, capsys):
    assert study_reading.main(["--db", str(tmp_path / "none.duckdb")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no results store at")
