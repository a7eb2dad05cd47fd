"""Report specs (parsing, registry, errors) and the bootstrap, without a store."""
import numpy as np
import pandas as pd
import pytest

from harness.core.registry import UnknownName
from harness.report import REPORT_SPECS, ReportError, load_spec, parse_spec
from harness.report.bootstrap import mean_auc_ci, resample_weights, weighted_auc
from harness.report.sql import load_paper_numbers


def test_paper_spec_is_registered_and_valid():
    assert "paper" in REPORT_SPECS.names()
    spec = load_spec("paper")
    assert [s.key for s in spec.sections][:3] == ["table3", "fig3b", "fig4"]
    assert {s.view for s in spec.sections} == {"table", "line", "bar", "heatmap"}
    for section in spec.sections:                  # every query file resolves
        assert spec.resolve_sql(section, section.key).strip()
    assert spec.setup_sql()


def test_unknown_spec_name_lists_registered_ones():
    with pytest.raises(UnknownName, match="unknown report spec 'nope'; registered: paper"):
        load_spec("nope")
    with pytest.raises(ReportError, match="not found"):
        load_spec("does/not/exist.yaml")


@pytest.mark.parametrize("section, message", [
    ({"title": "A", "view": "pie", "sql": "SELECT 1"}, "section 1 ('A') has view 'pie'"),
    ({"title": "A", "view": "table"}, "exactly one of `sql`"),
    ({"title": "A", "view": "table", "sql": "SELECT 1", "query": "x.sql"}, "exactly one of `sql`"),
    ({"title": "A", "view": "line", "sql": "SELECT 1", "x": "k"}, "section 1 ('A') field y: Field required"),
    ({"title": "A", "view": "line", "sql": "SELECT 1", "x": "k", "y": "a", "colour": "red"},
     "field colour: Extra inputs are not permitted"),
    ({"title": "A", "view": "table", "sql": "SELECT 1", "rows": ["k"]}, "needs all of `rows`, `columns` and `value`"),
    ({"title": "A", "view": "bar", "sql": "SELECT 1", "x": "a", "y": "b", "overlay": {"sql": "SELECT 1"}},
     "supported on `table` and `line`"),
])
def test_invalid_sections_are_named(section, message):
    with pytest.raises(ReportError) as err:
        parse_spec({"name": "t", "title": "T", "sections": [section]})
    assert message in str(err.value)


def test_duplicate_section_ids_are_rejected():
    sec = {"title": "Same", "view": "table", "sql": "SELECT 1"}
    with pytest.raises(ReportError, match="share the id 'same'"):
        parse_spec({"name": "t", "title": "T", "sections": [sec, sec]})


def test_missing_query_file_is_named(tmp_path):
    spec = parse_spec({"name": "t", "title": "T", "sections": [{"title": "A", "view": "table", "query": "gone.sql"}]},
                      base_dir=tmp_path)
    with pytest.raises(ReportError, match="query file 'gone.sql' not found"):
        spec.resolve_sql(spec.sections[0], "section 'a'")


def test_paper_numbers_file_has_its_source_and_table3_tallrec():
    text = (__import__("harness.report.sql", fromlist=["PAPER_NUMBERS"]).PAPER_NUMBERS).read_text()
    assert "arXiv:2305.00447" in text and "Table 3" in text
    numbers = load_paper_numbers()
    tall = numbers[(numbers.method == "tallrec") & (numbers.variant == "full")]
    got = {(r.eval_domain, r.k): r.auc_x100 for r in tall.itertuples()}
    assert got == {("movie", 16): 67.24, ("movie", 64): 67.48, ("movie", 256): 71.98,
                   ("book", 16): 56.36, ("book", 64): 60.39, ("book", 256): 64.38}


def test_weighted_auc_equals_sklearn_on_resampled_data():
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 80)
    scores = np.round(rng.random(80) + 0.3 * labels, 1)     # many ties
    weights = resample_weights(80, 25, rng)
    got = weighted_auc(labels, scores, weights)
    for b in range(25):
        idx = np.repeat(np.arange(80), weights[b])
        assert got[b] == pytest.approx(roc_auc_score(labels[idx], scores[idx]))
    assert weighted_auc(labels, scores, np.ones((1, 80)))[0] == pytest.approx(roc_auc_score(labels, scores))
    assert np.isnan(weighted_auc(np.zeros(5), np.arange(5.0), np.ones((1, 5)))[0])


def test_mean_auc_ci_is_deterministic_and_brackets_the_estimate():
    rng = np.random.default_rng(0)
    frames = []
    for shift in (0.5, 0.7):
        labels = np.arange(400) % 2
        frames.append(pd.DataFrame({"sample_id": [f"s{i:04d}" for i in range(400)], "label": labels,
                                    "score": rng.normal(size=400) + shift * labels}))
    lo, hi = mean_auc_ci(frames, resamples=300)
    assert (lo, hi) == mean_auc_ci(frames, resamples=300)
    from sklearn.metrics import roc_auc_score
    point = np.mean([roc_auc_score(f.label, f.score) for f in frames])
    assert lo < point < hi and hi - lo < 0.15
    assert all(np.isnan(mean_auc_ci([], resamples=100)))
