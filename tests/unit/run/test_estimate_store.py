"""`estimate` against the committed cpu-paper store (docs/results/cpu-smollm2/store): the grid it
holds on 2 CPUs must come within 20% of the wall time the store itself records."""
from pathlib import Path

import duckdb
import pytest

from harness.grid import expand, load_grid
from harness.run.estimate import estimate
from harness.run.estimate.gpu_model import load_gpu_model
from harness.run.estimate.work import work_of

REPO = Path(__file__).resolve().parents[3]
STORE = REPO / "docs/results/cpu-smollm2/store"
GRID = REPO / "grids/cpu-paper.yaml"


def busy_wall_s(trial_ids: set[str]) -> float:
    """Seconds with at least one of the trials running, from the store's own timestamps."""
    rows = duckdb.connect().execute(
        f"SELECT trial_id, started_at, finished_at FROM read_parquet('{STORE / 'trials.parquet'}') "
        "WHERE status = 'complete' ORDER BY started_at").fetchall()
    total, end = 0.0, None
    for trial_id, start, stop in rows:
        if trial_id not in trial_ids:
            continue
        if end is None or start > end:
            total, end = total + (stop - start).total_seconds(), stop
        elif stop > end:
            total, end = total + (stop - end).total_seconds(), stop
    return total


@pytest.fixture(scope="module")
def grid_ids():
    return {s.trial_id for s in expand(load_grid(GRID))}


def test_cpu_paper_on_two_cpus_within_20_percent_of_its_measured_wall(grid_ids):
    est = estimate(GRID, STORE, cpus=2)
    measured = busy_wall_s(grid_ids)
    (scenario,) = est.scenarios
    assert {c.basis for c in scenario.costs} == {"direct"} and not scenario.unknown
    assert scenario.peak_running == 2
    assert abs(scenario.makespan_s / measured - 1) < 0.20, (scenario.makespan_s, measured)
    assert est.measured.busy_s == pytest.approx(measured)
    # a simulation, not total / 2: the makespan is at least half the trial-hours and the longest trial
    work = sum(c.seconds for c in scenario.costs)
    assert scenario.makespan_s >= max(work / 2, max(c.seconds for c in scenario.costs))


def test_held_out_scaling_from_other_cells_also_within_20_percent(grid_ids):
    est = estimate(GRID, STORE, cpus=2, direct=False)
    (scenario,) = est.scenarios
    scaled = [c for c in scenario.costs if c.basis == "scaled"]
    assert len(scaled) >= 150 and not scenario.unknown
    assert all(f"{c.spec.train_mix} K={c.spec.k} (" not in c.note for c in scaled)   # never its own cell
    assert abs(scenario.makespan_s / busy_wall_s(grid_ids) - 1) < 0.20


def test_a_k_the_store_lacks_is_scaled_by_its_training_examples(tmp_path):
    grid = tmp_path / "k128.yaml"
    grid.write_text(GRID.read_text().replace("k: [16, 64, 256]", "k: [128]")
                    .replace("method: [tallrec, icl, gru4rec, caser, sasrec, dros, gru-bert, "
                             "dros-bert, random, item-popularity, history-like-rate]", "method: [tallrec]")
                    .replace("variant: {tallrec: [AT, RT, full], icl: [base]}", "variant: {tallrec: [RT]}")
                    .replace("seed: [0, 1, 2]", "seed: [0]").replace("train_mix: [movie, book]", "train_mix: [movie]"))
    (scenario,) = estimate(grid, STORE, cpus=2).scenarios
    (cost,) = scenario.costs
    assert cost.basis == "scaled" and "movie K=64" in cost.note and "movie K=256" in cost.note
    assert "train x2" in cost.note and "train x0.5" in cost.note
    stored = {c.spec.k: c.seconds for c in estimate(GRID, STORE, cpus=2).scenarios[0].costs
              if c.spec.method == "tallrec" and c.spec.variant == "RT" and c.spec.train_mix == "movie"}
    assert stored[64] < cost.seconds < stored[256]


def test_the_paper_grid_on_gpus_uses_the_stated_flops_model():
    model = load_gpu_model()
    est = estimate(REPO / "grids/paper.yaml", STORE, gpus=[8, 64])
    eight, sixty_four = est.scenarios
    assert (eight.cpus, sixty_four.cpus) == (64, 512)   # 8 CPUs per GPU by default
    icl = next(c for c in eight.costs if c.spec.method == "icl" and c.spec.variant == "base")
    g, n = model.gpu, model.model_params["baffo32/decapoda-research-llama-7B-hf"]
    test_tokens = sum(rows * g["tokens_per_sample"][d] for d, rows in work_of(icl.spec).score_samples.items())
    expected = g["load_s"] + 2 * n * test_tokens / (g["peak_tflops"] * 1e12 * g["mfu_score"])
    assert icl.basis == "gpu model" and icl.seconds == pytest.approx(expected)
    assert eight.gpu_hours == pytest.approx(sixty_four.gpu_hours)
    assert sixty_four.makespan_s < eight.makespan_s
    assert eight.makespan_s >= eight.gpu_hours * 3600 / 8   # 8 GPUs cannot beat total / 8
    assert eight.peak_running <= 16 and sixty_four.peak_running <= 128


def test_full_trials_start_after_the_at_trials_they_wait_on():
    from harness.tune.phases import dependencies

    est = estimate(GRID, STORE, cpus=2)
    (scenario,) = est.scenarios
    specs = [c.spec for c in scenario.costs]
    seconds = {c.spec.trial_id: c.seconds for c in scenario.costs}
    deps = dependencies(specs)
    waiting = [s for s in specs if deps[s.trial_id]]
    assert {s.variant for s in waiting} == {"full"} and len(waiting) == 18
    for spec in waiting:
        at_end = max(scenario.start[d] + seconds[d] for d in deps[spec.trial_id])
        assert scenario.start[spec.trial_id] >= at_end
    # the three AT trials are launched first
    first = sorted(specs, key=lambda s: scenario.start[s.trial_id])[:2]
    assert {s.variant for s in first} == {"AT"}


def test_a_steps_rule_fixes_the_training_work_whatever_epochs_say():
    """grids/cpu-paper-v2.yaml sets `epochs: 100` and a `training.steps` rule that decides: the
    estimate must count the rule's steps (it counted 100 epochs: 160 h instead of ~7 h)."""
    from harness.core.spec import TrialSpec

    training = {"learning_rate": 3e-4, "batch_size": 4, "epochs": 100,
                "steps": {"per_sample": 0.5, "min": 16, "max": 256}}
    spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=64, seed=0,
                     model={"name": "smollm2-135m"}, params={"training": training})
    work = work_of(spec)
    assert work.train_examples == 32 * 4            # ceil(0.5 x 64) = 32 steps of batch 4
    capped = work_of(TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=64, seed=0,
                               model={"name": "smollm2-135m"},
                               params={"training": {**training, "steps": None, "epochs": 3, "max_steps": 8}}))
    assert capped.train_examples == 8 * 4
