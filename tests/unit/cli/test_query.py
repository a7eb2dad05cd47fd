import json
import subprocess
import sys

import pytest

from harness.run.store import Store
from tests.store_rows import make_result


def harness(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = tmp_path_factory.mktemp("q") / "r.duckdb"
    store = Store(path)
    store.write_result(make_result(seed=0, shift=0.4))
    store.write_result(make_result(seed=1, shift=0.4))
    return path


def test_query_formats(db):
    out = harness("query", "SELECT seed, eval_domain, auc FROM results ORDER BY seed, eval_domain",
                  "--db", str(db), "--format", "json")
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert [r["seed"] for r in rows] == [0, 0, 1, 1]
    csv = harness("query", "SELECT count(*) AS n FROM predictions", "--db", str(db), "--format", "csv")
    assert csv.stdout.splitlines() == ["n", "200"]
    table = harness("query", "SELECT method, count(*) AS n FROM trials GROUP BY method", "--db", str(db))
    assert "random" in table.stdout and table.returncode == 0


def test_malformed_sql_is_one_message_and_exit_2(db):
    out = harness("query", "SELEC nonsense", "--db", str(db))
    assert out.returncode == 2
    assert out.stderr.startswith("error: SQL error")
    assert "Traceback" not in out.stderr


def test_query_cannot_write(db):
    out = harness("query", "DROP TABLE trials", "--db", str(db))
    assert out.returncode == 2
    assert len(Store(db).query("SELECT * FROM trials")) == 2


def test_missing_db(tmp_path):
    out = harness("query", "SELECT 1", "--db", str(tmp_path / "none.duckdb"))
    assert out.returncode == 2 and "no results store" in out.stderr
    assert not (tmp_path / "none.duckdb").exists()
