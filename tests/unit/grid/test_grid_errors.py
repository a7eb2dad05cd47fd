"""Malformed grid files: `harness run` prints one line naming the field, the bad value and what
is allowed, exits with code 2, and writes nothing (no store, no run directory)."""
import pytest

from harness.cli import main

OK_AXES = "grid:\n  method: [random]\n  k: [16]\n  train_mix: [movie]\n"

CASES = {
    "wrong type for an axis": ("grid:\n  method: random\n",
                               "grid.method: 'random' is not allowed: input should be a valid list"),
    "wrong type in a list": ("grid:\n  method: [random]\n  k: [sixteen]\n  train_mix: [movie]\n",
                             "grid.k[0]: 'sixteen' is not allowed: input should be a valid integer"),
    "unknown method": ("grid:\n  method: [random, nope]\n",
                       "grid.method[1]: 'nope' is not a registered method; registered: "),
    "K out of range (0)": ("grid:\n  method: [random]\n  k: [16, 64, 0]\n  train_mix: [movie]\n",
                           "grid.k[2]: 0 is not in 1..256"),
    "K out of range (512)": ("grid:\n  method: [random]\n  k: [512]\n  train_mix: [movie]\n",
                             "grid.k[0]: 512 is not in 1..256"),
    "unknown field in grid": (OK_AXES + "  kk: [1]\n",
                              "grid.kk: unknown field; allowed: method, variant, k, seed, train_mix"),
    "unknown top-level field": (OK_AXES + "stor: x.duckdb\n", "stor: unknown field; allowed: name, "),
    "unknown field in a block": (OK_AXES + "training:\n  lr: 0.1\n",
                                 "training.lr: unknown field; allowed: learning_rate, "),
    "empty axis": ("grid:\n  method: [random]\n  k: [16]\n  seed: []\n  train_mix: [movie]\n",
                   "grid.seed: [] is empty"),
    "empty method list": ("grid:\n  method: []\n", "grid.method: [] is empty"),
    "missing grid": ("name: x\n", "grid: missing; this field is required"),
    "missing K for a trained method": ("grid:\n  method: [random]\n  train_mix: [movie]\n",
                                       "grid.k: missing; required because random trains on K samples"),
    "bad train mix": ("grid:\n  method: [random]\n  k: [16]\n  train_mix: [music]\n",
                      "grid.train_mix[0]: 'music' is not a dataset; registered or declared: movie, book, movie-users"),
    "bad eval domain": (OK_AXES + "eval:\n  domains: [movie, music]\n",
                        "eval.domains[1]: 'music' is not a dataset; registered or declared: movie, book, movie-users"),
    "negative retries": (OK_AXES + "ray:\n  max_retries: -1\n",
                         "ray.max_retries: -1 is not allowed: input should be greater than or equal to 0"),
    "negative GPUs": (OK_AXES + "resources:\n  gpus_per_trial: -1\n",
                      "resources.gpus_per_trial: -1 is not allowed"),
    "bad YAML syntax": ("grid:\n  method: [random\n  k: [16]\n", "bad YAML syntax: line "),
    "duplicate key": (OK_AXES + "grid:\n  method: [random]\n", "duplicate key 'grid'"),
    "not a mapping": ("- random\n- item-popularity\n", "expected a mapping with at least `grid:`"),
    "empty file": ("", "got an empty file"),
    "override of a method not in the grid": (OK_AXES + "overrides:\n  sasrec:\n    baseline: {epochs: 1}\n",
                                             "overrides.sasrec: 'sasrec' is not in grid.method"),
    "unknown variant": ("grid:\n  method: [random]\n  variant: [AT]\n  k: [16]\n  train_mix: [movie]\n",
                        "grid.variant[0]: 'AT' is not a variant of any listed method"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_grid_gives_one_line_and_exit_2(case, tmp_path, capsys):
    text, expected = CASES[case]
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    db = tmp_path / "out" / "results.duckdb"
    rc = main(["run", str(path), "--db", str(db)])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and str(path) in err
    assert expected in err, err
    assert not (tmp_path / "out").exists()          # nothing written: no store, no run dir


def test_missing_file_and_directory(tmp_path, capsys):
    for target in (tmp_path / "nope.yaml", tmp_path):
        rc = main(["run", str(target), "--db", str(tmp_path / "r.duckdb")])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1
        assert str(target) in err and ("not found" in err or "is a directory" in err)
    assert not (tmp_path / "r.duckdb").exists()


def test_dry_run_writes_nothing(tmp_path, capsys):
    path = tmp_path / "grid.yaml"
    path.write_text(OK_AXES + "eval:\n  domains: [movie]\n")
    db = tmp_path / "results.duckdb"
    assert main(["run", str(path), "--db", str(db), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "random" in out and "total" in out
    assert not db.exists() and not (tmp_path / "runs").exists()
