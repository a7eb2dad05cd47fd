"""Files read back from a run folder are checked, never trusted (issue 24): forged or odd journal
files are skipped with one warning naming them, run folders come from local configuration only,
and a restored store gets its journaled results back."""
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from harness.cli import main
from harness.run.journal import Journal, encode
from harness.run.runner import ingest_journals, storage_root
from harness.run.store import Store
from tests.store_rows import make_result

REPO = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.timeout(120)


def _run(tmp_path, n=2, grid=None):
    """A store with one run whose driver is gone, its plan.json written as `harness run` does."""
    db = tmp_path / "r.duckdb"
    store = Store(db, wait_s=1.0)
    grid = grid or {"name": "g"}
    run_id = store.begin_run("g", grid)
    run_dir = storage_root(grid, db) / run_id
    run_dir.mkdir(parents=True)
    results = [make_result(seed=s) for s in range(n)]
    (run_dir / "plan.json").write_text(json.dumps(
        {"run_id": run_id, "db": str(db.resolve()), "trial_ids": [r.trial_id for r in results],
         "host": os.uname().nodename, "pid": 0}))
    return store, run_id, run_dir, results


def _status(db, capsys, *extra):
    code = main(["status", "--db", str(db), *extra])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_forged_entries_are_skipped_with_one_warning_and_never_stored(tmp_path, capsys):
    store, run_id, run_dir, (good, pending) = _run(tmp_path)
    journal = Journal(run_dir / "journal")
    journal.write(good)
    forged = []
    # 1. the case: a pending trial's id, AUC 1.0, someone else's spec
    other = make_result(seed=9)
    data = json.loads(encode(other))
    data["trial_id"] = pending.trial_id
    data["metrics"][0]["auc"] = 1.0
    forged.append(data)
    # 2. a true id and spec, but a trial that is not in this run's plan
    forged.append(json.loads(encode(make_result(seed=7))))
    # 3. the pending trial's own spec and id, its AUC edited
    data = json.loads(encode(pending))
    data["metrics"][0]["auc"] = 1.0
    forged.append(data)
    # 4. schema: an unknown field, a label of 2
    data = json.loads(encode(pending))
    data["hacked"] = True
    forged.append(data)
    data = json.loads(encode(pending))
    data["predictions"]["movie"]["label"][0] = 2
    forged.append(data)
    names = []
    for i, data in enumerate(forged):
        path = journal.dir / f"{data['trial_id']}-{i + 1}.json"
        path.write_text(json.dumps(data))
        names.append(path.name)
    journal.end_run("finished")
    code, out = _status(store.path, capsys)
    assert code == 0
    assert store.trial_status() == {good.trial_id: "complete"}
    assert store.query("SELECT status FROM runs").status[0] == "finished"   # not held back
    assert store.query("SELECT max(auc) AS m FROM metrics").m[0] < 1.0
    warnings = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == len(forged)
    assert all(any(name in w for w in warnings) for name in names)
    for text in ("is not its spec's hash", "is not in its run's plan",
                 "AUC 1.0 is not what its predictions give", "hacked", "label"):
        assert text in out, text
    # never stored, and `harness run` of the grid would still run the pending trial
    got = ingest_journals(store)
    assert got.stored == 0 and pending.trial_id not in got.waiting


def _mkfifo(path: Path) -> None:
    os.mkfifo(path)


@pytest.mark.parametrize("odd", ["stray", "deep", "end_dict", "end_list", "lock_folder",
                                 "fifo_name", "fifo_entry", "fifo_plan"])
def test_odd_journal_files_are_skipped_with_a_warning(tmp_path, capsys, odd):
    store, run_id, run_dir, (good, _) = _run(tmp_path)
    journal = Journal(run_dir / "journal")
    journal.write(good)
    d = journal.dir
    expect_stored = {good.trial_id: "complete"}
    if odd == "stray":
        (d / "notes-v2.json").write_text("{}")
        named = "notes-v2.json"
    elif odd == "deep":
        (d / f"{good.trial_id}-2.json").write_text("[" * 200_000 + "]" * 200_000)
        named = "nested too deep"
    elif odd in ("end_dict", "end_list"):
        (d / "run_end.json").write_text("{}" if odd == "end_dict" else "[]")
        named = "run_end.json"
    elif odd == "lock_folder":
        (d / ".lock").mkdir()
        named = ".lock"
        expect_stored = {}
    elif odd == "fifo_name":
        _mkfifo(d / "x-1.json")
        named = "x-1.json"
    elif odd == "fifo_entry":
        _mkfifo(d / f"{good.trial_id}-2.json")
        named = "not a regular file"
    else:
        (run_dir / "plan.json").unlink()
        _mkfifo(run_dir / "plan.json")
        named = "plan.json"
        expect_stored = {}
    code, out = _status(store.path, capsys)   # a FIFO read would hang here (pytest timeout)
    assert code == 0, out
    assert "Traceback" not in out
    warnings = [ln for ln in out.splitlines() if ln.startswith("warning:")]
    assert len(warnings) == 1 and named in warnings[0], out
    assert store.trial_status() == expect_stored


