"""The `paper` report over a store with known rows: numbers, marks, files, errors.

The store is written through the Store API: six baselines and TALLRec at some (domain, K)
cells only (the rest are missing cells), failed trials, AT / RT, a cross-domain mix. Expected
values come from SQL written here against the base tables (not the report's queries or
macros) and from scipy directly.
"""
import math
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.core.errors import HarnessError
from harness.report import ReportError, load_spec, render_report
from harness.run.store import Store
from tests.store_rows import make_result

BASELINES = {"gru4rec": "GRU4Rec", "caser": "Caser", "sasrec": "SASRec", "dros": "DROS",
             "gru-bert": "GRU-BERT", "dros-bert": "DROS-BERT"}
LABEL = {**BASELINES, "tallrec": "TALLRec"}
DOMAIN = {"movie": "Movie", "book": "Book"}
N = 100   # test samples per domain


def _write_store(path):
    store = Store(path)
    run_id = store.begin_run("report-test")
    w = lambda **kw: store.write_result(make_result(n=N, **kw), run_id)   # noqa: E731
    for seed in range(3):
        for method in BASELINES:
            w(method=method, train_mix="movie", k=16, seed=seed, domains=("movie",))
            w(method=method, train_mix="book", k=16, seed=seed, domains=("book",))
        # TALLRec: clearly better on Movie K=16 and Book K=16; no baselines at Movie K=64.
        w(method="tallrec", variant="full", train_mix="movie", k=16, seed=seed, shift=0.7, domains=("movie",))
        w(method="tallrec", variant="full", train_mix="movie", k=64, seed=seed, shift=0.5, domains=("movie",))
        w(method="tallrec", variant="full", train_mix="book", k=16, seed=seed, shift=0.7, domains=("book",))
        w(method="tallrec", variant="RT", train_mix="movie", k=16, seed=seed, shift=0.4, domains=("movie",))
        w(method="tallrec", variant="full", train_mix="both", k=16, seed=seed, shift=0.5)
    # Baselines at Movie K=64 with only one seed: TALLRec cannot be tested against them.
    w(method="gru4rec", train_mix="movie", k=64, seed=0, domains=("movie",))
    # Zero-shot AT (train_mix NULL, K = 0).
    w(method="tallrec", variant="AT", train_mix=None, k=0, seed=0, shift=0.2)
    # Failed trials: one in a filled cell (must not count), one whose cell stays empty.
    w(method="caser", train_mix="movie", k=16, seed=7, status="failed",
      error="Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: boom in caser")
    w(method="tallrec", variant="full", train_mix="book", k=256, seed=0, status="failed",
      error="RuntimeError: CUDA out of memory")
    store.end_run(run_id)
    return store


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return _write_store(tmp_path_factory.mktemp("report") / "r.duckdb")


@pytest.fixture(scope="module")
def paper(store, tmp_path_factory):
    out = tmp_path_factory.mktemp("paper-out")
    result = render_report(store.path, load_spec("paper"), out, ci=True, ci_resamples=200)
    return result, out


def _expected_table3(store) -> pd.DataFrame:
    """Table 3 recomputed from the base tables (trials JOIN metrics), not the report's SQL."""
    frame = store.query("""
        SELECT m.eval_domain, t.k, t.method, avg(m.auc) * 100 AS mean, stddev_samp(m.auc) * 100 AS std,
               count(*) AS n, list(m.auc * 100) AS values
        FROM trials t JOIN metrics m ON m.trial_id = t.trial_id
        WHERE t.status = 'complete' AND m.split = 'test' AND t.train_mix = m.eval_domain
          AND t.k IN (16, 64, 256)
          AND (t.method IN ('gru4rec', 'caser', 'sasrec', 'dros', 'gru-bert', 'dros-bert')
               OR (t.method = 'tallrec' AND t.variant = 'full'))
        GROUP BY ALL""")
    frame["Domain"] = frame.eval_domain.map(DOMAIN)
    frame["label"] = frame.method.map(LABEL)
    return frame


