"""The paper's six baselines and the reference methods are each one list: SQL macros and scripts agree."""
from pathlib import Path

import duckdb

from harness.core.methods import METHODS
from harness.report.paper_baselines import PAPER_BASELINES, REFERENCE_METHODS

REPO = Path(__file__).resolve().parents[3]
MACROS = REPO / "harness/report/queries/paper_macros.sql"


def _marked_by(macro: str) -> set[str]:
    """The method names (every registered one, plus the LLM methods) that a paper_macros.sql macro marks."""
    con = duckdb.connect()
    con.execute(MACROS.read_text())
    names = sorted(set(METHODS.names()) | {"icl", "tallrec"})
    return {m for m in names if con.execute(f"SELECT {macro}(?)", [m]).fetchone()[0]}


def test_every_paper_baseline_is_a_registered_method():
    assert set(PAPER_BASELINES) <= set(METHODS.names())
    assert len(set(PAPER_BASELINES)) == 6


def test_is_baseline_macro_marks_exactly_the_paper_baselines():
    assert _marked_by("is_baseline") == set(PAPER_BASELINES)


def test_is_reference_macro_marks_exactly_the_reference_methods():
    assert set(REFERENCE_METHODS) <= set(METHODS.names())
    assert not set(REFERENCE_METHODS) & set(PAPER_BASELINES)
    assert _marked_by("is_reference") == set(REFERENCE_METHODS)


def test_reading_script_and_demo_use_the_same_list():
    import importlib.util

    from harness.report import demo

    spec = importlib.util.spec_from_file_location("paper_reading", REPO / "scripts/paper_reading.py")
    reading = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(reading)
    assert demo.BASELINES is PAPER_BASELINES
    assert reading.BASELINES is PAPER_BASELINES
