"""Fault probes for runs: computed results survive a busy store and a killed driver, hostile grid
YAML is refused in one line, the multi-node path survives losing a node.

    python scripts/probes/runs.py        # a table: case -> outcome, ok
`cases()` is what scripts/fault_probe.py collects: (name, callable -> (outcome text, ok)).
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="probe-runs-"))


def _hold_read_lock(path, seconds, ready):
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    ready.set()
    time.sleep(seconds)
    con.close()


def _reader(path: Path, seconds: float):
    ctx = mp.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold_read_lock, args=(path, seconds, ready))
    proc.start()
    ready.wait(30)
    return proc


def _plan(run_dir: Path, db: Path, run_id: str, results) -> None:
    """The plan.json `harness run` writes: ingest stores only entries of its plan (issue 24)."""
    import json

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "plan.json").write_text(json.dumps(
        {"run_id": run_id, "db": str(Path(db).resolve()), "trial_ids": [r.trial_id for r in results]}))


def long_reader_while_trials_finish():
    from harness.run.journal import Journal
    from harness.run.store import Store
    from harness.tune.writer import WAITING, StoreWriter
    from tests.store_rows import make_result

    tmp = _tmp()
    store = Store(tmp / "r.duckdb", wait_s=0.5)
    run_id = store.begin_run("g", {})
    journal, notes = Journal(tmp / "journal"), []
    reader = _reader(store.path, 4.0)
    writer = StoreWriter(store, run_id, journal=journal, note=notes.append)
    started = time.perf_counter()
    for seed in range(8):
        writer.put(make_result(seed=seed))
    time.sleep(1.0)
    journaled = len(journal.entries())
    left = writer.close(timeout_s=60)
    reader.join(30)
    stored = len(store.trial_status())
    ok = stored == 8 and not left and journaled == 8 and WAITING in notes
    return (f"reader held 8x the store wait; 8 results: {journaled} journaled while busy, {stored} "
            f"stored after {time.perf_counter() - started:.1f}s, user told: {WAITING in notes}"), ok


def store_busy_past_the_end():
    from harness.run.journal import Journal
    from harness.run.runner import ingest_journals, storage_root
    from harness.run.store import Store
    from harness.tune.writer import StoreWriter
    from tests.store_rows import make_result

    tmp = _tmp()
    store = Store(tmp / "r.duckdb", wait_s=0.3)
    run_id = store.begin_run("g", {"name": "g"})
    journal = Journal(storage_root({"name": "g"}, store.path) / run_id / "journal")
    _plan(journal.dir.parent, store.path, run_id, [make_result(seed=s) for s in range(5)])
    journal.hold()
    reader = _reader(store.path, 3.0)
    writer = StoreWriter(store, run_id, journal=journal)
    for seed in range(5):
        writer.put(make_result(seed=seed))
    left = writer.close(timeout_s=0.5)
    journal.end_run("finished")
    journal.release()
    reader.join(30)
    got = ingest_journals(store)
    status = store.query("SELECT status FROM runs").status[0]
    ok = len(left) == 5 and got.stored == 5 and len(store.trial_status()) == 5 and status == "finished"
    return f"store busy at close: {len(left)} left journaled, ingest stored {got.stored}, run row {status}", ok


_KILLED = """
import sys, time
from harness.run.journal import Journal
from tests.store_rows import make_result
journal = Journal(sys.argv[1])
journal.hold()
for seed in range(6):
    journal.write(make_result(seed=seed))
