"""An unknown model in a grid is one clear error before anything runs or is stored."""
import subprocess
import sys


def test_unknown_model_path_fails_before_running(tmp_path):
    grid = tmp_path / "grid.yaml"
    grid.write_text("name: x\nmodel: {name: /no/such/model}\ngrid:\n  method: [icl]\n")
    db = tmp_path / "r.duckdb"
    out = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(grid), "--db", str(db)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "model.name: unknown model '/no/such/model'" in out.stderr
    assert "Traceback" not in out.stderr
    assert not db.exists()
