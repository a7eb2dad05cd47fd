#!/usr/bin/env python3
"""Issue #12 parts 1, 2, 6 and 7: SQL that reaches for files, other stores and settings; a
damaged, truncated or impossible store; a query that never ends. Tried through the `harness`
command as a user would, on copies of a 408-trial store built by harness/report/demo.py.

    python scripts/probes/sql_store.py      # prints its own table

Takes about 2-3 minutes on 2 cores (each case starts the CLI; no Ray, no data needed).
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
LONG_SQL = ("SELECT count(*) FROM range(3000000) a, range(3000000) b "
            "WHERE (a.range * 7 + b.range) % 1000003 = 5")
HEADER, BLOCK = 3 * 4096, 262144
if str(ROOT / "scripts") not in sys.path:     # the `probes` package, also when run as a script
    sys.path.insert(0, str(ROOT / "scripts"))
from probes import WorkDir  # noqa: E402

_work = WorkDir("probe-sql-")
cleanup = _work.cleanup      # scripts/fault_probe.py calls it after this module's cases


def _demo() -> Path:
    """The 408-trial store (8 seeds), built once."""
    path = _work() / "demo400.duckdb"
    if not path.exists():
        from harness.report.demo import build_demo_store

        build_demo_store(path, seeds=8)
    return path


def _copy(name: str) -> Path:
    target = _work() / name
    for old in _work().glob(name + "*"):
        old.unlink()
    shutil.copyfile(_demo(), target)
    return target


def _harness(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=env, cwd=_work())


def _refused(out, *parts) -> tuple[str, bool]:
    lines = out.stderr.strip().splitlines()
    text = lines[-1] if lines else "(no message)"
    ok = out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr and \
        all(p in text for p in parts)
    return f"exit {out.returncode}: {text[:150]}", ok


# -- part 1: SQL sees only the store --------------------------------------------------------------
QUERY_ATTACKS = {
    "attach another store and empty it": "ATTACH '{w}/other.duckdb' AS o (READ_WRITE); DELETE FROM o.trials; SELECT 1",
    "COPY TO overwrites a file": "COPY (SELECT 'x') TO '{w}/victim.duckdb' (FORMAT csv)",
    "read_text('/etc/shadow')": "SELECT * FROM read_text('/etc/shadow')",
    "read_csv('/etc/passwd')": "SELECT * FROM read_csv('/etc/passwd', sep=':')",
    "glob('/root/*')": "SELECT * FROM glob('/root/*')",
    "a store file named in FROM": "SELECT * FROM '{w}/other.duckdb'",
    "SET enable_external_access back on": "SET enable_external_access = true; SELECT * FROM read_text('/etc/hostname')",
    "RESET lock_configuration": "RESET lock_configuration",
    "EXPORT DATABASE to a folder": "EXPORT DATABASE '{w}/exported'",
    "INSTALL an extension": "INSTALL httpfs",
    "LOAD an extension": "LOAD httpfs",
    "DROP TABLE trials": "DROP TABLE trials",
    "write the store itself": "DELETE FROM trials",
}


def _untouched() -> str:
    """'' if every file an attack aimed at is as it was, else what changed."""
    from harness.run.store import Store

    w = _work()
    if (w / "victim.duckdb").read_bytes() != b"precious":
        return "victim.duckdb changed"
    if len(Store(w / "other.duckdb").query("SELECT * FROM trials")) != 408:
        return "other.duckdb lost rows"
    if len(Store(w / "a.duckdb").query("SELECT * FROM trials")) != 408:
        return "a.duckdb lost rows"
    return "exported/ written" if (w / "exported").exists() else ""


def _query_attack(sql: str):
    def case():
        w = _work()
        if not (w / "a.duckdb").exists():
            _copy("a.duckdb"), _copy("other.duckdb")
        (w / "victim.duckdb").write_bytes(b"precious")
        outcome, ok = _refused(_harness("query", sql.format(w=w), "--db", "a.duckdb"))
        changed = _untouched()
        return (outcome + (f"; {changed}" if changed else "")), ok and not changed
    return case


def _report_spec(setup: str | None = None, section_id: str | None = None) -> Path:
    path = _work() / "spec.yaml"
    lines = ["name: t", "title: T"] + ([f'setup: "{setup}"'] if setup else []) + [
        "sections:", "  - title: A", "    view: table", "    sql: SELECT 1 AS x"]
    if section_id:
        lines.append(f"    id: '{section_id}'")
    path.write_text("\n".join(lines) + "\n")
    return path


def _report_attack(setup: str | None = None, section_id: str | None = None, *parts: str):
    def case():
        w = _work()
        _copy("a.duckdb"), _copy("other.duckdb")
        (w / "victim.duckdb").write_bytes(b"precious")
        spec = _report_spec(setup.format(w=w) if setup else None, section_id)
        outside = set(w.parent.glob("*.csv")) | set(Path("/tmp").glob("x*.csv"))
        outcome, ok = _refused(_harness("report", "--spec", str(spec), "--db", "a.duckdb", "--all",
                                        "--out", str(w / "out" / "deep")), *parts)
        leaked = (set(w.parent.glob("*.csv")) | set(Path("/tmp").glob("x*.csv"))) - outside
        changed = _untouched() or (f"wrote {sorted(leaked)}" if leaked else "")
        return (outcome + (f"; {changed}" if changed else "")), ok and not changed
    return case


# -- parts 6 and 7: damaged and impossible stores -------------------------------------------------
def _damage(path: Path, offset: int, size: int = 4096) -> None:
    with open(path, "r+b") as f:
        f.seek(offset)
        f.write(os.urandom(size))


def random_4kb_in_the_middle_run_refused():
    db = _copy("mid.duckdb")
    _damage(db, db.stat().st_size // 4)
    before = db.read_bytes()
    outcome, ok = _refused(_harness("run", "smoke", "--db", str(db)), "is damaged")
    return outcome, ok and db.read_bytes() == before


def four_kb_over_every_block_check_or_harmless():
    """Each of the store's blocks in turn: the run-start check refuses it, or the damage is in
    bytes DuckDB never reads (free blocks): 30 more writes and a full re-read then succeed."""
    from harness.run.health import prepare_for_run, scan
    from harness.run.store import Store, StoreError
    from tests.store_rows import make_result

    blocks = (_demo().stat().st_size - HEADER) // BLOCK
    refused = harmless = 0
    bad = []
    for b in range(blocks):
        db = _copy("blk.duckdb")
        _damage(db, HEADER + b * BLOCK + 100_000)
        try:
            prepare_for_run(Store(db))
        except StoreError as exc:
            refused += "is damaged" in str(exc)
            continue
        try:
            for i in range(30):
                Store(db).write_result(make_result(seed=1000 + i))
            scan(db)
            harmless += 1
        except Exception as exc:  # noqa: BLE001 - accepted damage that then breaks a write
            bad.append(f"block {b}: {type(exc).__name__}")
    return (f"{blocks} blocks damaged in turn: {refused} refused at run start, {harmless} in "
            f"unread bytes (writes and re-read fine){'; ' + ', '.join(bad) if bad else ''}"), not bad


def _truncated() -> Path:
    db = _copy("half.duckdb")
    os.truncate(db, db.stat().st_size // 2)
    return db


def _on_truncated(*args: str):
    def case():
        db = _truncated()
        return _refused(_harness(*args, "--db", str(db)), "is damaged")
    return case


def _on_proc(*args: str, part: str):
    def case():
        return _refused(_harness(*args, "--db", "/proc/x.duckdb"), part)
    return case


def restore_after_damage_then_status_works():
    db = _copy("restore.duckdb")
    from harness.run.health import prepare_for_run
    from harness.run.store import Store

    prepare_for_run(Store(db))                    # what `harness run` does at its start
    _damage(db, db.stat().st_size // 4)
    refused = _harness("status", "--db", str(db))
    restored = _harness("store", "restore", "--db", str(db))
    status = _harness("status", "--db", str(db))
    ok = refused.returncode == 2 and "harness store restore" in refused.stderr and \
        restored.returncode == 0 and status.returncode == 0 and "408" in status.stdout
    return f"status exit {refused.returncode} -> restore exit {restored.returncode} -> status exit " \
           f"{status.returncode}: {restored.stdout.strip()[:120]}", ok


def check_and_backup_cost_on_408_trials():
    from harness.run.health import prepare_for_run
    from harness.run.store import Store

    db = _copy("cost.duckdb")
    runs = [prepare_for_run(Store(db)) for _ in range(3)]
    check = min(h.check_s for h in runs)
    backup = min(h.backup_s for h in runs)
    size = db.stat().st_size / 2**20
    return (f"{runs[0].rows} rows, {size:.1f} MiB: check {check * 1000:.0f} ms, index probe + "
            f"backup copy {backup * 1000:.0f} ms (best of 3)"), check + backup < 2.0


# -- part 2: a query can be stopped --------------------------------------------------------------
def query_timeout_one_line():
    started = time.monotonic()
    out = _harness("query", LONG_SQL, "--db", str(_copy("t.duckdb")), "--timeout", "2")
    took = time.monotonic() - started
    outcome, ok = _refused(out, "timeout")
    return f"{outcome} ({took:.1f} s)", ok


def ctrl_c_one_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "query", LONG_SQL, "--db",
                             str(_copy("c.duckdb"))], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    time.sleep(5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    took = time.monotonic() - sent
    return f"exit {proc.returncode} {took:.1f} s after SIGINT: {err.strip()[:100]}", \
        proc.returncode == 130 and err.strip() == "interrupted" and took < 5


def cases():
    out = [(f"query: {name}", _query_attack(sql)) for name, sql in QUERY_ATTACKS.items()]
    out += [
        ("report setup: COPY TO a file", _report_attack("COPY (SELECT 1) TO '{w}/victim.duckdb'", None, "setup SQL failed")),
        ("report setup: ATTACH another store", _report_attack("ATTACH '{w}/other.duckdb' AS o", None, "setup SQL failed")),
        ("report setup: read_text a file", _report_attack("CREATE TEMP VIEW v AS SELECT * FROM read_text('/etc/hostname')", None, "setup SQL failed")),
        ("report section id ../../x", _report_attack(None, "../../x", "plain name")),
        ("report section id /tmp/x", _report_attack(None, "/tmp/x", "plain name")),
        ("run: 4 KB of random bytes mid-store", random_4kb_in_the_middle_run_refused),
        ("run check: 4 KB over each block in turn", four_kb_over_every_block_check_or_harmless),
        ("status: store truncated to half", _on_truncated("status")),
        ("report: store truncated to half", _on_truncated("report", "--all", "--out", "rep")),
        ("run: store truncated to half", _on_truncated("run", "smoke")),
        ("store check: store truncated to half", _on_truncated("store", "check")),
        ("run --db /proc/x.duckdb", _on_proc("run", "smoke", part="cannot open")),
        ("status --db /proc/x.duckdb", _on_proc("status", part="no results store")),
        ("query --db /proc/x.duckdb", _on_proc("query", "SELECT 1", part="no results store")),
        ("damaged store restored from its backup", restore_after_damage_then_status_works),
        ("check + backup cost, 408-trial store", check_and_backup_cost_on_408_trials),
        ("query --timeout 2 on an endless query", query_timeout_one_line),
        ("Ctrl-C during a query", ctrl_c_one_line),
    ]
    return out


if __name__ == "__main__":   # this module alone: scripts/fault_probe.py --only sql_store (one case loop)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fault_probe import main

    sys.exit(main(["--only", Path(__file__).stem]))
