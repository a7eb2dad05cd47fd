"""`harness status` on a running grid: elapsed and ETA are as of now, not of the last progress write
(the driver writes progress.json when a trial starts or ends, tens of minutes apart on a CPU)."""
import json
import os
import socket
import time

import pytest

from harness.cli.status import build_view
from harness.run.store import Store


def test_a_running_views_clock_is_aged_to_now(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    run_id = store.begin_run("g")
    run = next(store.query("SELECT * FROM runs").itertuples(index=False))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    written = time.time() - 600            # the last event was ten minutes ago
    (run_dir / "progress.json").write_text(json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(), "updated_at": written,
        "view": {"eta_s": 1000.0, "running": []}}))
    view, _ = build_view(store, run, run_dir)
    assert run_id in view.title and "running" in view.title
    started = run.started_at.timestamp()
    assert view.elapsed_s == pytest.approx(time.time() - started, abs=5)
    assert view.eta_s == pytest.approx(400, abs=5)
    # a finished run keeps the clock of its last write
    store.end_run(run_id)
    run = next(store.query("SELECT * FROM runs").itertuples(index=False))
    view, _ = build_view(store, run, run_dir)
    assert view.elapsed_s == pytest.approx(written - started, abs=1)
