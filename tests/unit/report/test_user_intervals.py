"""Intervals that respect users, and the report's metric (`harness report --metric`).

Movie's test split repeats 16 users: the bootstrap must draw users, not samples, there. Expected
values are computed here with scikit-learn and plain numpy, not with the report's code."""
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from harness.core.errors import HarnessError
from harness.core.metrics import AUC, LOGLOSS, UAUC
from harness.report import load_spec, render_report
from harness.report.bootstrap import _weights, mean_auc_ci, paired_diff_ci, resample_unit
from harness.report.metric import for_metric
from harness.run.store import Store
from tests.store_rows import make_result

SPEC = """
name: metric-test
title: Metric test
setup: paper_macros.sql
sections:
  - id: table3
    title: "Table 3: {metric}"
    query: table3.sql
    view: table
    rows: [Domain, K]
    columns: method
    value: value
    note: note
    best: max
    significance: {target: TALLRec, alpha: 0.5}
    ci: {}
"""


def _clustered(users=8, per_user=40, seed=0):
    """Scores that know each user's like-rate and nothing within a user: a pooled AUC well above
    0.5 that rests on a handful of users."""
    rng = np.random.default_rng(seed)
    rate = rng.random(users)
    user = np.repeat(np.arange(users), per_user)
    labels = (rng.random(len(user)) < rate[user]).astype(int)
    labels[:2] = [0, 1]
    return pd.DataFrame({"sample_id": [f"movie:test:{i:05d}" for i in range(len(user))],
                         "label": labels, "score": rate[user] + rng.normal(0, 0.01, len(user)),
                         "user_id": [f"u{u}" for u in user]})


def test_auto_draws_users_only_where_a_split_repeats_them():
    frame = _clustered()
    assert resample_unit([frame]) == "users"
    assert resample_unit([frame.assign(user_id=[f"x{i}" for i in range(len(frame))])]) == "samples"
    assert resample_unit([frame.drop(columns="user_id")]) == "samples"
    assert resample_unit([frame], "samples") == "samples"
    with pytest.raises(HarnessError, match="harness store users"):
        resample_unit([frame.assign(user_id=None)], "users")


def test_a_user_level_draw_keeps_each_users_samples_together():
    frame = _clustered(users=5, per_user=6)
    w = _weights(frame, "users", 50, np.random.default_rng(1))
    for _, idx in frame.groupby("user_id").groups.items():
        assert (w[:, idx] == w[:, idx[:1]]).all()          # one count per user per resample
    assert (w.sum(axis=1) == len(frame)).all()              # 5 users of 6 samples drawn each time


def test_user_level_intervals_are_wider_when_the_score_rests_on_few_users():
    frame = _clustered()
    lo_s, hi_s = mean_auc_ci([frame], unit="samples")
    lo_u, hi_u = mean_auc_ci([frame], unit="users")
    point = roc_auc_score(frame.label, frame.score)
    assert lo_u <= point <= hi_u and lo_s <= point <= hi_s
    assert hi_u - lo_u > 2 * (hi_s - lo_s)


def test_paired_lift_resamples_users_for_both_sides():
    a = _clustered()
    b = a.assign(score=np.random.default_rng(5).random(len(a)))          # random scores, same test set
    lo, hi = paired_diff_ci([a], [b], unit="users", metric=UAUC)
    assert np.isfinite(lo) and lo <= hi


def _result(shift, **kw):
    """make_result's rows with scores divided by 1 + shift: in [0, 1] (probabilities, for log
    loss), same order (same AUCs)."""
    r = make_result(shift=shift, **kw)
    for frame in r.predictions.values():
        frame["score"] = frame["score"] / (1 + shift)
    return r


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "r.duckdb")
    run = store.begin_run("metric-test")
    for seed in range(3):
        for method, variant, shift in (("tallrec", "full", 0.6), ("gru4rec", None, 0.1)):
            # Movie: 5 users in turn (users repeat); Book: one user per sample
            store.write_result(_result(shift, method=method, variant=variant, train_mix="movie", k=16,
                                       seed=seed, domains=("movie",), users=5), run)
            store.write_result(_result(shift, method=method, variant=variant, train_mix="book", k=16,
                                       seed=seed, domains=("book",), users=50), run)
    store.end_run(run)
    return store


def _render(store, tmp_path, metric, ci=True):
    (tmp_path / "spec.yaml").write_text(SPEC)
    out = tmp_path / metric
    res = render_report(store.path, load_spec(str(tmp_path / "spec.yaml")), out, ci=ci,
                        ci_resamples=200, metric=metric)
    return res, pd.read_csv(out / "table3.csv")