def test_table3_numbers_equal_an_independent_sql_aggregate(store, paper):
    result, out = paper
    got = pd.read_csv(out / "table3.csv")
    expected = _expected_table3(store)
    assert len(expected) == 6 * 2 + 1 + 3          # baselines x 2 cells, GRU4Rec K=64, TALLRec x 3
    for row in expected.itertuples():
        cell = got[(got.Domain == row.Domain) & (got.K == row.k) & (got.method == row.label)]
        assert len(cell) == 1, (row.Domain, row.k, row.label)
        cell = cell.iloc[0]
        assert cell.n == row.n
        assert cell["mean"] == pytest.approx(row.mean, abs=1e-9)
        if row.n > 1:
            assert cell["std"] == pytest.approx(row.std, abs=1e-9)
        else:
            assert math.isnan(cell["std"])
    # The failed Caser trial is not a replicate.
    caser = got[(got.Domain == "Movie") & (got.K == 16) & (got.method == "Caser")].iloc[0]
    assert caser.n == 3


def test_table3_shows_every_declared_cell_and_leaves_missing_ones_empty(paper):
    result, out = paper
    got = pd.read_csv(out / "table3.csv")
    assert len(got) == 2 * 3 * 7                    # Domain x K x method, all declared
    assert list(got.method.unique()) == ["TALLRec", "GRU4Rec", "Caser", "SASRec", "DROS", "GRU-BERT", "DROS-BERT"]
    missing = got[(got.Domain == "Book") & (got.K == 256)]
    assert (missing.n == 0).all() and missing["mean"].isna().all()
    md = (out / "report.md").read_text()
    book256 = next(line for line in md.splitlines() if line.startswith("| Book | 256 |"))
    cells = [c.strip() for c in book256.strip("|").split("|")][2:]
    # Nothing ran there: only the published numbers (Table 3, baselines included).
    assert cells == ["paper 64.38", "paper 49.86", "paper 49.57", "paper 50.20", "paper 49.13",
                     "paper 49.79", "paper 50.20"]


def test_best_and_significance_marks_follow_scipy(store, paper):
    from scipy import stats

    result, out = paper
    got = pd.read_csv(out / "table3.csv")
    expected = _expected_table3(store)
    marks = 0
    for (domain, k), rows in expected.groupby(["Domain", "k"]):
        table_rows = got[(got.Domain == domain) & (got.K == k)]
        best = table_rows[table_rows["mean"] == table_rows["mean"].max()].method.tolist()
        assert table_rows[table_rows.best].method.tolist() == best
        mine = rows[rows.label == "TALLRec"]
        others = rows[rows.label != "TALLRec"]
        want = ""
        if len(mine) and mine.n.iloc[0] >= 2 and len(others) and (others.n >= 2).all():
            p = [stats.ttest_ind(mine["values"].iloc[0], o, equal_var=False, alternative="greater").pvalue
                 for o in others["values"]]
            want = "‡" if max(p) < 0.01 else ""
        tall = table_rows[table_rows.method == "TALLRec"].iloc[0]
        assert (tall.mark if isinstance(tall.mark, str) else "") == want, (domain, k)
        marks += want == "‡"
    assert marks >= 1                               # the fixture has a clear win...
    movie64 = got[(got.Domain == "Movie") & (got.K == 64) & (got.method == "TALLRec")].iloc[0]
    assert not isinstance(movie64.mark, str)        # ...and a row where one seed forbids a test
    md = (out / "report.md").read_text()
    assert re.search(r"\*\*\d+\.\d\d\*\* ± \d+\.\d\d‡", md)   # the usual n (3) is not repeated per cell


def test_published_numbers_overlay_and_confidence_intervals(paper):
    result, out = paper
    got = pd.read_csv(out / "table3.csv")
    tall = got[(got.Domain == "Movie") & (got.K == 16) & (got.method == "TALLRec")].iloc[0]
    assert tall.paper == pytest.approx(67.24)
    assert tall.gap == pytest.approx(tall["mean"] - 67.24)
    filled = got[got.n > 0]
    assert filled.ci_lo.notna().all() and filled.ci_hi.notna().all()
    assert (filled.ci_lo < filled.ci_hi).all()      # no AUC of 1.0 in the fixture
    assert ((filled.ci_lo <= filled["mean"] + 5) & (filled["mean"] - 5 <= filled.ci_hi)).all()
    assert got[got.n == 0].ci_lo.isna().all()
    assert "bootstrap 95% interval" in (out / "report.html").read_text()


