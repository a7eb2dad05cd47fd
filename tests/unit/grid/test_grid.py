"""Grid validation and expansion: pure functions, no Ray, no data."""
from collections import Counter
from pathlib import Path

import pytest

import tests.fixtures.methods  # noqa: F401  registers the test-* methods
from harness.core.config import ModelConfig, TrainingConfig
from harness.grid import GridError, expand, load_grid, parse_grid
from harness.core.spec import K_MAX

REPO = Path(__file__).resolve().parents[3]
SMOKE = {"name": "smoke",
         "grid": {"method": ["random", "item-popularity"], "k": [16, 64], "seed": [0, 1],
                  "train_mix": ["movie", "book"]},
         "eval": {"domains": ["movie", "book"]}}


def grid(**changes):
    raw = {"name": "t", "grid": {"method": ["test-staged", "test-instant"], "k": [4, 16],
                                 "seed": [0, 1], "train_mix": ["movie"]}}
    raw.update(changes)
    return parse_grid(raw)


def test_minimal_grid_from_the_issue_expands_to_every_combination():
    specs = expand(parse_grid(SMOKE))
    assert len(specs) == 2 * 2 * 2 * 2
    assert len({s.trial_id for s in specs}) == len(specs)
    assert {s.variant for s in specs} == {None}          # baselines have no variant
    assert {s.model for s in specs} == {None}            # no LLM: no model block in the spec
    assert all(set(s.params) == {"baseline"} for s in specs)
    assert {(s.train_mix, s.k, s.seed) for s in specs if s.method == "random"} == {
        (m, k, seed) for m in ("movie", "book") for k in (16, 64) for seed in (0, 1)}
    assert specs[0].eval.domains == ("movie", "book") and specs[0].eval.max_samples is None


def test_expansion_is_deterministic_and_in_grid_order():
    first, second = expand(parse_grid(SMOKE)), expand(parse_grid(SMOKE))
    assert [s.trial_id for s in first] == [s.trial_id for s in second]
    assert [s.method for s in first][:8] == ["random"] * 8


def test_zero_shot_variant_ignores_k_and_train_mix_and_is_one_per_seed():
    specs = expand(grid())
    build = [s for s in specs if s.variant == "build"]
    use = [s for s in specs if s.variant == "use"]
    assert [(s.k, s.train_mix, s.seed) for s in build] == [(0, None, 0), (0, None, 1)]
    assert len(use) == 2 * 2          # k x seed (one train mix)
    assert all(s.k in (4, 16) and s.train_mix == "movie" for s in use)
    # blocks per variant, model only for the LLM-like method
    assert set(build[0].params) == {"at"} and set(use[0].params) == {"at", "training"}
    assert build[0].model == ModelConfig().model_dump(mode="json")
    assert all(s.model is None and s.params == {} for s in specs if s.method == "test-instant")


def test_duplicate_axis_values_are_deduplicated():
    specs = expand(grid(grid={"method": ["test-instant", "test-instant"], "k": [4, 4],
                              "seed": [0, 0, 1], "train_mix": ["movie"]}))
    assert len(specs) == 2


def test_variant_list_and_mapping_select_variants():
    only_use = expand(grid(grid={"method": ["test-staged"], "variant": ["use"], "k": [4],
                                 "train_mix": ["movie"]}))
    assert {s.variant for s in only_use} == {"use"}
    mapped = expand(grid(grid={"method": ["test-staged", "test-instant"], "k": [4],
                               "train_mix": ["movie"], "variant": {"test-staged": ["build"]}}))
    assert {(s.method, s.variant) for s in mapped} == {("test-staged", "build"), ("test-instant", None)}


def test_k_and_train_mix_are_only_required_when_a_trial_trains():
    specs = expand(parse_grid({"grid": {"method": ["test-staged"], "variant": ["build"],
                                        "seed": [3]}}))
    assert [(s.variant, s.k, s.seed) for s in specs] == [("build", 0, 3)]


