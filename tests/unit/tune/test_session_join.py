"""Joining a running Ray head: `harness run --address 127.0.0.1:PORT` against a head bound to
loopback (it used to hang: Ray dials this node's network IP instead), and RAY_ADDRESS exported
without --address (it used to crash with "object_store_memory must not be provided")."""
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
GRID = """name: join
imports: [tests.fixtures.methods]
grid:
  method: [test-instant]
  k: [4]
  seed: [0, 1]
  train_mix: [movie]
"""
pytestmark = [pytest.mark.timeout(400), pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def loopback_head(tmp_path_factory):
    """`ray start --head` bound to loopback (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0), token auth."""
    import psutil

    tmp = tmp_path_factory.mktemp("head")
    (tmp / "home").mkdir()
    port = _free_port()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("RAY_") and k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    base.update(PYTHONPATH=str(REPO), HOME=str(tmp / "home"), RAY_AUTH_MODE="token",
                RAY_AUTH_TOKEN=secrets.token_hex(32), RAY_USAGE_STATS_ENABLED="0",
                HARNESS_CACHE_DIR=str(tmp / "cache"))
    head_env = dict(base, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    ray_bin = str(Path(sys.executable).with_name("ray"))
    proc = subprocess.Popen([ray_bin, "start", "--head", f"--port={port}", "--num-cpus=2", "--num-gpus=0",
                             "--include-dashboard=false", f"--temp-dir={tmp / 'ray'}", "--block"],
                            cwd=REPO, env=head_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail("the Ray head did not come up in 120 s")
        time.sleep(3)   # the raylet registers after the GCS answers
        yield port, base
    finally:
        family = [proc.pid] + [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        for pid in family:   # only the processes this fixture started
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _run(tmp_path, env, *extra) -> tuple[subprocess.CompletedProcess, Path]:
    grid, db = tmp_path / "grid.yaml", tmp_path / "r.duckdb"
    grid.write_text(GRID)
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(grid), "--db", str(db), *extra],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    return out, db


def _complete(db: Path) -> int:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("SELECT count(*) FROM trials WHERE status = 'complete'").fetchone()[0]


def test_address_of_a_loopback_head_joins_instead_of_hanging(loopback_head, tmp_path):
    port, env = loopback_head
    assert "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER" not in env     # the driver's Ray would dial the node IP
    out, db = _run(tmp_path, env, "--address", f"127.0.0.1:{port}")
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert _complete(db) == 2


def test_ray_address_in_the_environment_is_the_cluster_joined(loopback_head, tmp_path):
    port, env = loopback_head
    out, db = _run(tmp_path, dict(env, RAY_ADDRESS=f"127.0.0.1:{port}"))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-3000:]
    assert f"joined 127.0.0.1:{port}" in out.stdout, out.stdout[-2000:]
    assert _complete(db) == 2
