"""The report header claims only what the spec shows: a metric, intervals, published numbers."""
from __future__ import annotations

import datetime as dt

from harness.core.metrics import AUC
from harness.report.cells import meta_items
from harness.report.render import _header_flags
from harness.report.specs import load_spec


def _items(spec_name: str) -> str:
    meta = {"db": "x.duckdb", "spec": spec_name, "generated": dt.datetime(2026, 12, 7, tzinfo=dt.timezone.utc),
            "ci": False, "ci_resamples": 1000, "ci_unit": "auto", "overlay": True, "metric": AUC,
            "trials": 1, "complete": 1, "not_complete": 0, "runs": 1, "latest": None,
            **_header_flags(load_spec(spec_name))}
    return " · ".join(meta_items(meta))


def test_the_paper_report_names_its_metric_intervals_and_published_numbers():
    header = _items("paper")
    assert "metric: AUC x 100" in header and "bootstrap CIs: off" in header and "published numbers: shown" in header


def test_the_search_report_claims_no_test_metric_interval_or_published_number():
    header = _items("search")
    assert "spec: search" in header
    assert "metric:" not in header and "bootstrap" not in header and "published" not in header
