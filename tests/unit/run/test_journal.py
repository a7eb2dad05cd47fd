"""The run journal: a computed result survives a store held busy by a reader and a killed driver."""
import json
import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from harness.run.journal import Journal, decode, encode, ingest
from harness.run.runner import ingest_journals, storage_root
from harness.run.store import Store
from harness.tune.writer import WAITING, StoreWriter
from tests.store_rows import make_result

REPO = Path(__file__).resolve().parents[3]


def _hold_read_lock(path, seconds, ready):
    con = duckdb.connect(str(path), read_only=True)   # a long `harness query`
    ready.set()
    time.sleep(seconds)
    con.close()


def _reader(path, seconds):
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_read_lock, args=(path, seconds, ready))
    proc.start()
    assert ready.wait(30)
    return proc


def write_plan(run_dir: Path, db: Path, run_id: str, trial_ids, **extra) -> None:
    """The plan.json `harness run` writes: ingest checks journal entries against it."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "plan.json").write_text(json.dumps(
        {"run_id": run_id, "db": str(Path(db).resolve()), "trial_ids": list(trial_ids),
         "host": os.uname().nodename, "pid": 0, **extra}))


def test_encode_decode_round_trip():
    r = make_result(seed=3, shift=0.4)
    r.extra = {"pid": 7, "odd": Path("/x")}
    back = decode(encode(r))
    assert back.trial_id == r.trial_id and back.spec_json == r.spec_json
    assert back.metrics == r.metrics and back.extra == {"pid": 7, "odd": "/x"}
    for d, frame in r.predictions.items():
        pd.testing.assert_frame_equal(back.predictions[d], frame, check_dtype=False)


def test_a_reader_longer_than_the_store_wait_loses_nothing(tmp_path):
    """The issue's case: a reader holds the file past the store's own wait while trials finish."""
    store = Store(tmp_path / "r.duckdb", wait_s=0.5)
    run_id = store.begin_run("g", {})
    journal, notes = Journal(tmp_path / "journal"), []
    reader = _reader(store.path, 4.0)        # 8x the store's wait
    writer = StoreWriter(store, run_id, journal=journal, note=notes.append)
    results = [make_result(seed=s) for s in range(5)]
    for r in results:
        writer.put(r)
    time.sleep(1.5)
    assert len(journal.entries()) == 5 and WAITING in notes    # durable, and the user is told
    assert writer.close(timeout_s=60) == []
    reader.join(30)
    assert sorted(store.trial_status()) == sorted(r.trial_id for r in results)
    assert journal.entries() == [] and notes[-1] == ""


def test_store_busy_past_close_leaves_results_journaled_then_ingest_stores_them(tmp_path):
    store = Store(tmp_path / "r.duckdb", wait_s=0.3)
    grid = {"name": "g"}
    run_id = store.begin_run("g", grid)
    run_dir = storage_root(grid, store.path) / run_id
    journal = Journal(run_dir / "journal")
    assert journal.hold()
    reader = _reader(store.path, 5.0)
    writer = StoreWriter(store, run_id, journal=journal)
    results = [make_result(seed=s) for s in range(3)]
    write_plan(run_dir, store.path, run_id, [r.trial_id for r in results])
    for r in results:
        writer.put(r)
    left = writer.close(timeout_s=0.5)
    assert [r.trial_id for r in left] == [r.trial_id for r in results]
    assert "busy" in writer.errors[0]
    journal.end_run("finished")
    # While this driver holds the journal, ingest leaves it alone (no double write).
    reader.join(30)
    assert ingest_journals(store).stored == 0 and len(journal.entries()) == 3
    journal.release()
    got = ingest_journals(store)
    assert (got.stored, got.left) == (3, 0) and journal.entries() == []
    assert sorted(store.trial_status()) == sorted(r.trial_id for r in results)
    assert store.query("SELECT status FROM runs").status[0] == "finished"


def test_attempts_of_one_trial_are_ingested_in_order(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    journal = Journal(tmp_path / "j")
    journal.write(make_result(status="failed", error="boom"))
    journal.write(make_result())
    assert ingest(store, "run", journal.dir).stored == 2
    row = store.query("SELECT status, attempts FROM trials").iloc[0]
    assert (row.status, row.attempts) == ("complete", 2)


def test_a_torn_journal_file_is_reported_not_fatal(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    journal = Journal(tmp_path / "j")
    journal.write(make_result(seed=1))
    (journal.dir / f"{'0' * 64}-1.json").write_text('{"trial_id": ')
    got = ingest(store, "run", journal.dir)
    assert (got.stored, got.left) == (1, 0) and got.warnings == [
        f"{journal.dir / ('0' * 64 + '-1.json')}: not valid JSON (Expecting value: line 1 column 14 "
        "(char 13)); skipped"]


_KILLED_DRIVER = """
import os, sys, time
from harness.run.journal import Journal
from harness.run.store import Store
from tests.store_rows import make_result
store_path, run_dir = sys.argv[1], sys.argv[2]
journal = Journal(run_dir + "/journal")
assert journal.hold()
for seed in range(4):
    journal.write(make_result(seed=seed))   # computed and journaled, never stored
print("journaled", flush=True)
time.sleep(60)
"""


def test_killed_driver_journal_is_stored_by_harness_status(tmp_path):
    """SIGKILL of a driver with results journaled; `harness status` stores them, nothing reruns."""
    from harness.cli import main

    db = tmp_path / "r.duckdb"
    store = Store(db)
    grid = {"name": "killed"}
    run_id = store.begin_run("killed", grid)
    run_dir = storage_root(grid, db) / run_id
    write_plan(run_dir, db, run_id, [make_result(seed=s).trial_id for s in range(4)])
    driver = subprocess.Popen([sys.executable, "-c", _KILLED_DRIVER, str(db), str(run_dir)],
                              cwd=REPO, stdout=subprocess.PIPE, text=True,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
    try:
        assert driver.stdout.readline().strip() == "journaled"
        assert ingest_journals(store).stored == 0          # alive: its journal is its own
        driver.send_signal(signal.SIGKILL)
        driver.wait(30)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert store.trial_status() == {}
    assert main(["status", "--db", str(db)]) == 0
    assert sorted(store.trial_status()) == sorted(make_result(seed=s).trial_id for s in range(4))
    assert Journal(run_dir / "journal").entries() == []


@pytest.mark.parametrize("progress,plan,expected", [
    (None, None, "running?"),
    (None, {"host": os.uname().nodename, "pid": 0}, "interrupted"),
    (None, {"host": os.uname().nodename, "pid": os.getpid()}, "starting"),
    ({"host": os.uname().nodename, "pid": 0}, None, "interrupted"),
    ({"host": os.uname().nodename, "pid": os.getpid()}, None, "running"),
    ({"host": "elsewhere", "pid": 0}, None, "running"),
])
def test_driver_state(progress, plan, expected):
    from harness.cli.status import _driver_state

    assert _driver_state(progress, "running", plan).startswith(expected)
    assert _driver_state(progress, "finished", plan) == "finished"
