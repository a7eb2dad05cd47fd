"""`grid.model`: one grid file runs its LLM methods on several base models.

Expansion with the embedded SmolLM2 and a tiny random-init Llama saved to a folder, the trial ids
of a single-model grid left unchanged, bad axes refused with one line, and a report over a store
holding both models' rows labels them apart.
"""
import pytest

from harness.core.config import ModelConfig
from harness.core.errors import HarnessError
from harness.grid import GridError, expand, parse_grid
from harness.report import load_spec, render_report
from harness.run.runner import check_models
from harness.run.store import Store
from tests.store_rows import make_result

AXES = {"method": ["tallrec", "random"], "variant": {"tallrec": ["AT", "full"]}, "k": [16],
        "train_mix": ["movie"], "seed": [0, 1]}


def grid(model_axis=None, **top):
    axes = dict(AXES, **({"model": model_axis} if model_axis is not None else {}))
    return parse_grid({"name": "models", "grid": axes, **top})


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    pytest.importorskip("torch")
    from tests.helpers import llm as testing

    return str(testing.tiny_llama_dir(tmp_path_factory.getbasetemp() / "models"))


def test_a_one_model_axis_keeps_the_trial_ids_of_the_model_block():
    block = [s.trial_id for s in expand(grid(model={"name": "smollm2-135m"}))]
    assert [s.trial_id for s in expand(grid())] == block            # the default model
    assert [s.trial_id for s in expand(grid(["smollm2-135m"]))] == block
    assert [s.trial_id for s in expand(grid([{"name": "smollm2-135m"}]))] == block


def test_two_models_expand_like_k_and_seed(tiny_llama):
    specs = expand(grid(["smollm2-135m", {"name": tiny_llama}], model={"dtype": "float32"}))
    llm = [s for s in specs if s.method == "tallrec"]
    # per model: AT (zero-shot) x 2 seeds + full x 1 K x 2 seeds
    assert len(llm) == 2 * (2 + 2) and len({s.trial_id for s in specs}) == len(specs)
    assert [s.model["name"] for s in llm] == ["smollm2-135m"] * 4 + [tiny_llama] * 4
    assert all(s.model == ModelConfig(name=s.model["name"]).model_dump(mode="json") for s in llm)
    assert {s.model for s in specs if s.method == "random"} == {None}   # no LLM: axis collapses
    assert len([s for s in specs if s.method == "random"]) == 2
    check_models(specs, "models.yaml")      # both models are found where they are named


def test_a_choice_is_merged_over_the_model_block_then_overrides():
    specs = expand(grid(["smollm2-135m", {"name": "./other", "dtype": "float16"}],
                        model={"dtype": "bfloat16"},
                        overrides={"tallrec": {"model": {"template": "alpaca-noqa"}}}))
    models = {(s.model["name"], s.model["dtype"], s.model["template"])
              for s in specs if s.model}
    assert models == {("smollm2-135m", "bfloat16", "alpaca-noqa"),
                      ("./other", "float16", "alpaca-noqa")}


def test_an_unknown_model_directory_fails_before_running(tmp_path):
    specs = expand(grid(["smollm2-135m", str(tmp_path / "missing")]))
    with pytest.raises(HarnessError) as err:
        check_models(specs, "models.yaml")
    assert "missing" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("axis, extra, message", [
    ([], {}, "grid.model: [] is empty"),
    (["a", {"name": "a"}], {}, "grid.model[1]: the same model as grid.model[0]"),
    ([{"dtype": "f8"}], {}, "grid.model[0].dtype: 'f8' is not allowed"),
    ([{"nme": "x"}], {}, "grid.model[0].nme: unknown field"),
    ([""], {}, "grid.model[0]: '' is not allowed"),
    ([3], {}, "grid.model[0]: 3 is not allowed"),
    (["a", "b"], {"overrides": {"tallrec": {"model": {"name": "c"}}}},
     "overrides.tallrec.model.name: would replace every grid.model choice"),
])
def test_bad_model_axes_fail_with_one_line(axis, extra, message):
    with pytest.raises(GridError) as err:
        grid(axis, **extra)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_model_axis_without_an_llm_method_is_refused():
    with pytest.raises(GridError, match="grid.model: no method in grid.method uses an LLM"):
        parse_grid({"grid": {"method": ["random"], "k": [16], "train_mix": ["movie"],
                             "model": ["smollm2-135m"]}})


def test_a_report_over_both_models_rows_labels_them_apart(tmp_path, tiny_llama):
    g = grid(["smollm2-135m", {"name": tiny_llama}])
    db = tmp_path / "s.duckdb"
    store = Store(db)
    run = store.begin_run(g.name, g.model_dump(mode="json"))
    for spec in expand(g):
        shift = 0.8 if spec.model and spec.model["name"] == "smollm2-135m" else 0.0
        store.write_result(make_result(spec=spec, n=60, shift=shift, domains=("movie",)), run)
    out = render_report(db, load_spec("paper"), tmp_path / "o")
    secs = {r.section.key: r for r in out.sections}
    smol, tiny = "TALLRec [model.name=smollm2-135m]", f"TALLRec [model.name={tiny_llama}]"
    cell = secs["table3"].pivot.cell
    assert cell(("Movie", 16), smol).n == 2 and cell(("Movie", 16), tiny).n == 2
    assert cell(("Movie", 16), smol).mean > cell(("Movie", 16), tiny).mean
    fig = secs["fig3b"].frame
    assert {smol, tiny, "AT [model.name=smollm2-135m]", f"AT [model.name={tiny_llama}]"} <= set(fig["method"])
    assert set(fig.loc[fig["method"].isin([smol, tiny]), "seeds"]) == {2}
    md = (tmp_path / "o" / "report.md").read_text()
    assert smol in md and "scope: grid models (1 run)" in md
