"""scripts/valid_trials.py: lists only trials scored on the valid split, with the search's UAUC."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb
import numpy as np
import pytest

from data.samples import load_split

from harness.core.objective import objective_value
from harness.report.demo import build_demo_store

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("valid_trials", REPO / "scripts" / "valid_trials.py")
valid_trials = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(valid_trials)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The demo store with one movie trial's rows moved to the valid split, as a search trial's are."""
    db = tmp_path_factory.mktemp("valid") / "demo.duckdb"
    build_demo_store(db)
    con = duckdb.connect(str(db))
    tid = con.execute("SELECT trial_id FROM trials WHERE method = 'gru4rec' AND status = 'complete' "
                      "AND train_mix = 'movie' ORDER BY k, seed LIMIT 1").fetchone()[0]
    con.execute("UPDATE metrics SET split = 'valid' WHERE trial_id = ? AND eval_domain = 'movie'", [tid])
    con.close()
    return db, tid


def test_only_the_valid_split_trial_is_listed_with_the_search_objective(store):
    db, tid = store
    trials, preds = valid_trials.load(str(db))
    rows = valid_trials.rows_of(trials, preds)
    assert [(r["method"], r["domain"]) for r in rows] == [("gru4rec", "movie")]
    frame = preds[(preds.trial_id == tid) & (preds.eval_domain == "movie")]
    assert rows[0]["uauc"] == pytest.approx(objective_value("uauc", frame))
    assert rows[0]["auc"] == pytest.approx(duckdb.connect(str(db), read_only=True).execute(
        "SELECT auc FROM metrics WHERE trial_id = ? AND split = 'valid'", [tid]).fetchone()[0])
    assert rows[0]["corr_like_rate"] is None            # no like-rates given


def test_like_rate_correlation_is_of_the_trials_scores_and_each_rows_history(store):
    """The demo's rows are test rows relabelled: their histories come from the test split here."""
    db, tid = store
    split = load_split("movie", "test")
    rates = {"movie": dict(zip(split.sample_id, split.history_labels.apply(lambda h: float(np.mean(h)))))}
    trials, preds = valid_trials.load(str(db))
    [row] = valid_trials.rows_of(trials, preds, rates)
    frame = preds[(preds.trial_id == tid) & (preds.eval_domain == "movie")]
    want = np.corrcoef(frame.score, frame.sample_id.map(rates["movie"]))[0, 1]
    assert row["corr_like_rate"] == pytest.approx(want)


def test_cli_writes_md_and_json_and_refuses_a_missing_store(store, tmp_path, capsys):
    db, _ = store
    assert valid_trials.main(["--db", str(db), "--out", str(tmp_path / "v")]) == 0
    assert "| demo.duckdb | gru4rec" in (tmp_path / "v.md").read_text()
    assert (tmp_path / "v.json").is_file()
    assert valid_trials.main(["--db", str(db), "--k", "9999"]) == 2
    assert valid_trials.main(["--db", str(tmp_path / "nope.duckdb")]) == 2
    assert "no results store" in capsys.readouterr().err
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a store")
    assert valid_trials.main(["--db", str(junk)]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert junk.read_text() == "not a store"           # nothing written to it