def test_uauc_table_counts_users_and_leaves_undefined_cells_empty_with_the_reason(store, tmp_path):
    res, table = _render(store, tmp_path, "uauc")
    assert res.sections[0].section.title == "Table 3: UAUC x 100"
    preds = store.query("SELECT t.method, t.seed, p.label, p.score, p.user_id FROM predictions p "
                        "JOIN trials t USING (trial_id) WHERE p.eval_domain = 'movie'")
    want = [np.mean([roc_auc_score(u.label, u.score) for _, u in g.groupby("user_id") if u.label.nunique() == 2])
            for _, g in preds[preds.method == "tallrec"].groupby("seed")]
    movie = table[(table.Domain == "Movie") & (table.method == "TALLRec")].iloc[0]
    assert movie["mean"] == pytest.approx(100 * np.mean(want))
    assert movie.ci_unit == "users" and movie.note.endswith("of 5 users have both labels")
    book = table[table.Domain == "Book"]
    assert (book.n == 0).all() and book["mean"].isna().all()
    assert set(book.note) == {"no user has both labels"}
    page = res.html.read_text()
    assert "resampling users" in page and "UAUC x 100" in page
    assert "Movie 5 of 5 users have both labels" in page                    # how many users count
    assert "Book no user has both labels" in page


def test_auc_intervals_draw_users_on_movie_and_samples_on_book(store, tmp_path):
    res, table = _render(store, tmp_path, "auc")
    assert res.sections[0].section.title == "Table 3: AUC x 100"
    assert set(table[table.Domain == "Movie"].ci_unit) == {"users"}
    assert set(table[table.Domain == "Book"].ci_unit) == {"samples"}
    tallrec = table[(table.Domain == "Movie") & (table.method == "TALLRec")].iloc[0]
    assert tallrec.ci_lo < tallrec["mean"] < tallrec.ci_hi and tallrec.ci_hi < 100   # the x 100 scale
    assert "test samples elsewhere" in res.html.read_text()


def test_a_lower_is_better_metric_flips_best_and_the_test(store, tmp_path):
    spec = load_spec("paper")
    table3 = for_metric(spec.sections[0], LOGLOSS)
    assert table3.best == "min" and table3.significance.alternative == "less"
    assert table3.title == "Table 3: few-shot log loss of TALLRec and the baselines"
    assert table3.overlay is None and table3.ci.scale == 1                # published numbers are AUC
    assert for_metric(spec.sections[0], AUC).overlay is not None
    _, table = _render(store, tmp_path, "logloss", ci=False)
    row = table[table.Domain == "Movie"].set_index("method")
    assert bool(row.loc[row["mean"].idxmin(), "best"]) and not bool(row.loc[row["mean"].idxmax(), "best"])


def test_cli_unknown_metric_names_the_registered_ones(store, tmp_path):
    got = subprocess.run([sys.executable, "-m", "harness.cli", "report", "--db", str(store.path),
                          "--metric", "gauc", "--out", str(tmp_path / "o")], capture_output=True, text=True,
                         timeout=120)
    assert got.returncode == 2 and got.stderr.strip() == "error: unknown metric 'gauc'; registered: auc, logloss, uauc"
    assert not (tmp_path / "o").exists()


def test_a_section_whose_intervals_are_off_its_scale_is_refused_in_one_line(store, tmp_path):
    """AUC x 100 beside intervals on 0-1 (a spec without ci.scale) used to print silently."""
    from harness.report import ReportError

    spec = SPEC.replace('title: "Table 3: {metric}"', "title: My own AUC table").replace(
        "query: table3.sql", "sql: \"SELECT domain_label(eval_domain) AS \\\"Domain\\\", k AS \\\"K\\\", "
        "method_label(method, variant) AS method, auc * 100 AS value, '' AS note, trial_id, eval_domain "
        "FROM results\"")
    (tmp_path / "own.yaml").write_text(spec)
    with pytest.raises(ReportError, match=r"on different scales; set `ci: \{scale: 100\}`"):
        render_report(store.path, load_spec(str(tmp_path / "own.yaml")), tmp_path / "o", ci=True, ci_resamples=100)
    fixed = spec.replace("ci: {}", "ci: {scale: 100}")
    (tmp_path / "own.yaml").write_text(fixed)
    render_report(store.path, load_spec(str(tmp_path / "own.yaml")), tmp_path / "o", ci=True, ci_resamples=100)


def test_a_store_from_before_user_ids_reports_with_sample_intervals_and_says_why_uauc_is_empty(tmp_path):
    """A schema-1 store opened read-only (a report never migrates): no user_id column at all."""
    import duckdb

    path = tmp_path / "old.duckdb"
    store = Store(path)
    for seed in range(2):
        store.write_result(_result(0.5, method="tallrec", variant="full", train_mix="movie", k=16, seed=seed,
                                   domains=("movie",), users=5))
    con = duckdb.connect(str(path))
    con.execute("DROP VIEW results")
    con.execute("ALTER TABLE predictions DROP COLUMN user_id")
    con.execute("UPDATE schema_version SET version = 1")
    con.close()
    _, table = _render(Store(path), tmp_path, "uauc")
    assert set(table[table.n == 0].note) >= {"no user ids stored (add them with `harness store users`)"}
    _, table = _render(Store(path), tmp_path, "auc")
    assert set(table[table.n > 0].ci_unit) == {"samples"}
