#!/usr/bin/env python3
"""Issue 24, the read-back half: forged or odd dumps (`store load`), export folders and adapter
records (`harness export`), `report --where` tricks and time limits, and the last odd inputs
(report spec encoding and depth, UUID/BIT in `query --format json`, a lone surrogate in a grid, a
--db name over 255 bytes). Tried through the `harness` command as a user would.

    python scripts/probes/artifact_faults.py      # prints its own table

Takes about 1-2 minutes on 2 cores (each case starts the CLI; no Ray, no data needed).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
LONG_WHERE = "(SELECT count(*) FROM range(100000000000)) > 0"
if str(ROOT / "scripts") not in sys.path:     # the `probes` package, also when run as a script
    sys.path.insert(0, str(ROOT / "scripts"))
from probes import WorkDir  # noqa: E402

_work = WorkDir("probe-artifacts-")
cleanup = _work.cleanup      # scripts/fault_probe.py calls it after this module's cases


def _demo() -> Path:
    path = _work() / "demo.duckdb"
    if not path.exists():
        from harness.report.demo import build_demo_store

        build_demo_store(path, seeds=1, n=40)
    return path


def _dump() -> Path:
    folder = _work() / "dump"
    if not folder.exists():
        from harness.run.dump import dump

        dump(_demo(), folder)
    return folder


def _dump_copy(name: str) -> Path:
    target = _work() / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(_dump(), target)
    return target


def _fresh(name: str) -> Path:
    path = _work() / name
    path.unlink(missing_ok=True)
    return path


def _harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True,
                              text=True, timeout=timeout, env=env, cwd=_work())
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, -1, "", f"hung: no answer in {timeout:g} s")


def _refused(out, *parts) -> tuple[str, bool]:
    lines = out.stderr.strip().splitlines()
    text = lines[-1] if lines else "(no message)"
    ok = out.returncode == 2 and len(lines) == 1 and "Traceback" not in out.stderr and \
        all(p in text for p in parts)
    return f"exit {out.returncode}: {text[:150]}", ok


# -- store load / dump ----------------------------------------------------------------------------
def _manifest(text: str, part: str):
    def case():
        folder = _dump_copy("forged")
        (folder / "store.json").write_text(text)
        db = _fresh("forged.duckdb")
        outcome, ok = _refused(_harness("store", "load", str(folder), "--db", str(db)), part)
        return outcome, ok and not db.exists()
    return case


def _fifo(name: str):
    def case():
        folder = _dump_copy("fifo")
        (folder / name).unlink()
        os.mkfifo(folder / name)
        return _refused(_harness("store", "load", str(folder), "--db", str(_fresh("fifo.duckdb")),
                                 timeout=60), "not a regular file")
    return case


def glob_characters_in_the_folder_name():
    from harness.run.dump import dump

    _dump_copy("backup 1")                          # what the glob `backup [1]` matches
    small = _fresh("small.duckdb")
    from harness.report.demo import build_demo_store

    build_demo_store(small, seeds=1, n=10)
    shutil.rmtree(_work() / "backup [1]", ignore_errors=True)
    written = dump(small, _work() / "backup [1]")
    db = _fresh("glob.duckdb")
    out = _harness("store", "load", "backup [1]", "--db", str(db))
    got = out.stdout.strip()
    want = re.search(rf"\bpredictions {written['rows']['predictions']}\b", got)   # the [1] folder's count
    return f"exit {out.returncode}: {got[:140] or out.stderr.strip()[:140]}", out.returncode == 0 and bool(want)


def swapped_columns_bound_by_name():
    import duckdb

    folder = _dump_copy("swapped")
    parquet = str(folder / "trials.parquet").replace("'", "''")
    con = duckdb.connect()
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{parquet}')").fetchall()]
    i, j = cols.index("k"), cols.index("seed")
    cols[i], cols[j] = cols[j], cols[i]
    con.execute(f"COPY (SELECT {', '.join(cols)} FROM read_parquet('{parquet}')) TO '{parquet}.new' (FORMAT parquet)")
    con.close()
    os.replace(f"{folder / 'trials.parquet'}.new", folder / "trials.parquet")
    db = _fresh("swapped.duckdb")
    out = _harness("store", "load", str(folder), "--db", str(db))
    if out.returncode != 0:
        return _refused(out, "columns")
    query = "SELECT trial_id, k, seed FROM trials ORDER BY trial_id"
    with duckdb.connect(str(db), read_only=True) as back, duckdb.connect(str(_demo()), read_only=True) as src:
        same = back.execute(query).fetchall() == src.execute(query).fetchall()
    return f"loaded; k and seed {'as in the source store' if same else 'SWAPPED'}", same


def dump_of_a_truncated_store():
    db = _work() / "trunc.duckdb"
    shutil.copyfile(_demo(), db)
    os.truncate(db, db.stat().st_size // 3)
    shutil.rmtree(_work() / "trunc-dump", ignore_errors=True)
    outcome, ok = _refused(_harness("store", "dump", "trunc-dump", "--db", str(db)), "damaged")
    return outcome, ok and not (_work() / "trunc-dump").exists()


# -- harness export -------------------------------------------------------------------------------
def _kept_store(name: str, **record) -> tuple[Path, str, Path]:
    """A store holding one RT trial with a kept adapter (keep_adapter's record, `record` over it)."""
    import numpy as np
    import pandas as pd

    from harness.core.metrics import metrics_from_predictions
    from harness.core.result import TrialResult
    from harness.core.spec import TrialSpec
    from harness.run.store import Store
    from models.adapters import keep_adapter

    base = _work() / name
    shutil.rmtree(base, ignore_errors=True)
    (base / "saved").mkdir(parents=True)
    (base / "saved" / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (base / "saved" / "adapter_model.safetensors").write_bytes(b"weights" * 100)
    spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=64, seed=0,
                     model={"name": "smollm2-135m"}, params={"lora": {}, "training": {}})
    kept = {**keep_adapter(base / "saved", base / "run", spec.trial_id), **record}
    labels = np.array([0, 1] * 10)
    preds = {"movie": pd.DataFrame({"sample_id": [f"m{i}" for i in range(20)], "label": labels,
                                    "score": np.linspace(0, 1, 20)})}
    result = TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(), status="complete",
                         metrics=metrics_from_predictions(preds, "test"), predictions=preds,
                         started_at=time.time() - 1, finished_at=time.time(), extra={"kept_adapter": kept})
    store = Store(base / "s.duckdb")
    store.write_result(result, store.begin_run("probe"))
    return store.path, spec.trial_id, base / "run" / "adapters" / spec.trial_id


