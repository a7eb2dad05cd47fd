"""Reports name domains from the dataset registry, not from a list in SQL."""
import duckdb

from harness.core.datasets import DATASETS
from harness.report.sql import label_macros


def _labels(con, macro: str, names):
    return [con.execute(f"SELECT {macro}(?)", [n]).fetchone()[0] for n in names]


def test_domain_and_mix_labels_come_from_the_registry():
    con = duckdb.connect()
    con.execute(label_macros())
    assert _labels(con, "domain_label", ["movie", "book", "movie-users", "ml1m"]) == [
        "Movie", "Book", "Movie (user split)", "ml1m"]                  # a declared dataset: its name
    assert _labels(con, "mix_label", ["both", "book", None]) == ["Movie + Book", "Book", "zero-shot"]


def test_a_registered_plugin_dataset_gets_its_label(monkeypatch):
    class Plugin:
        class INFO:
            label = "Kids' Books (Amazon 2018)"

    monkeypatch.setitem(DATASETS._targets, "beauty", "tests.unit.report.test_dataset_labels:PLUGIN")
    monkeypatch.setitem(globals(), "PLUGIN", Plugin)
    monkeypatch.delitem(DATASETS._loaded, "beauty", raising=False)
    con = duckdb.connect()
    con.execute(label_macros())
    assert _labels(con, "domain_label", ["beauty"]) == ["Kids' Books (Amazon 2018)"]
    DATASETS._loaded.pop("beauty", None)
