"""The worked examples of docs/extending.md run: a method, a metric, a model."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from harness.core.context import TrialContext
from harness.core.trial import run_trial
from harness.grid.expand import expand
from harness.grid.load import load_grid
from harness.run.store import Store

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples"


@pytest.fixture(scope="module")
def method_store(tmp_path_factory, raw_dir):
    """examples/method/grid.yaml's trials, run in process (as `harness run` runs each one)."""
    work = tmp_path_factory.mktemp("example-method")
    specs = expand(load_grid(EXAMPLES / "method" / "grid.yaml"))
    store = Store(work / "r.duckdb")
    run = store.begin_run("example-method")
    for spec in specs:
        result = run_trial(spec, TrialContext(raw_dir=raw_dir, cache_dir=work / "cache"))
        assert result.status == "complete", result.error
        store.write_result(result, run)
    store.end_run(run)
    return store


def test_the_method_grid_validates_from_the_command_line(tmp_path):
    got = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(EXAMPLES / "method" / "grid.yaml"),
                          "--dry-run", "--db", str(tmp_path / "none.duckdb")], capture_output=True, text=True,
                         timeout=120, cwd=REPO)
    assert got.returncode == 0, got.stderr
    assert "plan: example-method" in got.stdout and not (tmp_path / "none.duckdb").exists()


def test_the_new_method_scores_the_last_history_label_and_joins_the_paper_report(method_store, raw_dir, tmp_path):
    from data.samples import load_split
    from harness.report import load_spec, render_report

    preds = method_store.query("SELECT p.sample_id, p.score, p.user_id FROM predictions p JOIN trials t "
                               "USING (trial_id) WHERE t.method = 'last-liked' AND p.eval_domain = 'movie'")
    table = load_split("movie", "test", raw_dir=raw_dir, cache_dir=tmp_path / "data").set_index("sample_id")
    want = [float(h[-1]) if len(h) else 0.5 for h in table.loc[preds.sample_id, "history_labels"]]
    assert preds.score.tolist() == want and preds.user_id.notna().all()
    render_report(method_store.path, load_spec("paper"), tmp_path / "report", overlay=False)
    assert "last-liked" in set(pd.read_csv(tmp_path / "report" / "fig3b.csv").method)


def test_the_metric_example_is_sample_weighted_user_auc(method_store, tmp_path):
    from examples.metric.gauc import GAUC
    from harness.report import load_spec, render_report

    rng = np.random.default_rng(0)
    users = np.repeat(np.array(["a", "b", "c"]), [10, 20, 6])
    labels, scores = rng.integers(0, 2, 36), rng.random(36)
    labels[[0, 1, 10, 11, 30, 31]] = [0, 1, 0, 1, 0, 1]
    per = {u: (roc_auc_score(labels[users == u], scores[users == u]), (users == u).sum()) for u in "abc"}
    want = sum(a * n for a, n in per.values()) / sum(n for _, n in per.values())
    assert GAUC.evaluate(labels, scores, users).value == pytest.approx(want)
    res = render_report(method_store.path, load_spec("paper"), tmp_path / "gauc", overlay=False,
                        metric="examples.metric.gauc:GAUC")
    titles = [r.section.title for r in res.sections]
    assert "Figure 3(b): GAUC x 100 against the number of training samples K" in titles


def test_the_model_grid_runs_with_a_local_folder_in_place_of_the_hub_id(tiny_dir, raw_dir, tmp_path):
    grid = load_grid(EXAMPLES / "model" / "grid.yaml")
    (spec,) = expand(grid)
    assert spec.model["revision"] == "main" and spec.method == "icl"
    local = spec.model_copy(update={"model": {**spec.model, "name": str(tiny_dir), "revision": None},
                                    "eval": spec.eval.model_copy(update={"max_samples": 8})})
    result = run_trial(local, TrialContext(raw_dir=raw_dir, cache_dir=tmp_path))
    assert result.status == "complete", result.error
    assert result.metrics[0].n == 8


def test_the_dataset_example_builds_its_own_split_and_runs(raw_dir, tmp_path):
    """examples/dataset/grid.yaml: a dataset declared in YAML, built from ML-100K's raw files with
    settings of its own (5-star likes, 5-item windows, the users split), runs its trials."""
    from data.samples import load_split

    specs = expand(load_grid(EXAMPLES / "dataset" / "grid.yaml"))
    assert {s.method for s in specs} == {"history-like-rate", "item-popularity"}
    datasets = specs[0].data.datasets
    splits = {name: load_split("ml100k-loved", name, raw_dir=raw_dir, cache_dir=tmp_path / "cache",
                               datasets=datasets) for name in ("train", "valid", "test")}
    assert sum(len(f) for f in splits.values()) == 2000
    assert all(len(h) == 5 for h in splits["test"]["history_item_ids"])
    users = [set(f["user_id"]) for f in splits.values()]
    assert not (users[0] & users[1] or users[0] & users[2] or users[1] & users[2])   # whole users
    for spec in specs:
        result = run_trial(spec, TrialContext(raw_dir=raw_dir, cache_dir=tmp_path / "cache"))
        assert result.status == "complete", result.error
        test = splits["test"].set_index("sample_id")
        frame = result.predictions["ml100k-loved"]
        assert len(frame) == len(test) and set(frame["user_id"]) == set(test["user_id"])
