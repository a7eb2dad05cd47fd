"""SQL-driven reports: every table and figure is a SQL query over the results store plus a
view (table, line, bar, heatmap) declared in a YAML report spec. See docs/reports.md."""
from harness.report.spec import ReportError, ReportSpec, parse_spec
from harness.report.specs import REPORT_SPECS, load_spec, register_spec, spec_names


def render_report(*args, **kwargs):
    """See harness.report.render.render_report (imported lazily: it pulls in pandas/matplotlib)."""
    from harness.report.render import render_report as _render

    return _render(*args, **kwargs)


__all__ = ["REPORT_SPECS", "ReportError", "ReportSpec", "load_spec", "parse_spec", "register_spec",
           "render_report", "spec_names"]
