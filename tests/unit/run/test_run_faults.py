"""A run's faults (issue 24): a busy store never stops a run's plan, a full disk is one line with
the real error, and a killed driver's Ray leftovers are cleaned up by the next run or status."""
import contextlib
import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from harness.core.errors import HarnessError
from harness.run.journal import Journal
from harness.run.runner import disk_error, plan_run, storage_root
from harness.run.store import Store, StoreError
from harness.tune.writer import DiskFull, StoreWriter
from tests.store_rows import make_result

pytestmark = pytest.mark.timeout(120)

GRID = """imports: [tests.fixtures.methods]
name: fake
grid:
  method: [test-instant]
  seed: [0, 1, 2]
  k: [16]
  train_mix: [movie]
eval:
  domains: [movie]
"""


def _reader(path):
    """A read-only connection in another process (a notebook on the store)."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys, time, duckdb\n"
                             "con = duckdb.connect(sys.argv[1], read_only=True)\n"
                             "print('open', flush=True)\ntime.sleep(60)", str(path)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "open"
    return proc


def test_a_reader_does_not_stop_planning_and_journaled_results_are_not_rerun(tmp_path):
    """The issue's plan-time case: journaled results of a gone driver and a reader holding the
    store. Before: `harness run` exited 2 ("could not be stored"); now they count as done."""
    from harness.grid import expand, load_grid

    grid_path = tmp_path / "g.yaml"
    grid_path.write_text(GRID)
    specs = expand(load_grid(grid_path))
    db = tmp_path / "r.duckdb"
    store = Store(db)
    run_id = store.begin_run("fake", {"name": "fake"})
    run_dir = storage_root({"name": "fake"}, db) / run_id
    run_dir.mkdir(parents=True)
    (run_dir / "plan.json").write_text(json.dumps(
        {"run_id": run_id, "db": str(db.resolve()), "trial_ids": [s.trial_id for s in specs]}))
    journal = Journal(run_dir / "journal")
    journal.write(make_result(spec=specs[0]))
    reader = _reader(db)
    try:
        plan = plan_run(grid_path, db=db)
    finally:
        reader.kill()
        reader.wait(30)
    assert plan.waiting == 1 and plan.ingested == 0
    assert [s.trial_id for s in plan.todo] == [s.trial_id for s in specs[1:]]
    assert plan_run(grid_path, db=db).ingested == 1          # stored once the reader is gone


class _Full:
    """A journal on a full disk."""
    dir = Path("/full/journal")

    def write(self, result):
        raise OSError(errno.ENOSPC, "No space left on device", "/full/journal/.x.tmp")

    def remove(self, path):
        pass


def test_a_full_disk_stops_the_run_with_the_real_error(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    writer = StoreWriter(store, "run", journal=_Full())
    with pytest.raises(DiskFull) as caught:
        writer.put(make_result())
    assert writer.close(timeout_s=10) == []          # the store still took it
    assert len(store.trial_status()) == 1
    text = disk_error(RuntimeError("Tune wrapped it"))
    assert text is None
    try:
        try:
            raise caught.value
        except DiskFull as exc:
            raise RuntimeError("TuneError: the callback failed") from exc
    except RuntimeError as wrapped:
        line = disk_error(wrapped)
    assert line == "cannot journal trial " + make_result().trial_id[:12] + \
        " in /full/journal: No space left on device"
    assert disk_error(ValueError("Traceback ...\nOSError: [Errno 28] No space left on device\n")) \
        == "OSError: [Errno 28] No space left on device"


def test_a_failed_commit_is_not_masked_by_the_rollback(tmp_path, monkeypatch):
    """A full disk fails the COMMIT, which ends the transaction: the old ROLLBACK then raised
    "cannot rollback - no transaction is active" instead of the real error."""
    store = Store(tmp_path / "r.duckdb")
    store.init()
    real_writer = Store.writer

    class Con:
        def __init__(self, con):
            self.con = con

        def execute(self, sql, *args):
            if sql == "COMMIT":
                self.con.execute("ROLLBACK")
                raise duckdb.IOException('Could not write file "r.duckdb.wal": No space left on device')
            return self.con.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.con, name)

    @contextlib.contextmanager
    def writer(self):
        with real_writer(self) as con:
            yield Con(con)

    monkeypatch.setattr(Store, "writer", writer)
    with pytest.raises(StoreError, match="No space left on device") as caught:
        store.write_result(make_result())
    assert "rollback" not in str(caught.value)


def test_progress_on_a_full_disk_does_not_stop_the_run(tmp_path, monkeypatch):
    from harness.core.spec import TrialSpec
    from harness.run.progress import RunProgress

    spec = TrialSpec(method="random", train_mix="movie", k=16, seed=0)
    progress = RunProgress([spec], "t", state_file=tmp_path / "progress.json", live=False)

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with progress:
        progress.started(spec)
        progress.finished(make_result(spec=spec), final=True)
    assert "No space left on device" in progress.state_error


def test_a_run_folder_on_a_full_disk_is_one_line(tmp_path, monkeypatch):
    import harness.run.runner as runner

    grid_path = tmp_path / "g.yaml"
    grid_path.write_text(GRID)
    plan = plan_run(grid_path, db=tmp_path / "r.duckdb")

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "runs"))

    monkeypatch.setattr(runner, "register_root", full, raising=False)
    import harness.run.rundirs as rundirs
    monkeypatch.setattr(rundirs, "register_root", full)
    with pytest.raises(HarnessError) as caught:
        runner.run_grid(plan)
    assert str(caught.value).startswith("cannot create the run folder")
    assert "No space left on device" in str(caught.value) and "\n" not in str(caught.value)


def test_killed_drivers_ray_processes_and_temp_dirs_are_cleaned_up(tmp_path):
    from harness.tune.cleanup import RECORD, sweep_stale

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = Path(f"/tmp/rh-{dead.pid}-t24{os.getpid()}")
    live = Path(f"/tmp/rh-{os.getpid()}-t24live")
    elsewhere = tmp_path / "not-ours"
    procs = []
    for folder in (stale, live, elsewhere):
        (folder / "session_x").mkdir(parents=True, exist_ok=True)
        procs.append(subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)",
                                       f"--temp-dir={folder}/session_x"]))
    (tmp_path / RECORD).write_text(f"{stale}\n{live}\n{elsewhere}\n")
    try:
        assert sweep_stale(tmp_path) == [stale]
        assert procs[0].wait(10) == -9                     # the killed driver's leftover
        time.sleep(0.2)
        assert procs[1].poll() is None and procs[2].poll() is None   # a live driver's; not ours
        assert not stale.exists() and live.exists() and elsewhere.exists()
        assert (tmp_path / RECORD).read_text() == f"{live}\n"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)
        import shutil
        shutil.rmtree(live, ignore_errors=True)
        shutil.rmtree(stale, ignore_errors=True)


def test_store_error_names_the_disk(tmp_path, monkeypatch):
    """A write refused by the disk is a StoreError with DuckDB's real message."""
    store = Store(tmp_path / "r.duckdb")
    store.init()

    def full(self, con):
        raise duckdb.IOException('Could not write file "x.wal": No space left on device')

    monkeypatch.setattr(Store, "_migrate", full)
    with pytest.raises(StoreError, match="cannot write .*No space left on device"):
        Store(tmp_path / "r.duckdb").init()
