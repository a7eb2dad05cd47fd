"""Render a report spec over a store into `out/`: report.html (self-contained: CSS inline,
figures embedded as PNG data), report.md with the PNGs beside it, and one CSV per section."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.report import sql as qdata
from harness.core.metrics import AUC, Metric, get_metric
from harness.report.bootstrap import DEFAULT_RESAMPLES, mean_auc_ci, paired_diff_ci, resample_unit
from harness.report.metric import for_metric, is_metric_section
from harness.report.spec import (BarSection, HeatmapSection, LineSection, ReportError, ReportSpec,
                                 TableSection)
from harness.report.html import html_page
from harness.report.scope import ReportScope, check_pooling
from harness.report.markdown import markdown_page
from harness.report.tables import PivotTable, build_pivot, check_ci_scale


@dataclass
class SectionResult:
    section: object
    sql: str
    frame: pd.DataFrame
    overlay_sql: str | None = None
    overlay: pd.DataFrame | None = None
    pivot: PivotTable | None = None
    png: Path | None = None
    png_width_px: int | None = None
    csv: Path | None = None
    overlay_csv: Path | None = None
    extra_files: list[Path] = field(default_factory=list)   # the figure as SVG and PDF; table .tex


@dataclass
class ReportOutput:
    html: Path
    markdown: Path
    figures: list[Path] = field(default_factory=list)
    csvs: list[Path] = field(default_factory=list)
    sections: list[SectionResult] = field(default_factory=list)


def where(section) -> str:
    return f"section {section.key!r} ({section.title})"


@dataclass(frozen=True)
class Bootstrap:
    """`--ci`: how many resamples, and what they draw (bootstrap.UNITS)."""
    resamples: int = DEFAULT_RESAMPLES
    unit: str = "auto"


def render_report(db: str | Path, spec: ReportSpec, out_dir: str | Path, ci: bool = False,
                  ci_resamples: int = DEFAULT_RESAMPLES, overlay: bool = True,
                  scope: ReportScope | None = None, metric: str = "auc",
                  ci_unit: str = "auto", methods: list[str] | None = None,
                  vector: bool = False) -> ReportOutput:
    """`metric`: a name in harness.core.metrics.METRICS (an unknown one is a one-line error
    listing the registered ones), shown by every section whose title holds {metric}.
    `methods`: the methods beside the paper's in Table 3 and Figure 3(b) (None: every one the
    paper report does not place; harness/report/added.py). `vector`: every figure also as SVG
    and PDF (`harness report` does; off by default here, it triples a figure's writing time)."""
    chosen = get_metric(metric)
    resample_unit([], ci_unit)                 # an unknown unit fails before any SQL runs
    boot = Bootstrap(ci_resamples, ci_unit)
    out = Path(out_dir)
    results: list[SectionResult] = []
    with qdata.report_connection(db, spec, scope, chosen, methods) as con:
        summary = qdata.store_summary(con)
        for section in spec.sections:
            results.append(_run_section(con, spec, section, ci, boot, overlay, chosen))
    out.mkdir(parents=True, exist_ok=True)
    output = ReportOutput(html=out / "report.html", markdown=out / "report.md", sections=results)
    meta = {"db": str(db), "spec": spec.name, "generated": dt.datetime.now(dt.timezone.utc),
            "ci": ci, "ci_resamples": ci_resamples, "ci_unit": ci_unit, "overlay": overlay,
            "metric": chosen, **summary, **_header_flags(spec)}
    _write_files(spec, results, out, output, meta, vector)
    output.html.write_text(html_page(spec, results, meta), encoding="utf-8")
    output.markdown.write_text(markdown_page(spec, results, meta), encoding="utf-8")
    return output


def _header_flags(spec: ReportSpec) -> dict:
    """Which of the header's items apply to this spec: a report with no section that shows the
    chosen metric, an interval or a published number (the `search` report) does not claim one."""
    return {"shows_metric": any(is_metric_section(s) for s in spec.sections),
            "has_ci": any(getattr(s, "ci", None) for s in spec.sections),
            "has_overlay": any(getattr(s, "overlay", None) for s in spec.sections)}


def _run_section(con, spec: ReportSpec, section, ci: bool, boot: Bootstrap, overlay: bool,
                 metric: Metric) -> SectionResult:
    scored = metric if is_metric_section(section) else AUC   # what the bootstrap resamples
    section = for_metric(section, metric)
    w = where(section)
    sql = spec.resolve_sql(section, w)
    frame = qdata.run_sql(con, sql, w)
    qdata.check_columns(frame, section.columns_used(), w)
    check_pooling(con, frame, _group_keys(section), w)
    res = SectionResult(section=section, sql=sql, frame=frame)
    if overlay and section.overlay is not None:
        res.overlay_sql = spec.resolve_sql(section.overlay, f"{w} overlay")
        res.overlay = qdata.run_sql(con, res.overlay_sql, f"{w} overlay")
        keys = [c for c in section.columns_used() if c not in _non_key(section)]
        qdata.check_columns(res.overlay, keys, f"{w} overlay")
    if isinstance(section, TableSection) and section.columns:
        ci_fn = pair_fn = None
        if ci and section.ci is not None:
            pairs = {(str(t), str(d)) for t, d in zip(frame[section.ci.trial_id], frame[section.ci.eval_domain])}
            preds = qdata.load_predictions(con, pairs)

            def ci_fn(trials, preds=preds):
                frames = [preds[t] for t in trials if t in preds]
                unit = resample_unit(frames, boot.unit)
                lo, hi = mean_auc_ci(frames, resamples=boot.resamples, metric=scored, unit=unit)
                return lo, hi, unit

            def pair_fn(target, trials, preds=preds):
                return paired_diff_ci([preds[t] for t in target if t in preds],
                                      [preds[t] for t in trials if t in preds], resamples=boot.resamples,
                                      metric=scored, unit=boot.unit)
        res.pivot = build_pivot(frame, section, res.overlay, ci_fn, pair_fn)
        if scored is not metric or metric.name == "auc":
            check_ci_scale(section, res.pivot)
        res.pivot.value_label = scored.label
    return res


def _group_keys(section) -> list[str]:
    """The columns whose equal values a section pools into one cell or point."""
    if isinstance(section, TableSection):   # a plain table (no pivot) pools nothing
        return [*section.rows, section.columns] if section.columns else []
    names = ("x", "series", "facet") + (("y",) if isinstance(section, HeatmapSection) else ())
    return [c for c in (getattr(section, n, None) for n in names) if c]


def _non_key(section) -> set[str]:
    """Columns an overlay need not have (bands, error bars, CI sources)."""
    skip = set()
    if isinstance(section, LineSection) and section.band:
        skip |= set(section.band)
    if isinstance(section, TableSection) and section.ci:
        skip |= {section.ci.trial_id, section.ci.eval_domain}
    if isinstance(section, TableSection) and section.note:
        skip.add(section.note)
    return skip


def _write_files(spec: ReportSpec, results: list[SectionResult], out: Path, output: ReportOutput,
                 meta: dict, vector: bool) -> None:
    from harness.report import figures
    from harness.report.latex import pivot_latex

    styles = figures.StyleBook(spec.styles)
    for res in results:
        sec = res.section
        res.csv = out / f"{sec.key}.csv"
        data = res.pivot.long_frame() if res.pivot is not None else res.frame
        data.to_csv(res.csv, index=False)
        output.csvs.append(res.csv)
        if res.pivot is not None:
            tex = out / f"{sec.key}.tex"
            tex.write_text(pivot_latex(res.pivot, sec, meta), encoding="utf-8")
            res.extra_files.append(tex)
        if res.overlay is not None:
            res.overlay_csv = out / f"{sec.key}.{_file_safe(sec.overlay.label)}.csv"
            res.overlay.to_csv(res.overlay_csv, index=False)
            output.csvs.append(res.overlay_csv)
        fig = None
        if isinstance(sec, LineSection):
            fig = figures.line_figure(res.frame, sec, styles, res.overlay,
                                      sec.overlay.label if sec.overlay else "paper")
        elif isinstance(sec, BarSection):
            fig = figures.bar_figure(res.frame, sec, styles)
        elif isinstance(sec, HeatmapSection):
            fig = figures.heatmap_figure(res.frame, sec)
        if fig is not None:
            res.png = out / f"{sec.key}.png"
            figures.save_png(fig, res.png)
            if vector:
                res.extra_files += figures.save_vector(fig, out / sec.key)
            res.png_width_px = round(fig.get_figwidth() * 96)
            output.figures.append(res.png)


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "overlay"


__all__ = ["render_report", "ReportOutput", "SectionResult", "ReportError"]
