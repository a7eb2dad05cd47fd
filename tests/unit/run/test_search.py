"""`harness search` end to end on local Ray with a tiny model and real Movie data: three ASHA
samples, every search trial stored, predictions on validation rows only, the chosen fragment
written; then `harness run` of a grid that uses it (values in the params, the search in extra)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from harness.run.store import Store

REPO = Path(__file__).resolve().parents[3]
HARNESS = [sys.executable, "-m", "harness.cli"]

SEARCH = """name: tiny-search
model: {{name: {model}}}
training: {{batch_size: 4, micro_batch_size: 4, epochs: 3, patience: 3, warmup_steps: 0,
           cutoff_len: 256, score_batch_size: 16}}
search:
  train_mix: [movie]
  k: [8]
  metric: uauc
  num_samples: 3
  valid_samples: 24
  scheduler: {{name: asha, grace_period: 1, reduction_factor: 2}}
  space:
    training.learning_rate: {{loguniform: [1.0e-4, 1.0e-2]}}
    training.steps.per_sample: {{choice: [0.5, 1.0]}}
resources: {{cpus_per_trial: 1, gpus_per_trial: 0}}
ray: {{num_cpus: 2}}
"""
STUDY = """name: tiny-study
model: {{name: {model}}}
training: {{batch_size: 4, micro_batch_size: 4, epochs: 3, patience: 3, warmup_steps: 0,
           cutoff_len: 256, score_batch_size: 16, valid_max_samples: 16}}
protocol: {{from: tiny-search.chosen.yaml}}
grid: {{method: [tallrec], variant: {{tallrec: [RT]}}, k: [8], train_mix: [movie]}}
eval: {{domains: [movie], max_samples: 20}}
data: {{subset: spread}}
resources: {{cpus_per_trial: 1, gpus_per_trial: 0}}
ray: {{num_cpus: 2}}
"""


def harness(args, tmp_path, raw_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
    (tmp_path / "home").mkdir(exist_ok=True)
    out = subprocess.run(HARNESS + args + ["--raw-dir", str(raw_dir)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=400)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_search_scores_validation_only_stores_every_trial_and_its_choice_is_used(tmp_path, raw_dir, tiny_dir):
    from data.samples import load_split

    db = tmp_path / "r.duckdb"
    search = tmp_path / "tiny-search.yaml"
    search.write_text(SEARCH.format(model=tiny_dir))
    printed = harness(["search", str(search), "--db", str(db)], tmp_path, raw_dir)
    assert "fewer than 256 validation rows" in " ".join(printed.split())

    store = Store(db)
    rows = store.query("SELECT * FROM search_trials")
    assert len(rows) == 3 and set(rows["status"]) <= {"complete", "stopped"}
    assert rows["chosen"].sum() == 1 and set(rows["cell"]) == {"movie@K8"}
    assert (rows["passes"] >= 1).all()           # every validation pass reported to Tune
    chosen = yaml.safe_load((tmp_path / "tiny-search.chosen.yaml").read_text())["protocol"]
    best = rows[rows["chosen"]].iloc[0]
    assert chosen["cells"]["movie@K8"] == json.loads(best["settings"])
    assert best["objective"] == rows[rows["status"] == "complete"]["objective"].max()

    # Validation only: every stored search trial evaluated the valid split, no test sample scored.
    ids = [i for i in rows["trial_id"] if i is not None]
    splits = store.query("SELECT DISTINCT split FROM metrics")["split"].tolist()
    assert splits == ["valid"]
    configs = store.query("SELECT config FROM trials")["config"].map(json.loads)
    assert len(configs) == len(ids) and all(c["eval"]["split"] == "valid" for c in configs)
    kwargs = {"raw_dir": raw_dir, "cache_dir": Path(os.environ["HARNESS_CACHE_DIR"]) / "data"}
    scored = set(store.query("SELECT sample_id FROM predictions")["sample_id"])
    assert scored and scored <= set(load_split("movie", "valid", **kwargs)["sample_id"])
    assert not scored & set(load_split("movie", "test", **kwargs)["sample_id"])

    study = tmp_path / "tiny-study.yaml"
    study.write_text(STUDY.format(model=tiny_dir))
    harness(["run", str(study), "--db", str(db)], tmp_path, raw_dir)
    trial = store.query("SELECT config, extra FROM trials t JOIN runs r USING (run_id) "
                        "WHERE r.name = 'tiny-study'").iloc[0]
    config, extra = json.loads(trial["config"]), json.loads(trial["extra"])
    training = config["params"]["training"]
    assert training["learning_rate"] == chosen["cells"]["movie@K8"]["training.learning_rate"]
    assert training["steps"]["per_sample"] == chosen["cells"]["movie@K8"]["training.steps.per_sample"]
    assert extra["protocol"]["search_run"] == chosen["source"]["search_run"]
    assert extra["protocol"]["cell"] == "movie@K8"

    # `harness report --spec search`: the table and the figure of objective against each setting
    from harness.cli.main import main

    assert main(["report", "--spec", "search", "--db", str(db), "--out", str(tmp_path / "rep")]) == 0
    table = (tmp_path / "rep" / "search_trials.csv").read_text().splitlines()
    assert len(table) == 1 + 3 and (tmp_path / "rep" / "search_points.png").is_file()
    header = (tmp_path / "rep" / "report.md").read_text().splitlines()[4]
    assert "spec: search" in header and "metric:" not in header   # the search shows its own objective
