"""ASHA stops trailing search trials from the validation passes they report (`tune.report` through
the validation hook), every trial is stored, and the best finished one is chosen. A test-only
method (tests/fixtures/search_methods.py) stands in for training: seconds, no model."""
import json

import pytest
import yaml

from harness.run.search import run_search
from harness.run.store import Store

GRID = """name: asha
imports: [tests.fixtures.search_methods]
search:
  method: test-search
  variant: fit
  train_mix: [movie]
  k: [8]
  metric: auc
  num_samples: 1
  valid_samples: 40
  scheduler: {name: asha, grace_period: 1, reduction_factor: 2, max_t: 10}
  space:
    training.learning_rate: {grid: [1.0e-2, 3.0e-3, 1.0e-3, 1.0e-4, 1.0e-5, 1.0e-6]}
resources: {cpus_per_trial: 1}
ray: {num_cpus: 2}
"""


@pytest.mark.timeout(300)
def test_asha_stops_trailing_trials_and_every_trial_is_stored(tmp_path):
    grid = tmp_path / "asha.search.yaml"
    grid.write_text(GRID)
    db = tmp_path / "r.duckdb"
    report = run_search(grid, db=db)

    (cell,) = report.cells
    assert cell.chosen == {"training.learning_rate": 1e-2} and cell.objective == 1.0
    rows = Store(db).query("SELECT * FROM search_trials")
    assert len(rows) == 6 and rows["chosen"].sum() == 1
    stopped = rows[rows["status"] == "stopped"]
    assert len(stopped) >= 1, rows[["settings", "status", "passes"]]        # ASHA cut someone
    assert (stopped["passes"] < 4).all() and stopped["objective"].isna().all()
    complete = rows[rows["status"] == "complete"]
    assert (complete["passes"] == 4).all()
    # the stopped ones are the worse ones: none beats a finished trial's learning rate
    rate = lambda frame: frame["settings"].map(lambda s: json.loads(s)["training.learning_rate"])  # noqa: E731
    assert rate(stopped).max() < rate(complete).max()
    # validation only: every stored search trial evaluated the valid split
    store = Store(db)
    assert store.query("SELECT DISTINCT split FROM metrics")["split"].tolist() == ["valid"]
    assert all(json.loads(c)["eval"]["split"] == "valid" for c in store.query("SELECT config FROM trials")["config"])
    chosen = yaml.safe_load((tmp_path / "asha.chosen.yaml").read_text())["protocol"]
    assert chosen["cells"] == {"movie@K8": {"training.learning_rate": 0.01}}
    assert chosen["source"]["search_run"] == report.run_id
    # 2. the same search again on the same store: the cell is taken from the first run (hours on a
    #    CPU are not spent twice), its choice made again by the same rule; nothing new is searched
    again = run_search(grid, db=db)
    (cell,) = again.cells
    assert cell.reused_from == report.run_id and cell.chosen == {"training.learning_rate": 1e-2}
    assert len(Store(db).query("SELECT * FROM search_trials")) == 6
    again_chosen = yaml.safe_load((tmp_path / "asha.chosen.yaml").read_text())["protocol"]
    assert again_chosen["cells"] == chosen["cells"]
    # the fragment names the run that chose each reused cell, not only the run that wrote it
    assert again_chosen["source"]["cell_runs"] == {"movie@K8": report.run_id} != again.run_id
    # 3. a different search of that cell (another space) is searched, not reused
    grid.write_text(GRID.replace("1.0e-5, 1.0e-6]", "1.0e-5]"))
    third = run_search(grid, db=db)
    assert third.cells[0].reused_from is None
    assert len(Store(db).query("SELECT * FROM search_trials")) == 11


@pytest.mark.timeout(300)
def test_search_trials_get_the_gpus_a_run_gives_the_cell(tmp_path):
    """`gpus_per_trial` reaches the search's Tune trials as it reaches `harness run`'s (a search
    on a GPU cluster ran its trials on CPUs before). Ray's logical GPUs: it sets
    CUDA_VISIBLE_DEVICES for them exactly as for real ones; the fixture records it."""
    grid = tmp_path / "gpu.search.yaml"
    grid.write_text(GRID.replace("{name: asha, grace_period: 1, reduction_factor: 2, max_t: 10}", "{name: fifo}")
                    .replace("1.0e-2, 3.0e-3, 1.0e-3, 1.0e-4, 1.0e-5, 1.0e-6", "1.0e-2, 1.0e-3")
                    .replace("ray: {num_cpus: 2}", "ray: {num_cpus: 2, num_gpus: 2}\n"
                             "overrides:\n  test-search: {resources: {gpus_per_trial: 1}}"))
    db = tmp_path / "r.duckdb"
    report = run_search(grid, db=db)
    assert report.cells[0].chosen == {"training.learning_rate": 1e-2}
    visible = [json.loads(e)["visible"] for e in Store(db).query("SELECT extra FROM trials")["extra"]]
    assert len(visible) == 2 and all(v in {"0", "1"} for v in visible), visible


@pytest.mark.timeout(300)
def test_a_search_asking_for_gpus_the_cluster_lacks_is_one_error(tmp_path):
    from harness.core.errors import HarnessError

    grid = tmp_path / "nogpu.search.yaml"
    grid.write_text(GRID.replace("ray: {num_cpus: 2}", "ray: {num_cpus: 2}\n"
                                 "overrides:\n  test-search: {resources: {gpus_per_trial: 1}}"))
    with pytest.raises(HarnessError, match="needs 1 CPU and 1 GPU .* but no Ray node has that"):
        run_search(grid, db=tmp_path / "r.duckdb")
    assert Store(tmp_path / "r.duckdb").query("SELECT count(*) AS n FROM search_trials")["n"][0] == 0