def test_overrides_change_only_their_method_and_keep_other_ids():
    plain = {s.label(): s.trial_id for s in expand(grid())}
    changed = expand(grid(overrides={"test-staged": {"training": {"epochs": 3}, "params": {"tag": "b"}}}))
    use = next(s for s in changed if s.variant == "use")
    assert use.params["training"]["epochs"] == 3 and use.params["tag"] == "b"
    # the build variant does not use the training block, but the free params reach it
    build = next(s for s in changed if s.variant == "build")
    assert "training" not in build.params and build.params["tag"] == "b"
    for s in changed:
        if s.method == "test-instant":
            assert plain[s.label()] == s.trial_id


def test_top_level_deepspeed_fills_the_training_block():
    g = grid(deepspeed="ray_configs/deepspeed_zero2.json")
    use = next(s for s in expand(g) if s.variant == "use")
    assert use.params["training"]["deepspeed"] == "ray_configs/deepspeed_zero2.json"
    assert TrainingConfig().deepspeed is None


def test_resources_per_method():
    g = grid(resources={"cpus_per_trial": 2, "gpus_per_trial": 0.5},
             overrides={"test-instant": {"resources": {"gpus_per_trial": 0.25}}})
    assert g.resources_for("test-staged", uses_llm=True) == (2.0, 0.5)
    assert g.resources_for("test-instant", uses_llm=False) == (2.0, 0.25)
    assert grid().resources_for("test-instant", uses_llm=False) == (1.0, 0)
    assert grid().resources_for("test-staged", uses_llm=True) == (1.0, "auto")


def test_shipped_grids_are_valid():
    smoke = load_grid(REPO / "grids" / "smoke.yaml")
    assert len(expand(smoke)) == 16 and smoke.name == "smoke"
    for name in ("demo", "paper"):
        g = load_grid(REPO / "grids" / f"{name}.yaml")
        assert g.name == name and g.grid.method


def test_tallrec_and_icl_rules():
    """AT ignores K and train mix (one per seed), icl has K = 0, baselines have no variant."""
    pytest.importorskip("peft")
    g = parse_grid({"grid": {"method": ["tallrec", "icl", "gru4rec"], "k": [1, 256],
                             "seed": [0, 1], "train_mix": ["movie", "both"]}})
    counts = Counter((s.method, s.variant) for s in expand(g))
    assert counts == {("tallrec", "AT"): 2, ("tallrec", "RT"): 8, ("tallrec", "full"): 8,
                      ("icl", "base"): 2, ("icl", "alpaca-lora"): 2, ("gru4rec", None): 8}
    specs = expand(g)
    assert all(s.k == 0 and s.train_mix is None for s in specs if s.variant in ("AT", "base", "alpaca-lora"))
    assert max(s.k for s in specs) == K_MAX


def test_the_paper_grid_is_the_full_design():
    pytest.importorskip("peft")
    specs = expand(load_grid(REPO / "grids" / "paper.yaml"))
    counts = Counter((s.method, s.variant) for s in specs)
    assert counts[("tallrec", "AT")] == 5
    assert counts[("tallrec", "RT")] == counts[("tallrec", "full")] == 9 * 3 * 5
    assert {s.k for s in specs if s.variant == "RT"} == {1, 2, 4, 8, 16, 32, 64, 128, 256}
    assert {s.train_mix for s in specs if s.variant == "RT"} == {"movie", "book", "both"}
    for baseline in ("gru4rec", "caser", "sasrec", "dros", "gru-bert", "dros-bert"):
        assert counts[(baseline, None)] == 135


def test_errors_are_grid_errors_with_paths():
    with pytest.raises(GridError, match=r"^grid\.k\[2\]: 0 is not in 1\.\.256$"):
        grid(grid={"method": ["test-instant"], "k": [16, 64, 0], "train_mix": ["movie"]})
    with pytest.raises(GridError, match=r"overrides\.test-instant\.baseline: test-instant does not use"):
        grid(overrides={"test-instant": {"baseline": {"epochs": 1}}})
    with pytest.raises(GridError, match=r"overrides\.test-staged\.training\.epochs: 0 is not allowed"):
        grid(overrides={"test-staged": {"training": {"epochs": 0}}})
    with pytest.raises(GridError, match=r"overrides\.test-staged\.training\.epoch: unknown field; allowed: learning_rate"):
        grid(overrides={"test-staged": {"training": {"epoch": 2}}})
