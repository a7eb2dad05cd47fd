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


def test_cpu_paper_v2_stages_cover_both_splits_under_the_chosen_protocol(tmp_path, monkeypatch):
    """The v2 study: every stage reads the search's fragment; K=256 comes before K=64 and K=16;
    the users-split stages train and score on movie-users only, with movie's chosen settings."""
    from harness.grid.expand import protocol_extra
    from harness.grid.load import load_grid

    (tmp_path / "grids").mkdir()
    cells = {f"{mix}@K{k}": {"training.learning_rate": lr, "training.steps.per_sample": 0.5}
             for mix, lr in (("movie", 2e-4), ("book", 4e-4)) for k in (64, 256)}
    (tmp_path / "grids" / "cpu-paper-v2.chosen.yaml").write_text(
        yaml.safe_dump({"protocol": {"source": {"search_run": "r1"}, "cells": cells}}))
    monkeypatch.chdir(tmp_path)    # the fragment's path is relative to the working directory
    stages = run_in_stages.stage_grids(REPO / "grids/cpu-paper-v2.yaml", REPO / "grids/cpu-paper-v2.stages.yaml")
    names = [name for name, _ in stages]
    assert names.index("movie-k256") < names.index("movie-k64") < names.index("movie-k16")
    assert names.index("users-k256") < names.index("users-k64")
    seen = {}
    for i, (name, raw) in enumerate(stages):
        path = tmp_path / f"{i:02d}-{name}.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False))
        grid = load_grid(path)
        for spec in expand(grid):
            seen[spec.trial_id] = spec
            users = spec.train_mix == "movie-users" or tuple(spec.eval.domains) == ("movie-users",)
            assert users == name.startswith("users"), (name, spec.label())
            if spec.method == "tallrec" and spec.variant in ("RT", "full"):
                mix = "movie" if spec.train_mix == "movie-users" else spec.train_mix
                assert spec.params["training"]["learning_rate"] == (2e-4 if mix == "movie" else 4e-4)
                assert protocol_extra(grid, spec)["protocol"]["search_run"] == "r1"
    everything = {s.trial_id for s in expand(load_grid(tmp_path / f"{len(stages) - 1:02d}-all.yaml"))}
    staged_tallrec = {i for i, s in seen.items() if s.method == "tallrec" and s.train_mix in ("movie", "book")}
    assert staged_tallrec <= everything
    assert sum(s.train_mix == "movie-users" for s in seen.values()) == 3 * 3 * (2 + 8)
