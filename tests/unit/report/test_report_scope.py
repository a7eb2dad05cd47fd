"""Report scope (--grid / --run / --all / --where) and the refusal to pool configurations.

Stores are written through the Store API with known rows (tests/store_rows.py): the same method
under two configurations (two base models; two eval caps), in one run or in two runs.
"""
import pytest

from harness.core.errors import HarnessError
from harness.grid import expand, parse_grid
from harness.report import ReportError, load_spec, render_report
from harness.report.scope import ReportScope, check_predicate
from harness.run.store import Store
from tests.store_rows import make_result

SMOL, TINY = {"name": "smollm2-135m"}, {"name": "./tiny-llama"}


def _tallrec(store, run_id, model, seeds=(0, 1, 2), shift=0.5, **kw):
    for seed in seeds:
        store.write_result(make_result(method="tallrec", variant="full", train_mix="movie", k=16,
                                       seed=seed, shift=shift, domains=("movie",), model=model,
                                       n=60, **kw), run_id)


def _baseline(store, run_id, seeds=(0, 1, 2), **kw):
    for seed in seeds:
        store.write_result(make_result(method="gru4rec", train_mix="movie", k=16, seed=seed,
                                       domains=("movie",), n=60, **kw), run_id)


def _sections(out):
    return {r.section.key: r for r in out.sections}


def test_two_models_in_one_run_are_two_labelled_columns_and_series(tmp_path):
    db = tmp_path / "s.duckdb"
    store = Store(db)
    run = store.begin_run("two-models")
    _tallrec(store, run, SMOL, shift=0.9)
    _tallrec(store, run, TINY, shift=0.0)
    _baseline(store, run)
    secs = _sections(render_report(db, load_spec("paper"), tmp_path / "out"))
    pivot = secs["table3"].pivot
    smol, tiny = "TALLRec [model.name=smollm2-135m]", "TALLRec [model.name=./tiny-llama]"
    row = ("Movie", 16)
    assert {smol, tiny, "GRU4Rec"} <= set(pivot.columns)
    assert pivot.cell(row, "TALLRec").n == 0   # the declared column keeps only the paper's number
    assert pivot.cell(row, smol).n == 3 and pivot.cell(row, tiny).n == 3   # not 6 pooled "seeds"
    assert pivot.cell(row, smol).mean > pivot.cell(row, tiny).mean
    fig = secs["fig3b"].frame
    tall = fig[fig["method"].str.startswith("TALLRec")]
    assert sorted(tall["method"]) == sorted([smol, tiny]) and set(tall["seeds"]) == {3}
    assert set(secs["fig4"].frame["trained_on"]) == {f"Trained on Movie [model.name={m}]"
                                                     for m in ("smollm2-135m", "./tiny-llama")}
    # one configuration of a method: no label (the baseline here)
    assert "GRU4Rec" in set(fig["method"])


def _two_runs(db):
    store = Store(db)
    demo = store.begin_run("demo")
    _tallrec(store, demo, SMOL, eval={"max_samples": 200}, shift=0.0)
    _baseline(store, demo, eval={"max_samples": 200})
    full = store.begin_run("full")
    _tallrec(store, full, SMOL, shift=0.9)
    return demo, full


