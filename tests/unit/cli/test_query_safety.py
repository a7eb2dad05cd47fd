"""Issue #12 parts 1, 2, 6, 7 through the command line: one line and exit 2 for every bad input,
nothing outside the store touched, `--timeout` and Ctrl-C stop a query."""
import os
import signal
import subprocess
import sys
import time

import pytest

from harness.cli.main import main
from harness.run.store import Store
from tests.store_rows import make_result

LONG_SQL = ("SELECT count(*) FROM range(3000000) a, range(3000000) b "
            "WHERE (a.range * 7 + b.range) % 1000003 = 5")


@pytest.fixture
def dbs(tmp_path):
    a, other = Store(tmp_path / "a.duckdb"), Store(tmp_path / "other.duckdb")
    a.write_result(make_result(seed=0))
    other.write_result(make_result(seed=1))
    (tmp_path / "victim.duckdb").write_bytes(b"precious")
    return tmp_path


def _refused(capsys, argv, *parts) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert all(p in err for p in parts), err
    return err


@pytest.mark.parametrize("sql", [
    "ATTACH '{d}/other.duckdb' AS o (READ_WRITE); DELETE FROM o.trials; SELECT 1",
    "COPY (SELECT 'x') TO '{d}/victim.duckdb' (FORMAT csv)",
    "SELECT * FROM read_text('/etc/shadow')",
    "SELECT * FROM read_csv('{d}/victim.duckdb')",
    "SELECT * FROM glob('/root/*')",
    "SET enable_external_access = true",
])
def test_query_cannot_reach_outside_the_store(dbs, capsys, sql):
    _refused(capsys, ["query", sql.format(d=dbs), "--db", str(dbs / "a.duckdb")], "error:")
    assert (dbs / "victim.duckdb").read_bytes() == b"precious"
    assert len(Store(dbs / "other.duckdb").query("SELECT * FROM trials")) == 1


def test_bad_timeout_and_odd_db_paths_are_one_line(dbs, capsys):
    _refused(capsys, ["query", "SELECT 1", "--db", str(dbs / "a.duckdb"), "--timeout", "0"], "--timeout")
    _refused(capsys, ["query", "SELECT 1", "--db", "/proc/x.duckdb"], "no results store")
    _refused(capsys, ["query", "SELECT 1", "--db", str(dbs)], "not a results store")
    (dbs / "junk.duckdb").write_bytes(os.urandom(20000))
    _refused(capsys, ["status", "--db", str(dbs / "junk.duckdb")], "junk.duckdb")


def test_status_refuses_a_truncated_store_with_one_line(dbs, capsys):
    db = dbs / "a.duckdb"
    for seed in range(2, 8):
        Store(db).write_result(make_result(seed=seed, n=3000))
    os.truncate(db, db.stat().st_size // 2)
    _refused(capsys, ["status", "--db", str(db)], "is damaged", "no backup exists")
    _refused(capsys, ["store", "check", "--db", str(db)], "is damaged")


def _harness(*args, **kw):
    return subprocess.Popen([sys.executable, "-m", "harness.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def test_timeout_and_ctrl_c_end_a_query_with_one_line(dbs):
    db = str(dbs / "a.duckdb")
    started = time.monotonic()
    timed = _harness("query", LONG_SQL, "--db", db, "--timeout", "1")
    out, err = timed.communicate(timeout=60)
    assert timed.returncode == 2 and err.strip() == "error: the query ran past its 1 s timeout and was stopped"
    assert time.monotonic() - started < 30
    proc = _harness("query", LONG_SQL, "--db", db)
    time.sleep(4)   # past the imports, inside DuckDB
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130 and err.strip() == "interrupted", err
    assert time.monotonic() - sent < 5
