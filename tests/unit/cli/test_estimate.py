"""`harness estimate`: its output and JSON on the committed cpu-paper store (a dump folder and a
.duckdb store), and bad input: one line, exit 2."""
import json
import shutil
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.run import dump

REPO = Path(__file__).resolve().parents[3]
STORE = REPO / "docs/results/cpu-smollm2/store"
GRID = str(REPO / "grids/cpu-paper.yaml")


def run(capsys, *args):
    code = main(["estimate", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_estimate_prints_the_tables_and_the_measured_wall_and_writes_json(capsys, tmp_path):
    code, out, err = run(capsys, GRID, "--costs", str(STORE), "--cpus", "2", "--json", str(tmp_path / "e.json"))
    assert code == 0, err
    assert "Estimate: cpu-paper (189 trials)" in out and "busy wall" in out and "direct" in out
    data = json.loads((tmp_path / "e.json").read_text())
    (scenario,) = data["scenarios"]
    assert scenario["cpus"] == 2 and len(scenario["trials"]) == 189
    assert abs(scenario["wall_s"] / data["measured"]["busy_wall_s"] - 1) < 0.2
    assert all(t["basis"] == "direct" and t["start_s"] is not None for t in scenario["trials"])


def test_a_duckdb_store_gives_the_same_estimate_as_its_dump(capsys, tmp_path):
    db = tmp_path / "r.duckdb"
    dump.load(STORE, db)
    _, out_db, _ = run(capsys, GRID, "--costs", str(db), "--cpus", "2", "--json", str(tmp_path / "a.json"))
    _, out_dir, _ = run(capsys, GRID, "--costs", str(STORE), "--cpus", "2", "--json", str(tmp_path / "b.json"))
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["scenarios"][0]["wall_s"] == pytest.approx(b["scenarios"][0]["wall_s"])
    assert a["measured"]["busy_wall_s"] == pytest.approx(b["measured"]["busy_wall_s"])


def test_the_paper_grid_prints_its_gpu_assumptions(capsys):
    code, out, err = run(capsys, str(REPO / "grids/paper.yaml"), "--costs", str(STORE), "--gpus", "8", "64")
    assert code == 0, err
    assert "GPU cost model" in out and "peak" in out and "epochs run" in out and "gpu model" in out


def _garbled_dump(tmp_path: Path) -> Path:
    folder = tmp_path / "dump"
    shutil.copytree(STORE, folder)
    (folder / "trials.parquet").write_bytes(b"not parquet at all")
    return folder


@pytest.mark.parametrize("case, needle", [
    ("missing", "no results store or store dump"),
    ("garbled-db", "damaged"),
    ("garbled-dump", "cannot read the store dump"),
    ("not-a-dump", "is not a store dump"),
    ("bad-grid", "bad YAML syntax"),
    ("gpus-0", "--gpus must be 1 or more"),
    ("cpus-0", "--cpus must be above 0"),
    ("too-small", "more than the 1 CPU"),
    ("paper-without-gpus", "needs 4 CPU and 1 GPU"),
])
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path, case, needle):
    grid, costs, extra = GRID, str(STORE), ["--cpus", "2"]
    if case == "missing":
        costs = str(tmp_path / "nope.duckdb")
    elif case == "garbled-db":
        (tmp_path / "bad.duckdb").write_bytes(b"\0garbage" * 4096)
        costs = str(tmp_path / "bad.duckdb")
    elif case == "garbled-dump":
        costs = str(_garbled_dump(tmp_path))
    elif case == "not-a-dump":
        costs = str(tmp_path)
    elif case == "bad-grid":
        (tmp_path / "g.yaml").write_text("name: x\ngrid: [unclosed\n")
        grid = str(tmp_path / "g.yaml")
    elif case == "gpus-0":
        extra = ["--gpus", "0"]
    elif case == "cpus-0":
        extra = ["--cpus", "0"]
    elif case == "too-small":
        grid = str(REPO / "grids/paper.yaml")
        extra = ["--gpus", "1", "--cpus", "1"]
    elif case == "paper-without-gpus":
        grid = str(REPO / "grids/paper.yaml")
    code, out, err = run(capsys, grid, "--costs", costs, *extra)
    assert code == 2, (out, err)
    assert needle in err and len(err.strip().splitlines()) == 1, err
