"""Running a report's SQL: one read-only connection to the store, the published numbers
registered as the table `paper_numbers`, the spec's setup SQL, then each section's query.

Every DuckDB error becomes a ReportError that names the section and quotes DuckDB's message.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import duckdb
import pandas as pd

from harness.core.metrics import AUC, Metric
from harness.report.added import apply_added_methods
from harness.report.metric import apply_metric, user_column
from harness.report.scope import ReportScope, apply_scope
from harness.report.spec import ReportError, ReportSpec, one_line
from harness.run.health import scan
from harness.run.store import Store

PAPER_NUMBERS = Path(__file__).parent / "paper_numbers.csv"


def load_paper_numbers(path: Path = PAPER_NUMBERS) -> pd.DataFrame:
    """The paper's published numbers (see the file's header for the source)."""
    return pd.read_csv(path, comment="#", skipinitialspace=True)


@contextlib.contextmanager
def scoped_connection(db: str | Path, scope: ReportScope | None = None):
    """A read-only connection to a checked store in which `trials` and `results` are views over
    the scope's trials only (harness/report/scope.py). Reports and scripts that cite their
    numbers (scripts/paper_reading.py) read the same trials through it."""
    store = Store(db)
    if store.path.is_file():
        scan(store.path, store.wait_s)   # a damaged store is refused, not half reported
    # The reader's connection sees the store only (no files, no ATTACH): setup SQL included.
    with store.reader() as con:
        apply_scope(con, scope)
        yield con


@contextlib.contextmanager
def report_connection(db: str | Path, spec: ReportSpec, scope: ReportScope | None = None,
                      metric: Metric = AUC, methods: list[str] | None = None):
    """The scoped connection, `results` with the metric's columns (harness/report/metric.py),
    the macro `is_added_method` (harness/report/added.py: `methods`, None = auto), the
    published numbers and the spec's setup SQL."""
    with scoped_connection(db, scope) as con:
        apply_metric(con, metric)
        apply_added_methods(con, methods)
        con.register("paper_numbers", load_paper_numbers())
        for sql in spec.setup_sql():
            try:
                con.execute(sql)
            except duckdb.Error as exc:
                raise ReportError(f"report {spec.name!r} setup SQL failed: {one_line(exc)}") from None
        yield con


def run_sql(con, sql: str, where: str) -> pd.DataFrame:
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        raise ReportError(f"{where}: SQL error: {one_line(exc)}") from None


def check_columns(frame: pd.DataFrame, needed: list[str], where: str) -> None:
    missing = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing:
        raise ReportError(f"{where}: the query returns no column {', '.join(map(repr, missing))} "
                          f"(it returns {', '.join(map(str, frame.columns)) or 'no columns'})")


def load_predictions(con, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], pd.DataFrame]:
    """Stored per-sample predictions for (trial_id, eval_domain) pairs."""
    if not pairs:
        return {}
    wanted = pd.DataFrame(sorted(pairs), columns=["trial_id", "eval_domain"])
    con.register("_report_wanted", wanted)
    try:
        frame = con.execute(
            f"SELECT p.trial_id, p.eval_domain, p.sample_id, p.label, p.score, {user_column(con)} "
            "FROM predictions p JOIN _report_wanted w USING (trial_id, eval_domain)").df()
    finally:
        con.unregister("_report_wanted")
    return {key: group[["sample_id", "label", "score", "user_id"]]
            for key, group in frame.groupby(["trial_id", "eval_domain"], sort=False)}


def store_summary(con) -> dict:
    row = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'complete'), "
        "count(*) FILTER (WHERE status <> 'complete'), count(DISTINCT run_id), max(finished_at) "
        "FROM trials").fetchone()
    scope = con.execute("SELECT scope FROM temp.main._report_scope_text").fetchone()[0]
    return {"trials": row[0], "complete": row[1], "not_complete": row[2], "runs": row[3],
            "latest": row[4], "scope": scope}