def _export_into(kind: str):
    def case():
        db, tid, _ = _kept_store(f"exp-{kind}")
        out = _work() / f"exp-{kind}" / "out"
        if kind == "symlink to an empty folder":
            (out.parent / "empty").mkdir()
            out.symlink_to(out.parent / "empty")
        elif kind == "dangling symlink":
            out.symlink_to(out.parent / "nowhere")
        else:
            out = Path("/proc/x")
        return _refused(_harness("export", tid, str(out), "--db", str(db)), str(out))
    return case


def users_partial_folder_kept():
    db, tid, _ = _kept_store("exp-partial")
    mine = _work() / "exp-partial" / ".out.partial"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    out = _harness("export", tid, str(_work() / "exp-partial" / "out"), "--db", str(db))
    kept = (mine / "notes.txt").is_file()
    return f"exit {out.returncode}; .out.partial/notes.txt {'kept' if kept else 'DELETED'}", \
        out.returncode == 0 and kept


def edited_adapter_config():
    db, tid, folder = _kept_store("exp-edited")
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 64}))
    return _refused(_harness("export", tid, str(_work() / "exp-edited" / "out"), "--db", str(db)),
                    "does not match its recorded sha256", "adapter_config.json")


def weights_file_outside_the_folder():
    db, tid, folder = _kept_store("exp-escape", weights_file="../../x", files=None,
                                  sha256=hashlib.sha256(b"other").hexdigest())
    (folder.parent.parent / "x").write_bytes(b"other")      # matches the forged record's hash
    return _refused(_harness("export", tid, str(_work() / "exp-escape" / "out"), "--db", str(db)),
                    "not a plain file name")


# -- report --where and time limits ---------------------------------------------------------------
def where_dollar_quotes():
    # the old quote-counting check saw one '...' string here and balanced parentheses
    where = "1=1 OR $$'$$ = $$x$$) UNION ALL SELECT trial_id, method, variant, config FROM trials WHERE ($$'$$ = $$x$$"
    return _refused(_harness("report", "--db", str(_demo()), "--all", "--where", where, "--out", "rep"),
                    "not one SQL condition")


