"""Bad GPU-path input to `harness run`: a DeepSpeed config that does not parse, 8-bit with a
bitsandbytes that has no backend for this device, more GPUs per trial than any node has. Each is
one line on stderr, exit 2, and nothing stored."""
import importlib.machinery
import sys
import types
from pathlib import Path

import pytest

from harness.cli import main

TALLREC = "grid:\n  method: [tallrec]\n  variant: [RT]\n  k: [8]\n  train_mix: [movie]\n"


def run_bad(tmp_path, capsys, body: str) -> str:
    grid = tmp_path / "grid.yaml"
    grid.write_text(f"name: bad\n{body}")
    db = tmp_path / "out" / "r.duckdb"
    rc = main(["run", str(grid), "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    stored = db.is_file() and __import__("duckdb").connect(str(db), read_only=True).execute(
        "SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM trials)").fetchone()[0]
    assert not stored, "something was stored"
    return err


@pytest.mark.parametrize("content, where, message", [
    ("{\"zero_optimization\": {\"stage\": 3,}", "training.deepspeed", "does not parse"),
    ("[3]", "training.deepspeed", "a JSON object is expected"),
    (None, "training.deepspeed", "DeepSpeed config not found"),
])
def test_a_deepspeed_config_that_does_not_parse(tmp_path, capsys, content, where, message):
    config = tmp_path / "ds.json"
    if content is not None:
        config.write_text(content)
    err = run_bad(tmp_path, capsys, f"training: {{deepspeed: {config}}}\n{TALLREC}")
    assert f"{where}: " in err and message in err, err


def test_the_top_level_deepspeed_key_is_checked_too(tmp_path, capsys):
    config = tmp_path / "ds.json"
    config.write_text("zero: 3")
    err = run_bad(tmp_path, capsys, f"deepspeed: {config}\n{TALLREC}")
    assert "deepspeed: DeepSpeed config" in err and "does not parse" in err


def test_zero3_across_several_gpus_passes_the_grid_checks(tmp_path):
    # refused until ZeRO-3 ran across 2 processes (tests/unit/tune/test_multiworker.py)
    from harness.grid.load import load_grid

    grid = tmp_path / "grid.yaml"
    grid.write_text("name: z3\ntraining: {deepspeed: ray_configs/deepspeed_zero3.json}\n"
                    f"resources: {{gpus_per_trial: 2}}\n{TALLREC}")
    assert load_grid(grid).training.deepspeed == "ray_configs/deepspeed_zero3.json"


def test_fractional_gpus_above_one(tmp_path, capsys):
    err = run_bad(tmp_path, capsys, f"resources: {{gpus_per_trial: 1.5}}\n{TALLREC}")
    assert "resources.gpus_per_trial: 1.5 is not allowed: above 1, whole GPUs only" in err


def test_8bit_with_a_bitsandbytes_without_a_backend_here(tmp_path, capsys, monkeypatch, tiny_dir):
    fake = types.ModuleType("bitsandbytes")
    fake.__spec__ = importlib.machinery.ModuleSpec("bitsandbytes", None)
    fake.__version__ = "0.42.0"     # before bitsandbytes had its CPU (multi-backend) support
    monkeypatch.setitem(sys.modules, "bitsandbytes", fake)
    torch = pytest.importorskip("torch")
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        pytest.skip("the fake has no CUDA library check to fail on a CUDA machine")
    err = run_bad(tmp_path, capsys, f"model: {{name: {tiny_dir}, load_in_8bit: true}}\n{TALLREC}")
    assert "model.load_in_8bit: bitsandbytes 0.42.0 has no backend for the cpu device" in err, err


@pytest.mark.timeout(180)
def test_more_gpus_per_trial_than_any_node_has(tmp_path, capsys):
    body = ("imports: [tests.fixtures.methods]\nray: {num_cpus: 1, num_gpus: 2}\n"
            "grid:\n  method: [test-instant]\n  k: [4]\n  train_mix: [movie]\n"
            "overrides:\n  test-instant:\n    resources: {gpus_per_trial: 4}\n")
    old = Path.cwd()
    try:   # the grid imports tests.fixtures from the repository root, as Ray's workers would
        import os

        os.chdir(Path(__file__).resolve().parents[3])
        err = run_bad(tmp_path, capsys, body)
    finally:
        os.chdir(old)
    assert "a trial needs 1 CPU and 4 GPU" in err and "no Ray node has that" in err, err
