"""Issue 24: a reader never stops a run. A read-only DuckDB connection (a notebook, a dashboard,
`duckdb -readonly`) is held on the store, in another process, while `harness run` of a small
fake-method grid starts and finishes: the run completes its trials without the store's write
lock, says how many results wait in its journal and why, and once the reader closes, `harness
status` stores them (the run's row and end status too)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.run.store import Store

REPO = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "harness.cli"]
pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]   # a local Ray and the store's waits

GRID = """imports: [tests.fixtures.methods]
name: reader
grid:
  method: [test-instant]
  seed: [0, 1, 2, 3]
  k: [16]
  train_mix: [movie]
eval:
  domains: [movie]
"""


def test_a_reader_held_through_the_whole_run_does_not_stop_it(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text(GRID)
    db = tmp_path / "r.duckdb"
    Store(db).init()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(PYTHONPATH=str(REPO), HARNESS_CACHE_DIR=str(tmp_path / "cache"))
    reader = subprocess.Popen([sys.executable, "-c", "import sys, time, duckdb\n"
                               "con = duckdb.connect(sys.argv[1], read_only=True)\n"
                               "print('open', flush=True)\nsys.stdin.read()", str(db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"
        run = subprocess.run(HARNESS + ["run", str(grid), "--db", str(db), "--store-wait", "1"], cwd=REPO, env=env,
                             capture_output=True, text=True, timeout=240)
        out = " ".join((run.stdout + run.stderr).split())
        assert run.returncode == 75, out                       # finished; results wait
        assert "4/4" in out and "Traceback" not in out
        assert "4 finished result(s) are waiting in" in out and "is busy" in out
        assert "no backup taken this run" in out
        assert Store(db).trial_status() == {}                  # the reader never let go
    finally:
        reader.stdin.close()
        reader.wait(30)
    status = subprocess.run(HARNESS + ["status", "--db", str(db)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "stored 4 journaled result(s)" in status.stdout
    store = Store(db)
    assert sorted(store.trial_status().values()) == ["complete"] * 4
    runs = store.query("SELECT name, status FROM runs")
    assert list(runs.name) == ["reader"] and list(runs.status) == ["finished"]
    assert not list(tmp_path.glob("runs/reader/*/journal/*.json"))
