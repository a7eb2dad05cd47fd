"""Running a report's SQL: one read-only connection to the store, the published numbers
registered as the table `paper_numbers`, the spec's setup SQL, then each section's query.

Every DuckDB error becomes a ReportError that names the section and quotes DuckDB's message.
`interruptible` runs a whole report so that a --timeout or Ctrl-C stops it within a second:
DuckDB keeps the calling thread inside C while a query runs (neither a signal handler nor a timer
reaches it), so the report runs in a worker thread and the main thread interrupts every
connection `scoped_connection` has open.
"""
from __future__ import annotations

import contextlib
import threading
from pathlib import Path

import duckdb
import pandas as pd

from harness.core.interrupt import TimedOut, run_interruptible
from harness.core.metrics import AUC, Metric
from harness.report.added import apply_added_methods
from harness.report.metric import apply_metric, user_column
from harness.report.scope import ReportScope, apply_scope
from harness.report.spec import ReportError, ReportSpec, one_line
from harness.run.health import scan
from harness.run.store import Store

PAPER_NUMBERS = Path(__file__).parent / "paper_numbers.csv"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def label_macros() -> str:
    """SQL for the macros domain_label(d) and mix_label(t): each registered dataset's label
    (harness.core.datasets), `both` = 'Movie + Book'; any other name is its own label, and a
    NULL train_mix is 'zero-shot'. Made from the registry so no report lists domains by hand."""
    from harness.core.datasets import BOTH, dataset_labels

    labels = dataset_labels()
    cases = " ".join(f"WHEN {_literal(name)} THEN {_literal(label)}" for name, label in labels.items()
                     if name != BOTH)
    both = f"WHEN {_literal(BOTH)} THEN {_literal(labels[BOTH])}"
    return (f"CREATE OR REPLACE TEMP MACRO domain_label(d) AS CASE d {cases} ELSE d END;\n"
            f"CREATE OR REPLACE TEMP MACRO mix_label(t) AS CASE t {cases} {both} "
            "ELSE coalesce(t, 'zero-shot') END;")


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
        checking: list = []

        def watch(con):   # the check reads every block: a big store takes a while
            checking.append(con)
            _track(con)
        try:   # a damaged store is refused, not half reported
            scan(store.path, store.wait_s, on_open=watch)
        finally:
            for con in checking:
                _track(con, False)
    # The reader's connection sees the store only (no files, no ATTACH): setup SQL included.
    with store.reader() as con:
        _track(con)
        try:
            apply_scope(con, scope)
            yield con
        finally:
            _track(con, False)


_OPEN: set = set()          # the connections of reports running in this process
_OPEN_LOCK = threading.Lock()


def _track(con, open_: bool = True) -> None:
    with _OPEN_LOCK:
        (_OPEN.add if open_ else _OPEN.discard)(con)


def _interrupt_all() -> None:
    with _OPEN_LOCK:
        for con in list(_OPEN):
            with contextlib.suppress(Exception):   # already closed: nothing to stop
                con.interrupt()


def interruptible(work, timeout_s: float | None = None, grace_s: float = 0.8):
    """`work()`'s result, run in a worker thread: at `timeout_s` (a ReportError) or on Ctrl-C
    (KeyboardInterrupt, re-raised) the running queries are interrupted and this returns within
    `grace_s`, even when the worker is still inside a step DuckDB cannot interrupt."""
    try:
        return run_interruptible(work, timeout_s, _interrupt_all, grace_s, name="report")
    except TimedOut:
        raise ReportError(f"the report ran past its {timeout_s:g} s --timeout and was stopped") from None


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
        con.execute(label_macros())
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
