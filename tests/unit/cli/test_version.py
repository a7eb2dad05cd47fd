import subprocess
import sys


def test_version_prints_the_distribution_and_exits_zero():
    got = subprocess.run([sys.executable, "-m", "harness.cli", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert got.returncode == 0 and got.stdout.startswith("tallrec-harness ")
    assert len(got.stdout.strip().splitlines()) == 1