def test_a_dump_cannot_point_status_at_another_folder(tmp_path, capsys):
    """A loaded dump's runs.grid_json sets ray.storage_path elsewhere: status neither reads nor
    deletes anything there (run folders come from local configuration only)."""
    victim = tmp_path / "victim"
    store, run_id, run_dir, results = _run(tmp_path / "here", grid={
        "name": "g", "ray": {"storage_path": str(victim)}})
    assert run_dir.parent == victim        # what the old rule derived from the stored grid
    journal = Journal(run_dir / "journal")
    for r in results:
        journal.write(r)
    journal.end_run("finished")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in victim.rglob("*") if p.is_file()}
    code, out = _status(store.path, capsys)
    assert code == 0, out
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in victim.rglob("*") if p.is_file()}
    assert after == before and len(before) == 4      # plan, 2 entries, run_end: all untouched
    assert store.trial_status() == {}
    assert "this run" not in out                     # its plan.json was not read either


def test_a_restored_store_gets_its_journaled_results_back(tmp_path, capsys):
    """Truncated mid-run, restored from the run-start backup (which lacks the run's row): the
    journaled results come back from that run's journal and their files are cleaned up."""
    from harness.run.health import prepare_for_run, restore
    from harness.run.rundirs import register_root

    db = tmp_path / "r.duckdb"
    store = Store(db, wait_s=1.0)
    store.write_result(make_result(seed=5))
    prepare_for_run(store)                               # the backup: without the run below
    grid = {"name": "g"}
    run_id = store.begin_run("g", grid)
    run_dir = storage_root(grid, db) / run_id
    register_root(db, run_dir.parent)
    results = [make_result(seed=s) for s in range(3)]
    run_dir.mkdir(parents=True)
    (run_dir / "plan.json").write_text(json.dumps(
        {"run_id": run_id, "db": str(db.resolve()), "trial_ids": [r.trial_id for r in results],
         "name": "g", "grid_json": json.dumps(grid), "started_at": 1.7e9, "host": "h", "pid": 0}))
    journal = Journal(run_dir / "journal")
    store.write_result(results[0], run_id=run_id)        # stored before the damage
    for r in results[1:]:
        journal.write(r)                                 # journaled: the store failed
    journal.end_run("finished")
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 2)
    restore(db)
    code, out = _status(db, capsys)
    assert code == 0, out
    assert "stored 2 journaled result(s)" in out
    assert set(store.trial_status()) == {make_result(seed=5).trial_id} | {r.trial_id for r in results[1:]}
    row = store.query(f"SELECT name, status FROM runs WHERE run_id = '{run_id}'")
    assert (row.name[0], row.status[0]) == ("g", "finished")
    assert not any((run_dir / "journal").glob("*.json"))


_HOLD_WRITE = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1])   # a writer: even read-only opens must wait
print("held", flush=True)
time.sleep(60)
"""


def test_status_timeout_and_ctrl_c(tmp_path):
    store, run_id, run_dir, _ = _run(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_WRITE, str(store.path)],
                              stdout=subprocess.PIPE, text=True)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    try:
        assert holder.stdout.readline().strip() == "held"
        proc = subprocess.run([sys.executable, "-m", "harness.cli", "status", "--db", str(store.path),
                               "--timeout", "1"], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=60)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and "1 s timeout" in lines[0] and "busy" in lines[0]
        bad = subprocess.run([sys.executable, "-m", "harness.cli", "status", "--db", str(store.path),
                              "--timeout", "0"], cwd=REPO, env=env, capture_output=True, text=True,
                             timeout=60)
        assert bad.returncode == 2 and "--timeout must be a positive" in bad.stderr
        # Ctrl-C while status waits for the store: one line, exit 130
        proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "status", "--db",
                                 str(store.path)], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        threading.Event().wait(4.0)          # it is importing, then waiting on the lock
        proc.send_signal(2)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130 and err.strip().endswith("interrupted"), out + err
    finally:
        holder.kill()
        holder.wait(30)


def test_journaled_predictions_keep_their_user_ids(tmp_path, capsys):
    """Trials write user ids with their predictions (store schema 2): a journal entry that has
    them is valid, and its users reach the store."""
    store, run_id, run_dir, results = _run(tmp_path, n=1)
    result = make_result(seed=0, users=3)
    (run_dir / "plan.json").write_text(json.dumps(
        {"run_id": run_id, "db": str(store.path.resolve()), "trial_ids": [result.trial_id],
         "host": os.uname().nodename, "pid": 0}))
    Journal(run_dir / "journal").write(result)
    code, text = _status(store.path, capsys)
    assert "stored 1 journaled result(s)" in text and "warning" not in text
    users = store.query("SELECT DISTINCT user_id FROM predictions ORDER BY 1")["user_id"].tolist()
    assert users == ["u0", "u1", "u2"]
