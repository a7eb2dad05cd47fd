"""The local Ray of a run listens on loopback only (token auth is on too, but nothing needs to
reach a single-machine Ray from the network)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]

_SCRIPT = """
import sys, psutil
from pathlib import Path
from harness.tune.options import TuneOptions
from harness.tune.session import ray_session

with ray_session(TuneOptions(resources=None, storage_path=Path(sys.argv[1]), num_cpus=1), Path(sys.argv[1])):
    import ray
    print("gcs", ray.get_runtime_context().gcs_address)
    procs = [psutil.Process()] + psutil.Process().children(recursive=True)
    for p in procs:
        try:
            conns = p.net_connections(kind="inet")
        except psutil.Error:
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN:
                print("listen", c.laddr.ip)
"""


@pytest.mark.timeout(120)
def test_local_ray_listens_on_loopback_only(tmp_path):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("RAY_AUTH") and k != "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"}
    env.update(PYTHONPATH=str(REPO), HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(tmp_path / "runs")], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=110)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.splitlines()
    listening = {ln.split()[1] for ln in lines if ln.startswith("listen")}
    assert lines[0].startswith("gcs 127.0.0.1:")
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1", "::1"}, listening
