"""`harness store users`: predictions stored without user ids get them from their sample ids."""
import os
import subprocess
import sys

from harness.run.store import Store
from tests.store_rows import make_result


def _harness(*args, env=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=180, env=env)


def test_store_users_fills_the_users_of_the_sample_tables(tmp_path, raw_dir):
    from data.samples import load_split

    store = Store(tmp_path / "r.duckdb")
    store.write_result(make_result(n=30, domains=("movie",)))     # no user ids, as before schema 2
    got = _harness("store", "users", "--db", str(store.path), "--raw-dir", str(raw_dir))
    assert got.returncode == 0, got.stderr
    assert "user ids added to 30 predictions of 1 trials" in got.stdout
    stored = store.query("SELECT user_id FROM predictions ORDER BY sample_id")
    table = load_split("movie", "test", raw_dir=raw_dir).head(30)    # the session's data cache, as the CLI's
    assert stored.user_id.tolist() == table.user_id.astype(str).tolist()


def test_store_users_without_raw_data_is_one_line_and_changes_nothing(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    store.write_result(make_result(n=5))
    env = {k: v for k, v in os.environ.items() if k != "HARNESS_RAW_DIR"}
    env["HARNESS_CACHE_DIR"] = str(tmp_path / "empty-cache")
    got = _harness("store", "users", "--db", str(store.path), env=env)
    assert got.returncode == 2 and len(got.stderr.strip().splitlines()) == 1 and "is missing" in got.stderr
    assert store.query("SELECT count(user_id) AS c FROM predictions").c[0] == 0