def test_every_figure_exists_and_is_a_valid_image(paper):
    result, out = paper
    spec = load_spec("paper")
    figures = [s.key for s in spec.sections if s.view != "table"]
    assert sorted(p.name for p in result.figures) == sorted(f"{k}.png" for k in figures)
    for key in figures:
        path = out / f"{key}.png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(path) as img:
            img.verify()
        with Image.open(path) as img:
            assert img.width > 400 and img.height > 250
    for section in spec.sections:                   # one CSV per section
        assert (out / f"{section.key}.csv").is_file()
    md = (out / "report.md").read_text()
    for key in figures:
        assert f"]({key}.png)" in md                # Markdown with the PNGs beside it


def test_html_is_self_contained(paper):
    result, out = paper
    text = (out / "report.html").read_text()
    assert text.count("src='data:image/png;base64,") == len(result.figures)
    assert not re.search(r"""(src|href)=['"]?(https?:|//|[^'"#d])""", text)
    assert "<link" not in text and "<script" not in text
    assert "Table 3" in text and "Figure 3(b)" in text and "Figure 4" in text


def test_run_summary(paper):
    result, out = paper
    status = pd.read_csv(out / "status.csv")
    total = status[status.method == "all methods"].iloc[0]
    assert total.failed == 2 and total.total == total.complete + 2
    failures = pd.read_csv(out / "failures.csv")
    assert sorted(failures.error) == ["RuntimeError: CUDA out of memory", "ValueError: boom in caser"]
    hours = pd.read_csv(out / "hours.csv")
    assert hours.trials.sum() == total.total
    assert set(hours.device) == {"CPU"}


def test_no_overlay_and_empty_store(tmp_path):
    store = Store(tmp_path / "empty.duckdb")
    store.init()
    result = render_report(store.path, load_spec("paper"), tmp_path / "out", overlay=False)
    got = pd.read_csv(tmp_path / "out" / "table3.csv")
    assert len(got) == 42 and (got.n == 0).all() and "paper" not in got.columns
    for path in result.figures:                    # "no data yet" panels, still images
        with Image.open(path) as img:
            img.verify()
    assert "No failed trials." in (tmp_path / "out" / "report.md").read_text()


USER_SPEC = """
name: mine
title: My report
sections:
  - title: AUC by K
    view: line
    sql: SELECT k, eval_domain, method, avg(auc) AS auc FROM results WHERE k > 0 GROUP BY ALL
    x: k
    y: auc
    series: method
    facet: eval_domain
    logx: 2
    xlabel: K (samples)
    ylabel: AUC
    order: {eval_domain: [movie, book, nowhere]}
  - title: Trials per method
    view: bar
    query: mine.sql
    x: method
    y: n
    ylabel: trials (count)
  - title: Seeds heatmap
    view: heatmap
    sql: SELECT method, eval_domain, count(*) AS n FROM results GROUP BY ALL
    x: eval_domain
    y: method
    value: n
  - title: Raw rows
    view: table
    sql: SELECT method, k, auc FROM results ORDER BY ALL LIMIT 5
"""


def test_user_spec_with_every_view(store, tmp_path):
    (tmp_path / "mine.sql").write_text("SELECT method, count(*) AS n FROM trials GROUP BY ALL")
    (tmp_path / "mine.yaml").write_text(USER_SPEC)
    result = render_report(store.path, load_spec(str(tmp_path / "mine.yaml")), tmp_path / "out")
    assert len(result.figures) == 3
    for path in result.figures:
        with Image.open(path) as img:
            img.verify()
    assert (tmp_path / "out" / "raw-rows.csv").is_file()


def _broken(tmp_path, section: str):
    (tmp_path / "broken.yaml").write_text(f"name: broken\ntitle: Broken\nsections:\n{section}")
    return load_spec(str(tmp_path / "broken.yaml"))


