"""User ids with every prediction: written by new trials, added to older stores and dumps."""
import duckdb
import pandas as pd
import pytest

from harness.run import dump
from harness.run.store import SCHEMA_VERSION, Store
from harness.run.users import backfill_user_ids
from tests.store_rows import make_result

V1_PREDICTIONS = ("CREATE TABLE predictions (trial_id VARCHAR, eval_domain VARCHAR, sample_id VARCHAR, "
                  "label TINYINT, score DOUBLE)")


def _v1_store(path, result):
    """A store as schema version 1 wrote it: predictions without user_id."""
    store = Store(path)
    store.write_result(result)
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE p1 AS SELECT trial_id, eval_domain, sample_id, label, score FROM predictions")
    con.execute("DROP VIEW results")
    con.execute("DROP TABLE predictions")
    con.execute("ALTER TABLE p1 RENAME TO predictions")
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version VALUES (1)")
    con.close()


def test_a_new_trial_stores_its_user_ids(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write_result(make_result(users=4))
    got = store.query("SELECT user_id, count(*) AS n FROM predictions WHERE eval_domain = 'movie' "
                      "GROUP BY 1 ORDER BY 1")
    assert got.user_id.tolist() == ["u0", "u1", "u2", "u3"] and got.n.sum() == 50


def test_a_method_without_user_ids_stores_null(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write_result(make_result())
    assert store.query("SELECT count(user_id) AS c FROM predictions").c[0] == 0


def test_a_version_1_store_gains_the_column_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.duckdb"
    _v1_store(path, make_result())
    store = Store(path)
    store.write_result(make_result(seed=1, users=2))          # the first write upgrades it
    rows = store.query("SELECT trial_id, count(*) AS n, count(user_id) AS users FROM predictions "
                       "GROUP BY 1 ORDER BY users")
    assert rows.n.tolist() == [100, 100] and rows.users.tolist() == [0, 100]
    assert store.query("SELECT max(version) AS v FROM schema_version").v[0] == SCHEMA_VERSION == 2


def test_a_version_1_dump_loads_with_null_user_ids(tmp_path):
    path = tmp_path / "old.duckdb"
    _v1_store(path, make_result())
    dump.dump(path, tmp_path / "d")
    assert "user_id" not in pd.read_parquet(tmp_path / "d" / "predictions.parquet").columns
    dump.load(tmp_path / "d", tmp_path / "new.duckdb")
    got = Store(tmp_path / "new.duckdb").query("SELECT count(*) AS n, count(user_id) AS u FROM predictions")
    assert (got.n[0], got.u[0]) == (100, 0)


def test_backfill_derives_users_from_sample_ids_and_counts_the_unmatched(tmp_path):
    path = tmp_path / "old.duckdb"
    _v1_store(path, make_result(n=10))
    asked = []

    def lookup(domain, split, alignment, variants):
        asked.append((domain, split, alignment, variants))
        ids = [f"{domain}:{split}:{i:05d}" for i in range(9)]     # the last sample is unknown
        return pd.DataFrame({"sample_id": ids, "user_id": [f"{domain}-{i // 3}" for i in range(9)]})

    got = backfill_user_ids(path, lookup)
    assert sorted(asked) == [("book", "test", "correct", ()), ("movie", "test", "correct", ())]
    assert got == {"trials": 1, "rows": 18, "unmatched": 2}
    rows = Store(path).query("SELECT sample_id, user_id FROM predictions WHERE eval_domain = 'movie' "
                             "ORDER BY sample_id")
    assert rows.user_id.tolist()[:4] == ["movie-0", "movie-0", "movie-0", "movie-1"]
    assert rows.user_id.isna().tolist()[-1]
    assert backfill_user_ids(path, lookup)["rows"] == 0          # stored users are never rewritten


def test_sample_users_reads_the_sample_table(raw_dir, cache_dir):
    from data.samples import load_split
    from data.users import sample_users

    users = sample_users("movie", "test", raw_dir=raw_dir, cache_dir=cache_dir)
    table = load_split("movie", "test", raw_dir=raw_dir, cache_dir=cache_dir)
    assert users.sample_id.tolist() == table.sample_id.tolist()
    assert users.user_id.tolist() == table.user_id.astype(str).tolist()
    assert users.user_id.nunique() < len(users)      # Movie's test split repeats its users


def test_a_real_trial_writes_the_users_of_its_samples(raw_dir, tmp_path):
    from data.samples import load_split
    from harness.core.context import TrialContext
    from harness.core.spec import EvalSpec, TrialSpec
    from harness.core.trial import run_trial

    spec = TrialSpec(method="random", eval=EvalSpec(domains=("movie",), max_samples=40))
    ctx = TrialContext(raw_dir=raw_dir, cache_dir=tmp_path / "cache")
    result = run_trial(spec, ctx)
    assert result.status == "complete", result.error
    Store(tmp_path / "r.duckdb").write_result(result)
    stored = Store(tmp_path / "r.duckdb").query("SELECT sample_id, user_id FROM predictions ORDER BY sample_id")
    table = load_split("movie", "test", raw_dir=raw_dir, cache_dir=tmp_path / "cache" / "data").head(40)
    assert stored.user_id.tolist() == table.user_id.astype(str).tolist()
