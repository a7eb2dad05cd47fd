import multiprocessing as mp
import time

import duckdb
import pytest

from harness.run.store import SCHEMA_VERSION, Store, StoreError
from tests.store_rows import make_result


@pytest.fixture
def store(tmp_path):
    return Store(tmp_path / "results.duckdb", wait_s=1.0)


def test_round_trip(store):
    run_id = store.begin_run("t", {"grid": 1})
    r = make_result(k=64, seed=2, shift=0.5)
    assert store.write_result(r, run_id) is True
    rows = store.query("SELECT method, k, seed, eval_domain, auc, n, n_pos FROM results ORDER BY eval_domain")
    assert list(rows["eval_domain"]) == ["book", "movie"]
    assert list(rows["k"]) == [64, 64] and list(rows["seed"]) == [2, 2]
    for m in r.metrics:
        got = rows.loc[rows.eval_domain == m.eval_domain].iloc[0]
        assert got.auc == pytest.approx(m.auc) and got.n == m.n and got.n_pos == m.n_pos
    preds = store.query("SELECT count(*) AS c FROM predictions")
    assert preds.c[0] == 100
    store.end_run(run_id)
    assert store.query("SELECT status FROM runs").status[0] == "finished"
    assert store.query("SELECT max(version) AS v FROM schema_version").v[0] == SCHEMA_VERSION


def test_auc_in_store_equals_auc_recomputed_from_stored_predictions(store):
    from sklearn.metrics import roc_auc_score

    store.write_result(make_result(shift=0.3))
    preds = store.query("SELECT eval_domain, label, score FROM predictions")
    aucs = store.query("SELECT eval_domain, auc FROM metrics")
    for domain, frame in preds.groupby("eval_domain"):
        assert aucs.set_index("eval_domain").auc[domain] == pytest.approx(roc_auc_score(frame.label, frame.score))


def test_storing_a_complete_trial_again_changes_nothing(store):
    r = make_result()
    store.write_result(r)
    before = store.query("SELECT * FROM trials")
    assert store.write_result(make_result()) is False
    after = store.query("SELECT * FROM trials")
    assert before.equals(after)
    assert store.query("SELECT count(*) AS c FROM predictions").c[0] == 100


def test_failed_trial_is_replaced_by_a_later_success(store):
    failed = make_result(status="failed", error="boom")
    store.write_result(failed)
    assert store.trial_status() == {failed.trial_id: "failed"}
    assert store.completed_ids() == set()
    store.write_result(make_result())
    row = store.query("SELECT status, error, attempts FROM trials").iloc[0]
    assert (row.status, row.error, row.attempts) == ("complete", None, 2)
    assert store.query("SELECT count(*) AS c FROM metrics").c[0] == 2


def test_a_failure_mid_write_leaves_nothing_of_the_trial(store, monkeypatch):
    store.write_result(make_result(seed=1))          # an earlier trial must survive untouched
    original = Store._insert_rows

    def explode(con, r):
        original(con, r)                             # metrics and predictions are written...
        raise RuntimeError("disk full")              # ...then the write dies

    monkeypatch.setattr(Store, "_insert_rows", staticmethod(explode))
    with pytest.raises(RuntimeError):
        store.write_result(make_result(seed=2))
    monkeypatch.undo()
    assert store.query("SELECT seed FROM trials").seed.tolist() == [1]
    assert store.query("SELECT count(*) AS c FROM metrics").c[0] == 2
    assert store.query("SELECT count(*) AS c FROM predictions").c[0] == 100


def test_query_is_read_only_and_sql_errors_are_clear(store):
    store.write_result(make_result())
    with pytest.raises(StoreError, match="SQL error"):
        store.query("SELEC oops")
    with pytest.raises(StoreError):
        store.query("DELETE FROM trials")
    assert len(store.query("SELECT * FROM trials")) == 1


def test_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="no results store"):
        Store(tmp_path / "nope.duckdb").query("SELECT 1")


def _hold_write_lock(path, seconds, ready):
    con = duckdb.connect(str(path))
    ready.set()
    time.sleep(seconds)
    con.close()


def test_reader_waits_for_a_writer_then_reports_busy(store):
    store.init()
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    holder = ctx.Process(target=_hold_write_lock, args=(store.path, 4.0, ready))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(StoreError, match="busy"):
            Store(store.path, wait_s=0.5).query("SELECT 1")
        # A reader with enough patience gets through once the writer lets go.
        assert Store(store.path, wait_s=30).query("SELECT 1 AS one").one[0] == 1
    finally:
        holder.join(30)


def test_newer_schema_is_refused(store):
    store.init()
    con = duckdb.connect(str(store.path))
    con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION + 1])
    con.close()
    with pytest.raises(StoreError, match="newer"):
        Store(store.path).write_result(make_result())   # a harness opening a newer file
