"""Issue #12 parts 1, 2, 6: the store's SQL sees only the store, a query can be stopped, and a
damaged store is refused (one line naming its backup) before anything is written into it."""
import _thread
import os
import signal
import threading
import time

import duckdb
import pytest

from harness.run.health import prepare_for_run, restore, scan
from harness.run.store import Store, StoreError, backup_path
from tests.store_rows import make_result

LONG_SQL = ("SELECT count(*) FROM range(3000000) a, range(3000000) b "
            "WHERE (a.range * 7 + b.range) % 1000003 = 5")
HEADER, BLOCK = 3 * 4096, 262144   # DuckDB's file header and block size


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "results.duckdb", wait_s=1.0)
    for seed in range(6):
        s.write_result(make_result(seed=seed, n=3000))
    return s


def _data_block_offset(path) -> int:
    """Where a block of the predictions table starts in the file."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        block = con.execute("SELECT min(block_id) FROM pragma_storage_info('predictions') "
                            "WHERE block_id >= 0").fetchone()[0]
    finally:
        con.close()
    return HEADER + block * BLOCK


def _damage(path, offset=None) -> None:
    with open(path, "r+b") as f:
        f.seek(_data_block_offset(path) + 1000 if offset is None else offset)
        f.write(os.urandom(4096))


@pytest.mark.parametrize("sql", [
    "ATTACH '{other}' AS o (READ_WRITE); DELETE FROM o.trials; SELECT 1",
    "COPY (SELECT 'x') TO '{victim}' (FORMAT csv)",
    "SELECT * FROM read_text('{victim}')",
    "SELECT * FROM read_csv('{victim}')",
    "SELECT * FROM glob('{dir}/*')",
    "SELECT * FROM '{other}'",
    "SET enable_external_access = true; SELECT * FROM read_text('{victim}')",
    "RESET enable_external_access",
    "SET lock_configuration = false",
    "EXPORT DATABASE '{dir}/exported'",
    "INSTALL httpfs",
    "DROP TABLE trials",
])
def test_sql_sees_only_the_store(store, tmp_path, sql):
    other = Store(tmp_path / "other.duckdb")
    other.write_result(make_result(seed=9))
    victim = tmp_path / "victim.duckdb"
    victim.write_bytes(b"precious")
    with pytest.raises(StoreError) as err:
        store.query(sql.format(other=other.path, victim=victim, dir=tmp_path))
    assert "\n" not in str(err.value)
    assert victim.read_bytes() == b"precious"
    assert len(other.query("SELECT * FROM trials")) == 1
    assert len(store.query("SELECT * FROM trials")) == 6
    assert not (tmp_path / "exported").exists()


def test_sql_error_is_one_line(store):
    with pytest.raises(StoreError, match="^SQL error: .*SELEC") as err:
        store.query("SELEC 1")
    assert "\n" not in str(err.value)


def test_a_query_past_its_timeout_is_stopped(store):
    started = time.monotonic()
    with pytest.raises(StoreError, match="timeout"):
        store.query(LONG_SQL, timeout_s=0.5)
    assert time.monotonic() - started < 5
    assert store.query("SELECT 1 AS one").one[0] == 1   # the file is free again


def test_ctrl_c_interrupts_a_running_query(store):
    # Python's own SIGINT handler, whatever an earlier test (Ray) left: interrupt_main does
    # nothing while SIGINT is ignored, and the query below would then run for hours.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        threading.Timer(0.5, _thread.interrupt_main).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            store.query(LONG_SQL)
        assert time.monotonic() - started < 5
    finally:
        signal.signal(signal.SIGINT, previous)


def test_check_passes_a_good_store_and_run_start_takes_a_backup(store):
    health = scan(store.path)
    assert health.tables == 6 and health.rows > 36000
    prepared = prepare_for_run(store)
    assert prepared.backup == backup_path(store.path)
    assert Store(prepared.backup).query("SELECT count(*) AS n FROM trials").n[0] == 6


@pytest.mark.parametrize("damage", ["block", "truncate", "header"])
def test_a_damaged_store_is_refused_and_left_as_it_is(store, damage):
    prepare_for_run(store)                       # the backup of the good store
    if damage == "block":
        _damage(store.path)
    elif damage == "truncate":
        os.truncate(store.path, store.path.stat().st_size // 2)
    else:
        _damage(store.path, offset=0)
    before = store.path.read_bytes()
    for attempt in (lambda: prepare_for_run(Store(store.path)), lambda: scan(store.path)):
        with pytest.raises(StoreError, match="is damaged") as err:
            attempt()
        assert "\n" not in str(err.value)
        assert f"harness store restore --db {store.path}" in str(err.value)
    assert store.path.read_bytes() == before     # nothing written into it


def test_damage_found_mid_write_is_one_line(store):
    _damage(store.path)
    with pytest.raises(StoreError, match="is damaged"):
        Store(store.path).query("SELECT sum(score) FROM predictions")


def test_restore_puts_the_backup_back_and_keeps_the_damaged_file(store):
    prepare_for_run(store)
    _damage(store.path)
    damaged_bytes = store.path.read_bytes()
    bak, kept = restore(store.path)
    assert bak == backup_path(store.path) and kept.read_bytes() == damaged_bytes
    assert scan(store.path).rows == scan(bak).rows
    assert len(Store(store.path).query("SELECT * FROM trials")) == 6


def test_restore_refuses_without_a_good_backup_or_over_a_good_store(store):
    with pytest.raises(StoreError, match="no backup"):
        restore(store.path)
    prepare_for_run(store)
    with pytest.raises(StoreError, match="passes its check"):
        restore(store.path)
    _damage(backup_path(store.path))
    _damage(store.path)
    with pytest.raises(StoreError, match="damaged"):
        restore(store.path, force=True)


def test_a_store_folder_that_cannot_exist_is_one_line(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the store's folder"):
        prepare_for_run(Store(tmp_path / "file" / "r.duckdb"))
    with pytest.raises(StoreError, match="cannot open"):
        prepare_for_run(Store("/proc/x.duckdb"))
