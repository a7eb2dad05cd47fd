"""scripts/run_in_stages.py: every stage runs the grid's own trials, and the whole grid comes last."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from harness.grid.expand import expand
from harness.grid.load import parse_grid

REPO = Path(__file__).resolve().parents[3]
_spec = importlib.util.spec_from_file_location("run_in_stages", REPO / "scripts" / "run_in_stages.py")
run_in_stages = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_in_stages)


def _fake_harness(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in `harness` command that appends its arguments to a log, one call per line."""
    log = tmp_path / "calls.txt"
    fake = tmp_path / "fake-harness"
    fake.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\n")
    fake.chmod(0o755)
    return fake, log


def _ids(raw: dict) -> dict[str, tuple]:
    return {t.trial_id: (t.method, t.variant, t.seed) for t in expand(parse_grid(raw))}


def test_cpu_paper_stages_are_the_designs_own_trials():
    stages = run_in_stages.stage_grids(REPO / "grids/cpu-paper.yaml", REPO / "grids/cpu-paper.stages.yaml")
    assert stages[-1][0] == "all"
    design = _ids(stages[-1][1])
    design |= _ids(yaml.safe_load((REPO / "grids/cpu-paper-both.yaml").read_text()))
    staged = set()
    for name, grid in stages[:-1]:
        ids = _ids(grid)
        assert ids and ids.keys() <= design.keys(), f"stage {name} runs trials outside grids/cpu-paper*.yaml"
        staged |= ids.keys()
    # left to the last stage: the seed-independent zero-shot's other seeds and the AT-only trials
    # (their adapters are built on demand by the first `full` trial of each seed)
    left = sorted(design[i] for i in design.keys() - staged)
    assert left == [("icl", "base", 1), ("icl", "base", 2), ("tallrec", "AT", 0), ("tallrec", "AT", 1), ("tallrec", "AT", 2)]


def test_a_malformed_stages_file_is_one_clear_error(tmp_path):
    bad = tmp_path / "stages.yaml"
    bad.write_text("- name: x\n")
    with pytest.raises(SystemExit, match="expected a list of"):
        run_in_stages.stage_grids(REPO / "grids/cpu-paper.yaml", bad)


def test_only_runs_the_named_stages_and_rejects_unknown_names(tmp_path):
    fake, log = _fake_harness(tmp_path)
    db = tmp_path / "r.duckdb"
    argv = [str(REPO / "grids/cpu-paper.yaml"), str(REPO / "grids/cpu-paper.stages.yaml"),
            "--db", str(db), "--harness", str(fake)]
    assert run_in_stages.main(argv + ["--only", "references"]) == 0
    calls = log.read_text().splitlines()
    assert len(calls) == 1 and calls[0].startswith("run ") and "-references.yaml" in calls[0]
    staged = yaml.safe_load(Path(calls[0].split()[1]).read_text())
    assert staged["grid"]["method"] == ["history-like-rate"] and staged["name"] == "cpu-paper"
    with pytest.raises(SystemExit, match="no stage 'nope'"):
        run_in_stages.main(argv + ["--only", "nope"])


def test_rerun_failed_is_passed_on_to_each_stage(tmp_path):
    fake, log = _fake_harness(tmp_path)
    argv = [str(REPO / "grids/cpu-paper.yaml"), str(REPO / "grids/cpu-paper.stages.yaml"),
            "--db", str(tmp_path / "r.duckdb"), "--harness", str(fake), "--only", "zero-shot"]
    assert run_in_stages.main(argv) == 0
    assert run_in_stages.main(argv + ["--rerun-failed"]) == 0
    first, second = log.read_text().splitlines()
    assert "--rerun-failed" not in first and second.endswith(" --rerun-failed")
