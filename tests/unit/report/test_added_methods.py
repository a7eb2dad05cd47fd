"""A method a grid registers shows in the paper's Table 3 and Figure 3(b) without a spec, on the
same scale and with the same marks; `--methods` chooses which."""
import subprocess
import sys

import pandas as pd
import pytest

from harness.report import load_spec, render_report
from harness.run.store import Store
from tests.store_rows import make_result


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("added") / "r.duckdb")
    run = store.begin_run("added")
    for seed in range(3):
        for method, variant, shift in (("tallrec", "full", 0.5), ("gru4rec", None, 0.0), ("my-ranker", None, 0.8)):
            store.write_result(make_result(method=method, variant=variant, train_mix="movie", k=16, seed=seed,
                                           shift=shift + 0.05 * seed, domains=("movie",), n=60), run)
        store.write_result(make_result(method="my-zero", train_mix=None, k=0, seed=seed, domains=("movie",),
                                       n=60), run)
    store.end_run(run)
    return store


def _table(store, out, methods=None):
    render_report(store.path, load_spec("paper"), out, overlay=False, methods=methods)
    return pd.read_csv(out / "table3.csv"), pd.read_csv(out / "fig3b.csv")


def test_a_registered_method_is_a_column_and_a_line_with_the_same_marks(store, tmp_path):
    table, fig = _table(store, tmp_path / "auto")
    movie = table[(table.Domain == "Movie") & (table.K == 16)].set_index("method")
    assert list(movie.index[:2]) == ["TALLRec", "GRU4Rec"] and "my-ranker" in movie.index
    want = store.query("SELECT avg(m.auc) * 100 AS a FROM metrics m JOIN trials t USING (trial_id) "
                       "WHERE t.method = 'my-ranker'").a[0]
    assert movie.loc["my-ranker", "mean"] == pytest.approx(want)          # x 100, as the others
    assert bool(movie.loc["my-ranker", "best"])                           # bold: the row's best
    # TALLRec is t-tested against it too: it does not beat the stronger my-ranker
    assert movie.loc["TALLRec", "mark"] != "‡" and movie.loc["TALLRec", "p_max"] > 0.5
    assert {"my-ranker", "my-zero"} <= set(fig.method)                     # zero-shot: a flat line


def test_methods_none_leaves_them_out_and_the_target_is_tested_against_the_paper_columns_only(store, tmp_path):
    table, fig = _table(store, tmp_path / "none", methods=[])
    assert "my-ranker" not in set(table.method) and "my-zero" not in set(fig.method)
    tallrec = table[(table.method == "TALLRec") & (table.Domain == "Movie") & (table.K == 16)].iloc[0]
    assert tallrec.mark == "‡"       # beats GRU4Rec; the stronger my-ranker is not in the row


def test_methods_names_one_and_an_unknown_name_is_one_line(store, tmp_path):
    _, fig = _table(store, tmp_path / "one", methods=["my-zero"])
    assert "my-zero" in set(fig.method) and "my-ranker" not in set(fig.method)
    got = subprocess.run([sys.executable, "-m", "harness.cli", "report", "--db", str(store.path), "--all",
                          "--methods", "nope", "--out", str(tmp_path / "x")], capture_output=True, text=True,
                         timeout=120)
    assert got.returncode == 2 and "no complete trial of 'nope'" in got.stderr and len(got.stderr.splitlines()) == 1