def test_default_scope_is_the_latest_grid_and_flags_pick_others(tmp_path):
    db = tmp_path / "s.duckdb"
    demo, full = _two_runs(db)
    spec = load_spec("paper")
    latest = _sections(render_report(db, spec, tmp_path / "a"))
    assert [c for c in latest["table3"].pivot.columns if "TALLRec" in c] == ["TALLRec"]
    assert latest["table3"].pivot.cell(("Movie", 16), "GRU4Rec").n == 0   # the demo's cells are out
    assert latest["table3"].pivot.cell(("Movie", 16), "TALLRec").n == 3
    assert "scope: grid full (1 run)" in (tmp_path / "a" / "report.md").read_text()

    by_grid = _sections(render_report(db, spec, tmp_path / "b", scope=ReportScope(grid="demo")))
    assert by_grid["table3"].pivot.cell(("Movie", 16), "GRU4Rec").n == 3
    by_run = _sections(render_report(db, spec, tmp_path / "c", scope=ReportScope(run=demo)))
    assert by_run["table3"].frame.equals(by_grid["table3"].frame)

    both = _sections(render_report(db, spec, tmp_path / "d", scope=ReportScope(all=True)))
    cols = set(both["table3"].pivot.columns)
    assert {"TALLRec [eval.max_samples=200]", "TALLRec [eval.max_samples=none]"} <= cols
    assert "GRU4Rec" in cols   # one configuration of gru4rec in the store: no label

    where = ReportScope(all=True, where="config->>'$.eval.max_samples' IS NULL")
    only_full = _sections(render_report(db, spec, tmp_path / "e", scope=where))
    assert [c for c in only_full["table3"].pivot.columns if "TALLRec" in c] == ["TALLRec"]
    assert only_full["table3"].pivot.cell(("Movie", 16), "TALLRec").n == 3
    assert "where config->>" in (tmp_path / "e" / "report.md").read_text()


def test_a_run_reports_trials_its_grid_planned_that_another_run_stored(tmp_path):
    grid = parse_grid({"name": "g", "grid": {"method": ["random"], "k": [16],
                                             "train_mix": ["movie"], "seed": [0, 1]}})
    specs = expand(grid)
    db = tmp_path / "s.duckdb"
    store = Store(db)
    first = store.begin_run("other", grid.model_dump(mode="json"))
    for s in specs:
        store.write_result(make_result(spec=s, n=40), first)
    second = store.begin_run("g", grid.model_dump(mode="json"))   # stored nothing new
    con_rows = render_report(db, load_spec("paper"), tmp_path / "o", scope=ReportScope(run=second))
    status = _sections(con_rows)["status"].frame
    assert int(status.select_dtypes("number").sum().sum()) >= len(specs)
    text = (tmp_path / "o" / "report.md").read_text()
    assert f"trials: {len(specs)} ({len(specs)} complete" in text


@pytest.mark.parametrize("scope, needle", [
    (ReportScope(run="nope"), "--run nope: no such run"),
    (ReportScope(grid="nope"), "--grid nope: no run of that grid"),
    (ReportScope(where="no_such_column = 1"), "--where 'no_such_column = 1'"),
    (ReportScope(where="1=1; DROP TABLE trials"), "not one SQL condition"),
    (ReportScope(where="true) UNION SELECT * FROM trials WHERE (true"), "not one SQL condition"),
    (ReportScope(where="true) --"), "not one SQL condition"),
    (ReportScope(where="method = 'x"), "unterminated string"),
])
def test_bad_scopes_fail_with_one_line(tmp_path, scope, needle):
    db = tmp_path / "s.duckdb"
    _two_runs(db)
    with pytest.raises(ReportError) as err:
        render_report(db, load_spec("paper"), tmp_path / "o", scope=scope)
    msg = str(err.value)
    assert needle in msg and "\n" not in msg and isinstance(err.value, HarnessError)


def test_predicate_check_allows_quotes_and_nesting():
    check_predicate("method IN ('a;b', 'c--d') AND (k > 1 OR (seed = 0))")


def test_a_spec_that_would_pool_two_configurations_stops(tmp_path):
    db = tmp_path / "s.duckdb"
    store = Store(db)
    run = store.begin_run("two-models")
    _tallrec(store, run, SMOL)
    _tallrec(store, run, TINY)
    spec_file = tmp_path / "pool.yaml"
    spec_file.write_text(
        "name: pool\ntitle: pooled\nsections:\n"
        "  - id: t\n    title: t\n    view: table\n    rows: [k]\n    columns: method\n"
        "    value: auc\n    sql: |\n"
        "      SELECT k, method, seed, auc, trial_id FROM results WHERE split = 'test'\n")
    with pytest.raises(ReportError, match=r"k=16, method=tallrec pools trials whose "
                                          r"configurations differ in model\.name"):
        render_report(db, load_spec(str(spec_file)), tmp_path / "o")