def where_endless_with_timeout():
    started = time.monotonic()
    out = _harness("report", "--db", str(_demo()), "--all", "--where", LONG_WHERE, "--timeout", "2",
                   "--out", "rep")
    outcome, ok = _refused(out, "timeout")
    return f"{outcome} ({time.monotonic() - started:.1f} s)", ok


def ctrl_c_during_report():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "harness.cli", "report", "--db", str(_demo()),
                             "--all", "--where", LONG_WHERE, "--out", str(_work() / "rep")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        time.sleep(6)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    return f"exit {proc.returncode} {took:.1f} s after SIGINT: {err.strip()[:100]}", \
        proc.returncode == 130 and err.strip() == "interrupted" and took < 2


# -- odd input ------------------------------------------------------------------------------------
def _spec_file(content: bytes, part: str):
    def case():
        spec = _work() / "odd-spec.yaml"
        spec.write_bytes(content)
        return _refused(_harness("report", "--db", str(_demo()), "--spec", str(spec), "--out", "rep"), part)
    return case


def query_json_uuid_bit():
    out = _harness("query", "SELECT uuid() AS u, '101'::BIT AS b", "--db", str(_demo()), "--format", "json")
    try:
        row = json.loads(out.stdout)[0]
        ok = out.returncode == 0 and len(row["u"]) == 36 and row["b"] == "101"
    except (ValueError, KeyError, IndexError):
        ok = False
    return f"exit {out.returncode}: {' '.join((out.stdout or out.stderr).split())[:120]}", ok


def grid_lone_surrogate():
    grid = _work() / "surrogate.yaml"
    grid.write_text('name: s\ngrid: {method: [tallrec], variant: [RT], k: [16], seed: [0], train_mix: [movie]}\n'
                    'lora: {target_modules: ["q_proj\\ud800"]}\n')
    return _refused(_harness("run", str(grid), "--db", str(_fresh("sur.duckdb")), "--dry-run"),
                    "not valid Unicode")


def _long_db(*argv: str):
    def case():
        db = _work() / ("x" * 300) / "r.duckdb"
        return _refused(_harness(*argv, "--db", str(db)), "over the 255")
    return case


def cases():
    return [
        ("store load: schema_version 1e999", _manifest('{"schema_version": 1e999, "rows": {}}', "schema_version")),
        ("store load: rows as a list", _manifest('{"schema_version": 1, "rows": [1, 2]}', "rows")),
        ("store load: manifest nested 100k deep", _manifest("[" * 100_000 + "]" * 100_000, "nested too deeply")),
        ("store load: a FIFO named store.json", _fifo("store.json")),
        ("store load: a FIFO named trials.parquet", _fifo("trials.parquet")),
        ("store load 'backup [1]' (a glob)", glob_characters_in_the_folder_name),
        ("store load: k and seed columns swapped", swapped_columns_bound_by_name),
        ("store dump of a truncated store", dump_of_a_truncated_store),
        ("export: DIR a symlink to an empty folder", _export_into("symlink to an empty folder")),
        ("export: DIR a dangling symlink", _export_into("dangling symlink")),
        ("export: DIR /proc/x", _export_into("proc")),
        ("export: a user's .DIR.partial folder", users_partial_folder_kept),
        ("export: adapter_config.json edited", edited_adapter_config),
        ("export: weights_file ../../x in extra", weights_file_outside_the_folder),
        ("report --where $$ quotes close the clause", where_dollar_quotes),
        ("report --where endless, --timeout 2", where_endless_with_timeout),
        ("Ctrl-C during report (endless --where)", ctrl_c_during_report),
        ("report spec in latin-1", _spec_file("title: 'caf\xe9'\n".encode("latin-1"), "not UTF-8")),
        ("report spec nested 100k deep", _spec_file(b"[" * 100_000 + b"]" * 100_000, "nested too deeply")),
        ("query --format json on UUID and BIT", query_json_uuid_bit),
        ('grid param "\\ud800"', grid_lone_surrogate),
        ("run --db name over 255 bytes", _long_db("run", "smoke", "--dry-run")),
        ("query --db name over 255 bytes", _long_db("query", "SELECT 1")),
        ("status --db name over 255 bytes", _long_db("status")),
        ("store check --db name over 255 bytes", _long_db("store", "check")),
    ]


if __name__ == "__main__":   # this module alone: scripts/fault_probe.py --only artifact_faults (one case loop)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fault_probe import main

    sys.exit(main(["--only", Path(__file__).stem]))