def test_broken_query_names_the_section_and_shows_duckdbs_message(store, tmp_path):
    spec = _broken(tmp_path, "  - {title: My AUC figure, view: table, sql: 'SELEC auc FROM results'}\n")
    with pytest.raises(ReportError) as err:
        render_report(store.path, spec, tmp_path / "out")
    message = str(err.value)
    assert isinstance(err.value, HarnessError)
    assert "'my-auc-figure' (My AUC figure)" in message and "Parser Error" in message
    assert "\n" not in message

    spec = _broken(tmp_path, "  - {id: f1, title: Fig, view: table, sql: 'SELECT * FROM no_such_table'}\n")
    with pytest.raises(ReportError, match=r"section 'f1' \(Fig\): SQL error: Catalog Error.*no_such_table"):
        render_report(store.path, spec, tmp_path / "out")


def test_missing_column_names_the_section(store, tmp_path):
    spec = _broken(tmp_path, "  - {title: Lines, view: line, sql: 'SELECT k, auc FROM results', x: k, y: wrong}\n")
    with pytest.raises(ReportError, match=r"section 'lines' \(Lines\): the query returns no column 'wrong' "
                                          r"\(it returns k, auc\)"):
        render_report(store.path, spec, tmp_path / "out")


def test_cli_report_and_broken_query(store, tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "harness.cli", "report", *a],  # noqa: E731
                                    capture_output=True, text=True, timeout=120)
    ok = run("--db", str(store.path), "--out", str(tmp_path / "cli"), "--no-overlay")
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "cli" / "report.html").is_file() and (tmp_path / "cli" / "fig3b.png").is_file()
    _broken(tmp_path, "  - {title: Bad one, view: table, sql: 'SELECT nope FROM results'}\n")
    bad = run("--db", str(store.path), "--spec", str(tmp_path / "broken.yaml"), "--out", str(tmp_path / "b"))
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: section 'bad-one' (Bad one): SQL error: Binder Error")
    assert "Traceback" not in bad.stderr
    listed = run("--list")
    assert listed.stdout.split() == ["paper", "search"]


def test_a_user_spec_can_extend_paper_with_one_query(store, tmp_path):
    (tmp_path / "more.yaml").write_text("""
name: more
title: Paper plus one
extends: paper
sections:
  - id: rt
    title: RT against K
    view: line
    sql: >-
      SELECT k, domain_label(eval_domain) AS domain, method_label(method, variant) AS method,
             avg(auc) * 100 AS auc FROM results WHERE variant = 'RT' GROUP BY ALL
    x: k
    y: auc
    series: method
    facet: domain
    logx: 2
""")
    spec = load_spec(str(tmp_path / "more.yaml"))
    keys = [s.key for s in spec.sections]
    assert keys[:3] == ["table3", "fig3b", "fig4"] and keys[-1] == "rt"
    assert spec.styles["TALLRec"].color == "#D55E00"
    result = render_report(store.path, spec, tmp_path / "out", overlay=False)
    assert (tmp_path / "out" / "rt.png").is_file() and (tmp_path / "out" / "table3.csv").is_file()


def test_reference_points_beside_table3(tmp_path):
    """The references section: zero-shot references as K = 0 rows, K-trained ones per K, in the
    domain tested only; mean and sd over seeds, as an independent aggregate gives them."""
    store = Store(tmp_path / "refs.duckdb")
    run_id = store.begin_run("refs")
    results = [make_result(method="history-like-rate", train_mix=None, k=0, seed=s, shift=0.6, n=N)
               for s in range(2)]
    results += [make_result(method="item-popularity", train_mix="movie", k=64, seed=s, n=N) for s in range(3)]
    results.append(make_result(method="gru4rec", train_mix="movie", k=64, seed=0, n=N))   # not a reference
    for r in results:
        store.write_result(r, run_id)
    store.end_run(run_id)
    render_report(store.path, load_spec("paper"), tmp_path / "out", overlay=False)
    got = pd.read_csv(tmp_path / "out" / "references.csv")
    assert sorted(zip(got.Domain, got.method, got.K)) == [
        ("Book", "History like-rate", 0), ("Movie", "History like-rate", 0), ("Movie", "Item popularity", 64)]
    like = [r.auc("movie") * 100 for r in results[:2]]
    row = got[(got.Domain == "Movie") & (got.method == "History like-rate")].iloc[0]
    assert row.value == pytest.approx(np.mean(like)) and row.value_sd == pytest.approx(np.std(like, ddof=1))
    assert row.seeds == 2