def test_cli_scope_flags(tmp_path):
    import subprocess
    import sys

    db = tmp_path / "s.duckdb"
    _two_runs(db)
    run = lambda *a: subprocess.run([sys.executable, "-m", "harness.cli", "report", "--db", str(db),  # noqa: E731
                                     "--out", str(tmp_path / "o"), *a], capture_output=True, text=True)
    bad = run("--grid", "nope")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "--grid nope: no run of that grid in the store (grids: full, demo)" in bad.stderr
    assert run("--grid", "demo", "--run", "x").returncode == 2          # one scope at a time
    ok = run("--grid", "demo", "--where", "seed < 2")
    assert ok.returncode == 0, ok.stderr
    table = (tmp_path / "o" / "table3.csv").read_text().splitlines()
    assert any(line.startswith("Movie,16,GRU4Rec,2,") for line in table)   # seeds 0 and 1 only


def test_configurations_scored_on_disjoint_domains_need_no_label():
    """A users split scored beside TALLRec's split (grids/cpu-paper-v2): its trials never share
    a report row with the others, so Table 3 keeps one TALLRec column; overlapping domain lists
    (two scorings of Movie) stay labelled apart."""
    from harness.report.scope import labels

    split = {"a": {"eval.domains": ["movie", "book"], "eval.max_samples": 500},
             "b": {"eval.domains": ["movie-users"], "eval.max_samples": 500}}
    assert labels(split) == {"a": "", "b": ""}
    overlap = {"a": {"eval.domains": ["movie", "book"]}, "b": {"eval.domains": ["movie"]}}
    assert set(labels(overlap).values()) == {'eval.domains=["movie", "book"]', 'eval.domains=["movie"]'}
    other = {"a": {"eval.domains": ["movie"], "model.name": "x"}, "b": {"eval.domains": ["book"], "model.name": "y"}}
    assert labels(other) == {"a": "model.name=x", "b": "model.name=y"}


def test_settings_a_protocol_chose_per_cell_are_part_of_the_cell_not_the_configuration():
    """grids/cpu-paper-v2: TALLRec at K=64 and K=256 ran under one searched protocol with two
    learning rates; Table 3 must show one TALLRec column, not one per learning rate. A study
    with hand-set settings, or another protocol, stays a configuration of its own."""
    import json

    from harness.report.scope import config_key

    def spec(lr, per_sample):
        return json.dumps({"method": "tallrec", "k": 64, "params": {"training": {
            "learning_rate": lr, "batch_size": 4, "steps": {"per_sample": per_sample, "min": 16}}}})

    def extra(source="grids/a.chosen.yaml"):
        return json.dumps({"protocol": {"from": source, "cell": "movie@K64", "search_grid": "s",
                                        "search_run": "r1",
                                        "settings": ["training.learning_rate", "training.steps.per_sample"]}})

    k64, _ = config_key(spec(4.3e-4, 0.93), extra())
    k256, flat = config_key(spec(1.1e-4, 0.26), extra())
    assert k64 == k256
    assert "params.training.learning_rate" not in flat and flat["params.training.batch_size"] == 4
    assert flat["protocol.from"] == "grids/a.chosen.yaml"
    assert config_key(spec(1.1e-4, 0.26))[0] != k256                       # hand-set: its own configuration
    assert config_key(spec(1.1e-4, 0.26), extra("grids/b.chosen.yaml"))[0] != k256   # another protocol
    for odd in ("not json", float("nan"), None, "[1]"):                   # an odd or missing extra: as none
        assert config_key(spec(1.1e-4, 0.26), odd)[0] == config_key(spec(1.1e-4, 0.26))[0]
