"""`harness run` end to end on local Ray: results, resume, driver SIGKILL, failing trials.

One Ray instance (2 CPUs) serves the whole module; the first test runs the real CLI in a
subprocess with its own local Ray (the path a user takes) and real data, then `harness query`.
The others call the CLI in-process (it reuses the module's Ray) or, for the SIGKILL test, in a
subprocess that joins the module's Ray with --address.
"""
from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import tests.fixtures.methods  # noqa: F401  registers the test-* methods
from harness.cli import main
from harness.grid import expand, load_grid
from harness.run.store import Store

REPO = Path(__file__).resolve().parents[2]
HARNESS = [sys.executable, "-m", "harness.cli"]
pytestmark = pytest.mark.timeout(240)


def write_grid(path: Path, body: str) -> Path:
    path.write_text("imports: [tests.fixtures.methods]\n" + body)
    return path


def rows(db: Path, sql: str):
    return Store(db).query(sql)


# -- 1. the real CLI, its own local Ray, real data -------------------------------------------
def test_end_to_end_cli_on_local_ray_then_query(tmp_path, raw_dir):
    grid = tmp_path / "grid.yaml"
    grid.write_text("""name: e2e
grid:
  method: [random, item-popularity]
  k: [16]
  seed: [0, 1]
  train_mix: [movie]
eval:
  domains: [movie]
  max_samples: 200
""")
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(home), HARNESS_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(REPO))
    db = tmp_path / "results.duckdb"
    proc = subprocess.run(HARNESS + ["run", str(grid), "--db", str(db), "--raw-dir", str(raw_dir)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=200)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Trial" not in proc.stdout + proc.stderr          # no Tune tables or trial logs
    assert "4/4" in proc.stdout and "summary" in proc.stdout

    query = subprocess.run(HARNESS + ["query", "SELECT method, count(*) AS n, min(auc) AS lo, "
                                      "max(auc) AS hi FROM results GROUP BY method ORDER BY method",
                                      "--db", str(db), "--format", "json"],
                           cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert query.returncode == 0, query.stderr
    found = {r["method"]: r for r in json.loads(query.stdout)}
    assert {m: r["n"] for m, r in found.items()} == {"item-popularity": 2, "random": 2}
    assert all(0.0 <= r["lo"] <= r["hi"] <= 1.0 for r in found.values())
    assert rows(db, "SELECT count(*) AS n FROM predictions")["n"][0] == 4 * 200

    # Ray kept to the run's own directories: nothing in HOME, temp dir removed, logs kept.
    assert sorted(p.name for p in home.iterdir()) == []
    run_dirs = list((tmp_path / "runs" / "e2e").glob("2*"))
    assert len(run_dirs) == 1 and (run_dirs[0] / "ray_logs").is_dir()
    assert (run_dirs[0] / "plan.json").exists() and (run_dirs[0] / "progress.json").exists()
    recorded = (tmp_path / "runs" / "e2e" / "ray_temp_dirs.txt").read_text().split()
    assert recorded == []

    status = subprocess.run(HARNESS + ["status", "--db", str(db)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0 and "done 4" in status.stdout and "finished" in status.stdout

    again = subprocess.run(HARNESS + ["run", str(grid), "--db", str(db)], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "nothing to run: all 4 trials are stored" in again.stdout


# -- a Ray instance shared by the rest of the module ---------------------------------------------
@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    from harness.tune import session as harness_tune

    harness_tune._configure_env()
    harness_tune._local_auth()
    import ray

    old_cwd, old_cache = os.getcwd(), os.environ.get("HARNESS_CACHE_DIR")
    os.chdir(REPO)   # workers start in the driver's directory and import tests.fixtures from it
    # the workers' cache (test-staged writes markers there), never the user's ~/.cache
    os.environ["HARNESS_CACHE_DIR"] = str(tmp_path_factory.mktemp("worker-cache"))
    temp = tempfile.mkdtemp(prefix="rh-test-", dir="/tmp")
    ray.init(num_cpus=2, num_gpus=0, _temp_dir=temp, include_dashboard=False, log_to_driver=False,
             logging_level=logging.ERROR, object_store_memory=256 * 2**20)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        shutil.rmtree(temp, ignore_errors=True)
        os.chdir(old_cwd)
        if old_cache is None:
            os.environ.pop("HARNESS_CACHE_DIR", None)
        else:
            os.environ["HARNESS_CACHE_DIR"] = old_cache


def statuses(db: Path) -> dict[tuple, tuple]:
    frame = rows(db, "SELECT method, seed, status, attempts, error FROM trials")
    return {(r.method, r.seed): (r.status, r.attempts, r.error or "") for r in frame.itertuples()}


# -- 2. failures: exceptions, a dying worker, retries, --rerun-failed ----------------------------
def test_failing_trials_are_stored_and_the_rest_finish(ray_address, tmp_path, capsys):
    grid = write_grid(tmp_path / "grid.yaml", f"""name: failing
grid:
  method: [test-instant, test-flaky, test-die, test-once]
  k: [4]
  seed: [0, 1, 2, 3]
  train_mix: [movie]
overrides:
  test-once:          # the first attempt fails (a shared counter file), the retry works
    params: {{fail_until: ["{tmp_path / 'attempts'}", 1]}}
ray:
  max_retries: 1
""")
    db = tmp_path / "r.duckdb"
    rc = main(["run", str(grid), "--db", str(db)])
    out = capsys.readouterr().out
    assert rc == 1, out
    got = statuses(db)
    assert len(got) == 4 * 4
    for seed in range(4):
        assert got[("test-instant", seed)][:2] == ("complete", 1)
    for seed in (1, 3):
        status, attempts, error = got[("test-flaky", seed)]
        assert (status, attempts) == ("failed", 2)                       # retried once
        assert f"ValueError: deliberate failure for seed {seed}" in error
    status, attempts, error = got[("test-die", 1)]
    assert (status, attempts) == ("failed", 2) and "worker process died" in error
    assert all(got[("test-die", s)][0] == "complete" for s in (0, 2, 3))
    # fails on its first attempt (the counter file), succeeds on Tune's retry
    assert [got[("test-once", s)][0] for s in range(4)] == ["complete"] * 4
    assert max(got[("test-once", s)][1] for s in range(4)) == 2
    assert "3 trial(s) failed" in out

    # A plain re-run skips the failed trials too; nothing runs.
    assert main(["run", str(grid), "--db", str(db)]) == 1
    assert "nothing to run" in capsys.readouterr().out


def _sigkill_once(driver, ready, poll_s: float, timeout_s: float = 120) -> None:
    """SIGKILL a running `harness run` driver as soon as `ready()` (or the timeout); it must
    still be running then."""
    deadline = time.time() + timeout_s
    while time.time() < deadline and driver.poll() is None:
        time.sleep(poll_s)
        if ready():
            break
    assert driver.poll() is None, driver.stdout.read().decode()
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)


def test_rerun_failed_retries_only_the_failed(ray_address, tmp_path, capsys):
    counter = tmp_path / "attempts"
    grid = write_grid(tmp_path / "grid.yaml", f"""name: rerun
grid:
  method: [test-flaky, test-instant]
  k: [4]
  seed: [0]
  train_mix: [movie]
overrides:
  test-flaky:
    params: {{fail_until: ["{counter}", 2]}}
ray:
  max_retries: 1
""")
    db = tmp_path / "r.duckdb"
    assert main(["run", str(grid), "--db", str(db)]) == 1
    assert statuses(db)[("test-flaky", 0)][:2] == ("failed", 2)
    before = rows(db, "SELECT trial_id, finished_at FROM trials WHERE method = 'test-instant'")
    assert main(["run", str(grid), "--db", str(db), "--rerun-failed"]) == 0
    after = statuses(db)
    assert after[("test-flaky", 0)][:2] == ("complete", 3)
    again = rows(db, "SELECT trial_id, finished_at FROM trials WHERE method = 'test-instant'")
    assert list(again["finished_at"]) == list(before["finished_at"])   # not re-run
    assert counter.read_text() == "3"
    capsys.readouterr()


# -- 3. phases: first-phase trials before the trials that consume them ----------------------------
def test_first_phase_trials_run_before_their_consumers(ray_address, tmp_path, capsys):
    grid = write_grid(tmp_path / "grid.yaml", f"""name: phases
grid:
  method: [test-staged, test-instant]
  k: [4, 8]
  seed: [0, 1]
  train_mix: [movie]
overrides:
  test-staged:
    params: {{tag: "{tmp_path.name}", build_s: 1.0}}
""")
    db = tmp_path / "r.duckdb"
    assert main(["run", str(grid), "--db", str(db)]) == 0, capsys.readouterr().out
    frame = rows(db, "SELECT variant, seed, status, started_at, finished_at FROM trials "
                     "WHERE method = 'test-staged'")
    assert set(frame["status"]) == {"complete"} and len(frame) == 2 + 4
    for seed in (0, 1):
        built = frame[(frame.variant == "build") & (frame.seed == seed)]["finished_at"].max()
        users = frame[(frame.variant == "use") & (frame.seed == seed)]["started_at"]
        assert (users >= built).all()


# -- 4. resume skips what is stored ---------------------------------------------------------
def test_resume_runs_only_the_new_trials(ray_address, tmp_path, capsys):
    body = """name: grow
grid:
  method: [test-instant]
  k: [4]
  seed: [{seeds}]
  train_mix: [movie, book]
"""
    db = tmp_path / "r.duckdb"
    grid = write_grid(tmp_path / "grid.yaml", body.format(seeds="0, 1"))
    assert main(["run", str(grid), "--db", str(db)]) == 0
    first = rows(db, "SELECT trial_id, run_id FROM trials")
    grid = write_grid(tmp_path / "grid.yaml", body.format(seeds="0, 1, 2"))
    assert main(["run", str(grid), "--db", str(db), "--dry-run"]) == 0
    assert re.search(r"total\W+6\W+4\W+0\W+2\W", capsys.readouterr().out)   # trials/complete/failed/to run
    assert main(["run", str(grid), "--db", str(db)]) == 0
    second = rows(db, "SELECT trial_id, run_id, attempts FROM trials")
    assert len(second) == 6 and set(second["attempts"]) == {1}
    old = dict(zip(first.trial_id, first.run_id))
    new_runs = {r.run_id for r in second.itertuples() if r.trial_id not in old}
    assert len(new_runs) == 1 and new_runs.isdisjoint(set(old.values()))
    assert all(dict(zip(second.trial_id, second.run_id))[t] == r for t, r in old.items())
    assert len(rows(db, "SELECT * FROM runs")) == 2


# -- 5. SIGKILL of the driver, then resume --------------------------------------------------
def test_sigkill_of_the_driver_then_resume_gives_exactly_the_full_set(ray_address, tmp_path, capsys):
    grid = write_grid(tmp_path / "grid.yaml", """name: killed
grid:
  method: [test-sleep]
  k: [4]
  seed: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
  train_mix: [movie]
eval:
  domains: [movie, book]
overrides:
  test-sleep:
    params: {sleep_s: 0.4}
""")
    db = tmp_path / "r.duckdb"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    driver = subprocess.Popen(HARNESS + ["run", str(grid), "--db", str(db), "--address", ray_address],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _sigkill_once(driver, lambda: db.exists()
                      and sum(s == "complete" for s in Store(db).trial_status().values()) >= 3, poll_s=0.5)
    finally:
        if driver.poll() is None:
            driver.kill()
    partial = Store(db).trial_status()
    assert 3 <= len(partial) < 12
    assert main(["run", str(grid), "--db", str(db)]) == 0, capsys.readouterr().out
    expected = {s.trial_id for s in expand(load_grid(grid))}
    trials = rows(db, "SELECT trial_id, status FROM trials")
    assert sorted(trials.trial_id) == sorted(expected)                   # no missing, no duplicate
    assert set(trials.status) == {"complete"}
    metrics = rows(db, "SELECT trial_id, count(*) AS n FROM metrics GROUP BY trial_id")
    assert len(metrics) == 12 and set(metrics.n) == {2}
    preds = rows(db, "SELECT count(*) AS n, count(DISTINCT (trial_id, eval_domain, sample_id)) AS d "
                     "FROM predictions")
    assert preds.n[0] == preds.d[0] == 12 * 2 * 20
    runs = rows(db, "SELECT status FROM runs ORDER BY started_at")
    assert list(runs.status) == ["running", "finished"]    # the killed driver never closed its run
    assert not glob.glob(f"/tmp/rh-{driver.pid}-*")         # joined a cluster: no temp dir of its own


# -- 6. a long reader: nothing computed is lost, nothing recomputed --------------------------
def _hold_read_lock(path, seconds, started_glob):
    """Once the run has begun (its progress.json exists), hold the store like a `harness query`
    that runs long."""
    import duckdb

    while not glob.glob(started_glob):
        time.sleep(0.05)
    while True:
        try:
            con = duckdb.connect(str(path), read_only=True)
            break
        except duckdb.IOException:     # the driver is writing this instant
            time.sleep(0.05)
    time.sleep(seconds)
    con.close()


def _reader(db: Path, seconds: float, run_root: Path):
    import multiprocessing as mp

    proc = mp.get_context("spawn").Process(target=_hold_read_lock,
                                           args=(db, seconds, str(run_root / "*" / "progress.json")))
    proc.start()
    return proc


SLEEPERS = """name: {name}
grid:
  method: [test-sleep]
  k: [4]
  seed: [0, 1, 2, 3, 4, 5]
  train_mix: [movie]
overrides:
  test-sleep:
    params: {{sleep_s: 0.3}}
"""


def test_a_reader_holding_the_store_longer_than_its_wait_loses_no_result(ray_address, tmp_path, capsys):
    """The issue: a long `harness query` made the driver give up and drop computed results."""
    grid = write_grid(tmp_path / "grid.yaml", SLEEPERS.format(name="reader"))
    db = tmp_path / "r.duckdb"
    Store(db).init()
    reader = _reader(db, 25.0, tmp_path / "runs" / "reader")    # > the store's own 10 s wait
    try:
        assert main(["run", str(grid), "--db", str(db)]) == 0
    finally:
        reader.join(60)
    out = capsys.readouterr().out
    assert len(Store(db).completed_ids()) == 6 and "6/6" in out
    assert "waiting for the store lock" in out                   # told, not silently stalled
    assert rows(db, "SELECT status FROM runs").status[0] == "finished"
    assert not list(tmp_path.glob("runs/reader/*/journal/*.json"))     # all moved to the store


def test_killed_driver_with_journaled_results_then_status_ingests_them(ray_address, tmp_path, capsys):
    grid = write_grid(tmp_path / "grid.yaml", SLEEPERS.format(name="journal"))
    db = tmp_path / "r.duckdb"
    Store(db).init()
    # the store takes nothing: results pile up in the journal
    reader = _reader(db, 120.0, tmp_path / "runs" / "journal")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    driver = subprocess.Popen(HARNESS + ["run", str(grid), "--db", str(db), "--address", ray_address],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        _sigkill_once(driver, lambda: len(glob.glob(
            str(tmp_path / "runs" / "journal" / "*" / "journal" / "*.json"))) >= 3, poll_s=0.3)
    finally:
        if driver.poll() is None:
            driver.kill()
        reader.kill()
        reader.join(30)
    journaled = glob.glob(str(tmp_path / "runs" / "journal" / "*" / "journal" / "*.json"))
    assert len(journaled) >= 3 and Store(db).trial_status() == {}
    assert main(["status", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert f"stored {len(journaled)} journaled result(s)" in out and "interrupted" in out
    first = rows(db, "SELECT trial_id, finished_at FROM trials")
    assert len(first) == len(journaled)
    assert main(["run", str(grid), "--db", str(db)]) == 0               # runs only the rest
    after = rows(db, "SELECT trial_id, finished_at, attempts FROM trials")
    assert len(after) == 6 and set(after.attempts) == {1}
    kept = after.set_index("trial_id").finished_at
    assert all(kept[r.trial_id] == r.finished_at for r in first.itertuples())   # not recomputed
