"""The `search:` and `protocol:` blocks: one-line errors for bad ranges, unknown settings and
metrics (exit 2, nothing stored); a chosen fragment's values land in the hashed params of the
trained cells they fit, and the steps rule scales optimizer steps with K."""
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.core.config import TrainingConfig
from harness.core.objective import objective_value
from harness.grid import expand, load_grid
from harness.grid.errors import GridError
from harness.grid.expand import protocol_extra

SEARCH = """name: s
search:
  train_mix: [movie]
  k: [64]
  metric: {metric}
  num_samples: 2
  space:
    {setting}: {rng}
"""


def write(tmp_path: Path, text: str, name: str = "g.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("setting, rng, metric, message", [
    ("training.learning_rate", "{loguniform: [1.0e-3, 1.0e-4]}", "uauc", "low 0.001 must be below high 0.0001"),
    ("training.learning_rate", "{loguniform: [0, 1.0e-4]}", "uauc", "loguniform: low 0 must be above 0"),
    ("training.learning_rate", "{choice: []}", "uauc", "choice: needs at least one value"),
    ("training.learning_rate", "{choice: [1], uniform: [0, 1]}", "uauc", "exactly one of"),
    ("training.batch_size", "{choice: [4, 0]}", "uauc", "choice value 0 is not allowed"),
    ("training.learnin_rate", "{choice: [1.0e-4]}", "uauc", "unknown setting: training has no field 'learnin_rate'"),
    ("baseline.learning_rate", "{choice: [1.0e-4]}", "uauc", "unknown setting"),
    ("training.learning_rate", "{choice: [1.0e-4]}", "gauc", "unknown metric 'gauc'; registered: auc, "),
])
def test_bad_search_block_is_one_line_exit_2(tmp_path, capsys, setting, rng, metric, message):
    grid = write(tmp_path, SEARCH.format(setting=setting, rng=rng, metric=metric))
    db = tmp_path / "r.duckdb"
    assert main(["search", str(grid), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()), err
    assert "Traceback" not in err and not db.exists()


def test_search_only_grid_loads_and_dry_runs(tmp_path, capsys):
    grid = write(tmp_path, SEARCH.format(setting="training.steps.per_sample", rng="{uniform: [0.25, 1.0]}",
                                         metric="uauc"), name="x.search.yaml")
    spec = load_grid(grid)
    assert spec.search.direction == "max" and spec.search.cells() == ["movie@K64"]
    assert main(["search", str(grid), "--dry-run"]) == 0
    assert "x.chosen.yaml" in capsys.readouterr().out
    # its stand-in `grid:` block would score the searched cells on test: `harness run` refuses it
    assert main(["run", str(grid), "--db", str(tmp_path / "r.duckdb"), "--dry-run"]) == 2
    assert "is a search grid" in capsys.readouterr().err and not (tmp_path / "r.duckdb").exists()


CHOSEN = """protocol:
  source: {search_run: run-1, metric: uauc}
  cells:
    movie@K64: {training.learning_rate: 0.0005, training.steps.per_sample: 0.75}
    movie@K256: {training.learning_rate: 0.0001, training.batch_size: 16}
"""
STUDY = """name: study
protocol: {from: c.chosen.yaml}
grid:
  method: [tallrec, random]
  variant: {tallrec: [AT, RT]}
  k: [16, 64, 256]
  train_mix: [movie, book]
"""


def test_protocol_values_go_into_the_trained_cells_params(tmp_path):
    write(tmp_path, CHOSEN, "c.chosen.yaml")
    grid = load_grid(write(tmp_path, STUDY))
    specs = {(s.method, s.variant, s.train_mix, s.k): s for s in expand(grid)}
    rt = specs[("tallrec", "RT", "movie", 256)]
    assert rt.params["training"]["learning_rate"] == 0.0001 and rt.params["training"]["batch_size"] == 16
    nearest = specs[("tallrec", "RT", "movie", 16)]          # K=16 was not searched: nearest K (64)
    assert nearest.params["training"]["steps"]["per_sample"] == 0.75
    assert protocol_extra(grid, nearest)["protocol"]["cell"] == "movie@K64"
    assert protocol_extra(grid, rt)["protocol"]["search_run"] == "run-1"
    # a resumed search names, per cell, the run that chose it
    write(tmp_path, CHOSEN.replace("{search_run: run-1,", "{search_run: run-2, cell_runs: {movie@K64: run-1, "
                                   "movie@K256: run-2},"), "c.chosen.yaml")
    resumed = load_grid(write(tmp_path, STUDY))
    assert protocol_extra(resumed, nearest)["protocol"]["search_run"] == "run-1"
    assert protocol_extra(resumed, rt)["protocol"]["search_run"] == "run-2"
    assert "cell_runs" not in protocol_extra(resumed, rt)["protocol"]
    # untouched: the book cells (not searched), the zero-shot AT trial, the baselines
    plain = load_grid(write(tmp_path, STUDY.replace("protocol: {from: c.chosen.yaml}\n", ""), "p.yaml"))
    before = {(s.method, s.variant, s.train_mix, s.k): s.trial_id for s in expand(plain)}
    for key, spec in specs.items():
        changed = key[0] == "tallrec" and key[1] == "RT" and key[2] == "movie"
        assert (spec.trial_id != before[key]) == changed, key
    assert protocol_extra(grid, specs[("random", None, "movie", 64)]) == {}


def test_protocol_errors_are_one_line(tmp_path):
    write(tmp_path, CHOSEN.replace("0.0005", "-1"), "c.chosen.yaml")
    with pytest.raises(GridError, match="movie@K64: training.learning_rate = -1 is not allowed"):
        load_grid(write(tmp_path, STUDY))
    with pytest.raises(GridError, match="protocol.from: nope.yaml not found"):
        load_grid(write(tmp_path, STUDY.replace("c.chosen.yaml", "nope.yaml")))


def test_steps_rule_scales_with_k_and_keeps_old_ids():
    rule = TrainingConfig(steps={"per_sample": 0.75, "min": 32, "max": 192})
    assert [rule.optimizer_steps(n) for n in (16, 64, 128, 256, 512)] == [32, 48, 96, 192, 192]
    assert TrainingConfig(max_steps=7).optimizer_steps(256) == 7
    assert "steps" not in TrainingConfig().model_dump()      # ADDED_FIELDS: no stored id changes


def test_uauc_averages_users_with_both_labels():
    import pandas as pd

    frame = pd.DataFrame({"user_id": ["a", "a", "a", "b", "b", "c"], "label": [1, 0, 0, 1, 0, 1],
                          "score": [0.9, 0.1, 0.95, 0.2, 0.8, 0.5]})
    assert objective_value("uauc", frame) == pytest.approx((0.5 + 0.0) / 2)     # c has one label: left out
    assert objective_value("auc", frame) != objective_value("uauc", frame)


def test_protocol_use_maps_an_unsearched_train_mix(tmp_path):
    write(tmp_path, CHOSEN, "c.chosen.yaml")
    text = STUDY.replace("{from: c.chosen.yaml}", "{from: c.chosen.yaml, use: {movie-users: movie}}")
    grid = load_grid(write(tmp_path, text.replace("train_mix: [movie, book]", "train_mix: [movie-users]")))
    spec = next(s for s in expand(grid) if s.variant == "RT" and s.k == 256)
    assert spec.params["training"]["batch_size"] == 16
    assert protocol_extra(grid, spec)["protocol"]["cell"] == "movie@K256"


def test_uauc_is_the_pooled_auc_where_no_user_repeats():
    """Book's splits hold one sample per user: nothing to rank within a user, so the search's
    objective there is the pooled AUC (issue 25: UAUC where a split repeats users), not undefined."""
    import pandas as pd

    frame = pd.DataFrame({"user_id": ["a", "b", "c", "d"], "label": [1, 0, 1, 0],
                          "score": [0.9, 0.2, 0.4, 0.6]})
    assert objective_value("uauc", frame) == pytest.approx(objective_value("auc", frame)) == 0.75
