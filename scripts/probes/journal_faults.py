"""Fault probes for issue 24's run-time half: a reader never stops a run, journal files and run
folders are never trusted, a full disk is one line, a restored store gets its journaled results
back, a driver killed during Ray start-up leaves nothing behind, `status --timeout` and Ctrl-C.

    python scripts/probes/journal_faults.py        # a table: case -> outcome, ok
`cases()` is what scripts/fault_probe.py collects: (name, callable -> (outcome text, ok)).
The full-disk cases mount a small tmpfs (root only); elsewhere they say so and do not count.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
HARNESS = [sys.executable, "-m", "harness.cli"]

GRID = """imports: [tests.fixtures.methods]
name: {name}
grid:
  method: [test-sleep]
  seed: {seeds}
  k: [16]
  train_mix: [movie]
eval:
  domains: [movie]
overrides:
  test-sleep:
    params: {{sleep_s: {sleep}}}
"""


def _tmp() -> Path:
    return Path(tempfile.mkdtemp(prefix="probe-journal-"))


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(PYTHONPATH=str(REPO), PYTHONUNBUFFERED="1")   # progress lines as they happen
    return env


def _grid(folder: Path, name: str, n: int = 4, sleep: float = 0.2) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(GRID.format(name=name, seeds=list(range(n)), sleep=sleep))
    return path


def _harness(*args, timeout: float = 300, cwd=None) -> tuple[int, str]:
    proc = subprocess.run(HARNESS + [str(a) for a in args], cwd=cwd or REPO, env=_env(),
                          capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def _flat(text: str) -> str:
    return " ".join(text.split())


def _one_error_line(text: str) -> str | None:
    lines = [ln for ln in text.splitlines() if ln.startswith("error:")]
    return lines[0] if len(lines) == 1 and "Traceback" not in text else None


def _reader(db: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", "import sys, duckdb\n"
                             "con = duckdb.connect(sys.argv[1], read_only=True)\n"
                             "print('open', flush=True)\nsys.stdin.read()", str(db)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    proc.stdout.readline()
    return proc


def _close(proc: subprocess.Popen) -> None:
    proc.stdin.close()
    proc.wait(30)


# -- a reader never stops a run --------------------------------------------------------------
def reader_held_through_a_run():
    from harness.run.store import Store

    tmp = _tmp()
    db = tmp / "r.duckdb"
    Store(db).init()
    reader = _reader(db)
    started = time.perf_counter()
    try:
        rc, out = _harness("run", _grid(tmp, "reader", 6), "--db", db, "--store-wait", "2")
    finally:
        _close(reader)
    took = time.perf_counter() - started
    rc2, out2 = _harness("status", "--db", db)
    stored = len(Store(db).trial_status())
    ok = rc == 75 and "6 finished result(s) are waiting" in _flat(out) and rc2 == 0 and stored == 6
    return (f"reader held for the whole run: run exit {rc} in {took:.0f}s, "
            f"{'says 6 waiting' if 'are waiting' in out else 'no waiting line'}; status stored "
            f"{stored}/6"), ok


def ctrl_c_during_the_store_wait():
    from harness.run.store import Store

    tmp = _tmp()
    db = tmp / "r.duckdb"
    Store(db).init()
    reader = _reader(db)
    try:
        proc = subprocess.Popen(HARNESS + ["run", str(_grid(tmp, "ctrlc", 3)), "--db", str(db),
                                           "--store-wait", "120"], cwd=REPO, env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = ""
        while "3/3" not in seen and proc.poll() is None:
            seen += proc.stdout.readline()
        time.sleep(3.0)                     # now in the end wait for the store
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        took = time.perf_counter() - sent
    finally:
        _close(reader)
    journaled = len(list(tmp.glob("runs/ctrlc/*/journal/*-*.json")))
    ok = proc.returncode == 130 and took < 10 and journaled == 3
    return (f"SIGINT in the 120 s store wait: exit {proc.returncode} after {took:.1f}s "
            f"(Ray shut down included), {journaled}/3 results kept in the journal"), ok


# -- files read back are checked -------------------------------------------------------------
def _stored_run(tmp: Path, n: int = 2, grid: dict | None = None):
    from harness.run.runner import storage_root
    from harness.run.store import Store
    from tests.store_rows import make_result

    db = tmp / "r.duckdb"
    store = Store(db, wait_s=1.0)
    grid = grid or {"name": "g"}
    run_id = store.begin_run("g", grid)
    run_dir = storage_root(grid, db) / run_id
    run_dir.mkdir(parents=True)
    results = [make_result(seed=s) for s in range(n)]
    (run_dir / "plan.json").write_text(json.dumps(
        {"run_id": run_id, "db": str(db.resolve()), "trial_ids": [r.trial_id for r in results]}))
    return store, run_dir, results


def forged_entry():
    from harness.run.journal import Journal, encode
    from tests.store_rows import make_result

    store, run_dir, (_, pending) = _stored_run(_tmp())
    journal = Journal(run_dir / "journal")
    data = json.loads(encode(make_result(seed=9)))
    data["trial_id"] = pending.trial_id
    data["metrics"][0]["auc"] = 1.0
    journal.dir.mkdir(parents=True)
    (journal.dir / f"{pending.trial_id}-1.json").write_text(json.dumps(data))
    rc, out = _harness("status", "--db", store.path)
    stored = store.trial_status()
    ok = rc == 0 and not stored and "is not its spec's hash" in out
    return f"pending trial's id, AUC 1.0: status exit {rc}, stored {len(stored)}, warned: {ok}", ok


def odd_journal_files():
    from harness.run.journal import Journal

    held, tried = 0, []
    for odd in ("notes-v2.json", "deep", "run_end {}", "run_end []", ".lock folder", "FIFO x-1.json",
                "FIFO <id>-1.json"):
        store, run_dir, (good, _) = _stored_run(_tmp())
        journal = Journal(run_dir / "journal")
        journal.write(good)
        d = journal.dir
        if odd == "notes-v2.json":
            (d / odd).write_text("{}")
        elif odd == "deep":
            (d / f"{good.trial_id}-2.json").write_text("[" * 200_000 + "]" * 200_000)
        elif odd.startswith("run_end"):
            (d / "run_end.json").write_text(odd.split()[1])
        elif odd == ".lock folder":
            (d / ".lock").mkdir()
        else:
            os.mkfifo(d / ("x-1.json" if "x-1" in odd else f"{good.trial_id}-2.json"))
        try:
            rc, out = _harness("status", "--db", store.path, timeout=60)
        except subprocess.TimeoutExpired:
            rc, out = -1, "hung"
        warned = sum(ln.startswith("warning:") for ln in out.splitlines())
        ok = rc == 0 and warned == 1 and "Traceback" not in out
        held += ok
        tried.append(f"{odd}: {'ok' if ok else f'exit {rc}, {warned} warnings'}")
    return "; ".join(tried), held == len(tried)


def dump_points_elsewhere():
    from harness.run.journal import Journal

    tmp = _tmp()
    victim = tmp / "victim"
    store, run_dir, results = _stored_run(tmp / "here", grid={"name": "g",
                                                            "ray": {"storage_path": str(victim)}})
    journal = Journal(run_dir / "journal")
    for r in results:
        journal.write(r)
    journal.end_run("finished")
    before = {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()}
    rc, _ = _harness("status", "--db", store.path)
    after = {p: p.read_bytes() for p in victim.rglob("*") if p.is_file()}
    ok = rc == 0 and after == before and not store.trial_status()
    return (f"runs.grid_json -> {len(before)} files in another folder: status exit {rc}, "
            f"{len(before) - len(after)} deleted, {len(store.trial_status())} stored"), ok


# -- faults ------------------------------------------------------------------------------------
def _tmpfs(folder: Path, size: str) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True).returncode == 0


def _fill(path: Path) -> None:
    """Fill a filesystem to the last byte (unbuffered, ever smaller writes)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for chunk in (2**20, 2**12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError:
                continue
    finally:
        os.close(fd)


def _umount(folder: Path) -> None:
    subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def full_disk_mid_run():
    tmp = _tmp()
    disk = tmp / "disk"
    if not _tmpfs(disk, "40m"):
        return "not run: mounting a tmpfs needs root", True
    try:
        proc = subprocess.Popen(HARNESS + ["run", str(_grid(tmp, "full", 10, 1.0)), "--db",
                                           str(disk / "r.duckdb")], cwd=REPO, env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen = ""
        while seen.count("] done") < 2 and proc.poll() is None:
            seen += proc.stdout.readline()
        _fill(disk / "fill")                         # the disk fills while trials run
        rest, _ = proc.communicate(timeout=240)
        line = _one_error_line(seen + rest)
        ok = proc.returncode == 2 and line is not None and "No space left on device" in line \
            and "cannot rollback" not in seen + rest
        return f"exit {proc.returncode}: {line or _flat(rest)[-200:]}", ok
    finally:
        _umount(disk)


def full_disk_at_start():
    tmp = _tmp()
    disk = tmp / "disk"
    if not _tmpfs(disk, "8m"):
        return "not run: mounting a tmpfs needs root", True
    try:
        _fill(disk / "fill")
        grid = _grid(tmp, "fullstart", 2)
        grid.write_text(grid.read_text() + f"ray:\n  storage_path: {disk / 'runs'}\n")
        rc, out = _harness("run", grid, "--db", tmp / "r.duckdb")
        line = _one_error_line(out)
        ok = rc == 2 and line is not None and "No space left on device" in line
        return f"run folder on a full tmpfs: exit {rc}: {line or _flat(out)[-200:]}", ok
    finally:
        _umount(disk)


def truncated_restored_then_run():
    from harness.run.store import Store

    tmp = _tmp()
    db = tmp / "r.duckdb"
    Store(db).init()
    grid = _grid(tmp, "trunc", 8, 0.8)
    proc = subprocess.Popen(HARNESS + ["run", str(grid), "--db", str(db), "--store-wait", "1"],
                            cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = ""
    while "[3/8]" not in seen and proc.poll() is None:
        seen += proc.stdout.readline()
    time.sleep(1.0)
    with open(db, "r+b") as fh:              # truncate the store under the running driver
        fh.truncate(db.stat().st_size // 2)
    rest, _ = proc.communicate(timeout=240)
    journaled = len(list(tmp.glob("runs/trunc/*/journal/*-*.json")))
    rc_restore, _ = _harness("store", "restore", "--db", db)
    rc, out = _harness("run", grid, "--db", db)
    left = len(list(tmp.glob("runs/trunc/*/journal/*-*.json")))
    stored = len(Store(db).trial_status())
    came_back = f"stored {journaled} journaled result(s)" in out
    ok = journaled > 0 and rc_restore == 0 and rc == 0 and came_back and left == 0 and stored == 8
    return (f"run exit {proc.returncode} with {journaled} journaled; restore exit {rc_restore}; "
            f"next run exit {rc}: {journaled if came_back else 0} came back from the journal, "
            f"{left} journal files left, {stored}/8 stored"), ok


def _ray_processes(temp_dir: str) -> list[int]:
    from harness.tune.cleanup import processes_using

    return processes_using(Path(temp_dir))


def _kill_in_ray_start(delay: float) -> tuple[int, int, bool]:
    """SIGKILL a driver `delay` s after its Ray's first process is up; returns (Ray processes
    left after 2 s, left after `harness status`, temp dir removed)."""
    tmp = _tmp()
    grid = _grid(tmp, "startkill", 2)
    record = tmp / "runs" / "startkill" / "ray_temp_dirs.txt"
    driver = subprocess.Popen(HARNESS + ["run", str(grid), "--db", str(tmp / "r.duckdb")], cwd=REPO,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    temp_dir, deadline = "", time.monotonic() + 60
    while time.monotonic() < deadline and not temp_dir:
        if record.exists():
            temp_dir = record.read_text().strip()
        time.sleep(0.02)
    while time.monotonic() < deadline and temp_dir and not _ray_processes(temp_dir):
        time.sleep(0.02)
    time.sleep(delay)
    driver.send_signal(signal.SIGKILL)
    driver.wait(30)
    time.sleep(2.0)
    before = len(_ray_processes(temp_dir)) if temp_dir else -1
    _harness("status", "--db", tmp / "r.duckdb")
    time.sleep(0.5)
    after = len(_ray_processes(temp_dir)) if temp_dir else -1
    gone = bool(temp_dir) and not Path(temp_dir).exists()
    shutil.rmtree(tmp, ignore_errors=True)
    return before, after, gone


def sigkill_during_ray_start():
    tried = [(d, *_kill_in_ray_start(d)) for d in (0.0, 0.5, 1.0, 2.0)]
    ok = all(after == 0 and gone for _, _, after, gone in tried)
    return "; ".join(f"killed {d:g}s into Ray start: {b} Ray processes left, {a} after status, "
                     f"temp dir {'gone' if g else 'left'}" for d, b, a, g in tried), ok


def status_timeout():
    from harness.run.store import Store

    tmp = _tmp()
    db = tmp / "r.duckdb"
    Store(db).init()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, duckdb\n"
                               "con = duckdb.connect(sys.argv[1])\nprint('open', flush=True)\n"
                               "sys.stdin.read()", str(db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    try:
        started = time.perf_counter()
        rc, out = _harness("status", "--db", db, "--timeout", "1")
        took = time.perf_counter() - started
    finally:
        _close(holder)
    line = _one_error_line(out)
    ok = rc == 2 and line is not None and "timeout" in line
    return f"writer holds the store: status --timeout 1 exit {rc} in {took:.1f}s: {line}", ok


def ctrl_c_ends_status():
    from harness.run.store import Store

    tmp = _tmp()
    db = tmp / "r.duckdb"
    Store(db).init()
    holder = subprocess.Popen([sys.executable, "-c", "import sys, duckdb\n"
                               "con = duckdb.connect(sys.argv[1])\nprint('open', flush=True)\n"
                               "sys.stdin.read()", str(db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    try:
        proc = subprocess.Popen(HARNESS + ["status", "--db", str(db)], cwd=REPO, env=_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(5.0)                         # imported, now waiting for the store's lock
        sent = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.perf_counter() - sent
    finally:
        _close(holder)
    ok = proc.returncode == 130 and took < 1.0 and err.strip().splitlines()[-1].endswith("interrupted")
    return f"SIGINT while status waits for a held store: exit {proc.returncode} after {took:.2f}s", ok


def cases():
    return [
        ("reader held through a whole run", reader_held_through_a_run),
        ("Ctrl-C during the run's store wait", ctrl_c_during_the_store_wait),
        ("forged journal entry (pending id, AUC 1.0)", forged_entry),
        ("odd journal files (7)", odd_journal_files),
        ("dump's storage_path points elsewhere", dump_points_elsewhere),
        ("full disk mid-run", full_disk_mid_run),
        ("run folder on a full disk at start", full_disk_at_start),
        ("store truncated mid-run, restore, run", truncated_restored_then_run),
        ("SIGKILL during Ray start-up", sigkill_during_ray_start),
        ("status --timeout with a writer holding", status_timeout),
        ("Ctrl-C while status waits for the store", ctrl_c_ends_status),
    ]


if __name__ == "__main__":   # this module alone: scripts/fault_probe.py --only journal_faults (one case loop)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fault_probe import main

    sys.exit(main(["--only", Path(__file__).stem]))