print("journaled", flush=True)
time.sleep(60)
"""


def killed_driver_then_status():
    from harness.cli import main
    from harness.run.runner import storage_root
    from harness.run.store import Store

    tmp = _tmp()
    db = tmp / "r.duckdb"
    store = Store(db)
    run_id = store.begin_run("k", {"name": "k"})
    run_dir = storage_root({"name": "k"}, db) / run_id
    from tests.store_rows import make_result
    _plan(run_dir, db, run_id, [make_result(seed=s) for s in range(6)])
    driver = subprocess.Popen([sys.executable, "-c", _KILLED, str(run_dir / "journal")], cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO)), stdout=subprocess.PIPE, text=True)
    driver.stdout.readline()
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    before = len(store.trial_status())
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        rc = main(["status", "--db", str(db)])
    after = len(store.trial_status())
    return f"driver SIGKILLed with 6 journaled: stored before {before}, after `harness status` {after}", \
        rc == 0 and before == 0 and after == 6


def _grid_rc(text: str) -> tuple[int, str, float, bool]:
    import contextlib
    import io

    from harness.cli import main

    tmp = _tmp()
    path = tmp / "grid.yaml"
    path.write_text(text)
    err = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(["run", str(path), "--db", str(tmp / "out" / "r.duckdb"), "--dry-run"])
    return rc, err.getvalue().strip(), time.perf_counter() - started, not (tmp / "out").exists()


BASE = "grid:\n  method: [random]\n  k: [16]\n  train_mix: [movie]\n"


def alias_bomb():
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    body = "\n".join("      " + ln for ln in lines)
    rc, err, took, clean = _grid_rc(BASE + "overrides:\n  random:\n    params:\n" + body + "\n")
    ok = rc == 2 and len(err.splitlines()) == 1 and "alias" in err and took < 5 and clean
    return f"9^9 alias bomb: exit {rc} in {took:.2f}s: {err.split(': ', 2)[-1][:70]}", ok


def big_seed():
    rc, err, _, clean = _grid_rc(BASE.replace("k: [16]", "k: [16]\n  seed: [2147483648]"))
    ok = rc == 2 and len(err.splitlines()) == 1 and "grid.seed[0]" in err and clean
    return f"seed 2^31: exit {rc}, nothing written: {clean}", ok


def huge_param_int():
    rc, err, _, clean = _grid_rc(BASE + "overrides:\n  random:\n    params: {n: 1e400}\n"
                                 .replace("1e400", "9" * 30))
    ok = rc == 2 and "out of range" in err and clean
    return f"a 30-digit integer in params: exit {rc}", ok


def merge_keys():
    text = BASE + "overrides:\n  random:\n    params:\n      <<: {a: 1, b: 2}\n      b: 3\n"
    rc, err, _, clean = _grid_rc(text)
    return f"`<<:` merge key: exit {rc} {err[:60]}", rc == 0 and clean


def multinode_worker_killed():
    """Slow (~70 s): a head + worker Ray cluster, the worker killed mid-run (own process: the
    check sets Ray's environment variables)."""
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "multinode_check.py")], cwd=REPO,
                         capture_output=True, text=True, timeout=400,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    lines = out.stdout.splitlines()
    fails = [ln for ln in lines if ln.startswith("FAIL")]
    stored = next((ln.rsplit("  ", 1)[-1].strip() for ln in lines if "stored exactly once" in ln), "?")
    return f"worker node killed mid-run: {stored}; {len(fails)} failed checks", out.returncode == 0


def cases():
    return [
        ("long reader holds the store while trials finish", long_reader_while_trials_finish),
        ("store still busy when the run ends", store_busy_past_the_end),
        ("driver SIGKILLed with results journaled", killed_driver_then_status),
        ("YAML alias bomb in overrides.params", alias_bomb),
        ("seed >= 2^31", big_seed),
        ("integer beyond int64 in params", huge_param_int),
        ("YAML merge keys", merge_keys),
        ("multi-node: worker node killed mid-run", multinode_worker_killed),
    ]


if __name__ == "__main__":   # this module alone: scripts/fault_probe.py --only runs (one case loop)
    import tests.fixtures.methods  # noqa: F401  (the CLI's grids import it too)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fault_probe import main

    sys.exit(main(["--only", Path(__file__).stem]))
