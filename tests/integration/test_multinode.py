"""The multi-node path: a head + worker Ray cluster on this machine, `harness run --address`, the
worker node killed mid-run; every trial ends stored exactly once (scripts/multinode_check.py, run
in its own process because it sets Ray's environment). About 70 s here."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(400)
def test_worker_node_killed_mid_run_every_trial_stored_once():
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "multinode_check.py")], cwd=REPO,
                         env=dict(os.environ, PYTHONPATH=str(REPO)), capture_output=True, text=True,
                         timeout=390)
    assert out.returncode == 0, out.stdout + out.stderr[-3000:]
    assert "FAIL" not in out.stdout and "every trial stored exactly once" in out.stdout
