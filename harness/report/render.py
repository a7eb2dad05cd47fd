"""Render a report spec over a store into `out/`: report.html (self-contained: CSS inline,
figures embedded as PNG data), report.md with the PNGs beside it, and one CSV per section."""
from __future__ import annotations

import base64
import datetime as dt
import html
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.report import data as qdata
from harness.report.bootstrap import DEFAULT_RESAMPLES, mean_auc_ci
from harness.report.spec import (BarSection, HeatmapSection, LineSection, ReportError, ReportSpec,
                                 TableSection)
from harness.report.tables import PivotTable, build_pivot


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


@dataclass
class ReportOutput:
    html: Path
    markdown: Path
    figures: list[Path] = field(default_factory=list)
    csvs: list[Path] = field(default_factory=list)
    sections: list[SectionResult] = field(default_factory=list)


def where(section) -> str:
    return f"section {section.key!r} ({section.title})"


def render_report(db: str | Path, spec: ReportSpec, out_dir: str | Path, ci: bool = False,
                  ci_resamples: int = DEFAULT_RESAMPLES, overlay: bool = True) -> ReportOutput:
    out = Path(out_dir)
    results: list[SectionResult] = []
    with qdata.report_connection(db, spec) as con:
        summary = qdata.store_summary(con)
        for section in spec.sections:
            results.append(_run_section(con, spec, section, ci, ci_resamples, overlay))
    out.mkdir(parents=True, exist_ok=True)
    output = ReportOutput(html=out / "report.html", markdown=out / "report.md", sections=results)
    _write_files(spec, results, out, output)
    meta = {"db": str(db), "spec": spec.name, "generated": dt.datetime.now(dt.timezone.utc),
            "ci": ci, "ci_resamples": ci_resamples, "overlay": overlay, **summary}
    output.html.write_text(_html(spec, results, meta), encoding="utf-8")
    output.markdown.write_text(_markdown(spec, results, meta), encoding="utf-8")
    return output


def _run_section(con, spec: ReportSpec, section, ci: bool, resamples: int, overlay: bool) -> SectionResult:
    w = where(section)
    sql = spec.resolve_sql(section, w)
    frame = qdata.run_sql(con, sql, w)
    qdata.check_columns(frame, section.columns_used(), w)
    res = SectionResult(section=section, sql=sql, frame=frame)
    if overlay and section.overlay is not None:
        res.overlay_sql = spec.resolve_sql(section.overlay, f"{w} overlay")
        res.overlay = qdata.run_sql(con, res.overlay_sql, f"{w} overlay")
        keys = [c for c in section.columns_used() if c not in _non_key(section)]
        qdata.check_columns(res.overlay, keys, f"{w} overlay")
    if isinstance(section, TableSection) and section.columns:
        ci_fn = None
        if ci and section.ci is not None:
            pairs = {(str(t), str(d)) for t, d in zip(frame[section.ci.trial_id], frame[section.ci.eval_domain])}
            preds = qdata.load_predictions(con, pairs)

            def ci_fn(trials, preds=preds):
                return mean_auc_ci([preds[t] for t in trials if t in preds], resamples=resamples)
        res.pivot = build_pivot(frame, section, res.overlay, ci_fn)
    return res


def _non_key(section) -> set[str]:
    """Columns an overlay need not have (bands, error bars, CI sources)."""
    skip = set()
    if isinstance(section, LineSection) and section.band:
        skip |= set(section.band)
    if isinstance(section, TableSection) and section.ci:
        skip |= {section.ci.trial_id, section.ci.eval_domain}
    return skip


def _write_files(spec: ReportSpec, results: list[SectionResult], out: Path, output: ReportOutput) -> None:
    from harness.report import figures

    styles = figures.StyleBook(spec.styles)
    for res in results:
        sec = res.section
        res.csv = out / f"{sec.key}.csv"
        data = res.pivot.long_frame() if res.pivot is not None else res.frame
        data.to_csv(res.csv, index=False)
        output.csvs.append(res.csv)
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
            res.png_width_px = round(fig.get_figwidth() * 96)
            output.figures.append(res.png)


def _file_safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "overlay"


# -- formatting ------------------------------------------------------------------------------

def _fmt(value, decimals: int = 2) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:.{decimals}f}"
    try:
        if pd.isna(value):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, (pd.Timestamp, dt.datetime)):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _cell_parts(pivot: PivotTable, row, column, section: TableSection) -> dict | None:
    c = pivot.cell(row, column)
    d = section.decimals
    if not c.n and c.overlay is None:
        return None
    parts = {"mean": _fmt(c.mean, d) if c.n else "", "best": c.best, "mark": c.mark,
             "std": _fmt(c.std, d) if c.n > 1 else "", "n": c.n if c.n else "",
             "ci": f"[{_fmt(c.ci[0], d)}, {_fmt(c.ci[1], d)}]" if c.ci and not math.isnan(c.ci[0]) else "",
             "overlay": ""}
    if c.overlay is not None:
        gap = f", Δ {c.mean - c.overlay:+.{d}f}" if c.n else ""
        parts["overlay"] = f"{pivot.overlay_label} {_fmt(c.overlay, d)}{gap}"
    return parts


def _table_note(section: TableSection, pivot: PivotTable, meta: dict) -> str:
    notes = ["mean ± standard deviation over replicates (n = count)"]
    if section.best:
        notes.append(f"bold = {'highest' if section.best == 'max' else 'lowest'} in the row")
    if section.significance:
        s = section.significance
        test = "Student" if s.equal_var else "Welch"
        side = {"greater": "one-sided, greater", "less": "one-sided, less", "two-sided": "two-sided"}[s.alternative]
        notes.append(f"{s.mark} = {s.target} beats every other column of the row by a {test} t-test "
                     f"({side}) with p < {s.alpha:g}")
    if meta["ci"] and section.ci:
        notes.append(f"[lo, hi] = bootstrap 95% interval over test samples ({meta['ci_resamples']} resamples)")
    if pivot.overlay_label:
        notes.append(f"{pivot.overlay_label} = published number, Δ = this store minus published")
    notes.append("empty = not run yet")
    return "; ".join(notes) + "."


def _inline_md(text: str) -> str:
    """Escape HTML, then `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


# -- HTML ------------------------------------------------------------------------------------

CSS = """
body{font-family:"DejaVu Sans",Helvetica,Arial,sans-serif;color:#1a1a1a;margin:0;background:#fff;
 line-height:1.45;font-size:15px}
main{max-width:1180px;margin:0 auto;padding:28px 32px 60px}
h1{font-size:26px;margin:0 0 6px}
h2{font-size:20px;margin:38px 0 6px;padding-bottom:4px;border-bottom:2px solid #0072B2}
h3{font-size:17px;margin:28px 0 6px}
.meta{color:#555;font-size:13px;margin:4px 0 18px;display:flex;flex-wrap:wrap;gap:2px 18px}
.meta span{white-space:nowrap}
.caption{color:#333;margin:2px 0 10px;max-width:900px}
.note{color:#555;font-size:12.5px;margin:6px 0 0;max-width:1000px}
.empty{color:#777;font-style:italic}
table{border-collapse:collapse;font-size:13.5px;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:5px 9px;vertical-align:top}
thead th{background:#eef3f8;text-align:center}
tbody th{background:#f7f9fb;text-align:left;font-weight:600;white-space:nowrap}
td.num{text-align:right;white-space:nowrap}
td.txt{text-align:left;max-width:560px;word-break:break-word}
td .sd{color:#444}
td .n{color:#777;font-size:11.5px}
td .sub{display:block;color:#666;font-size:11.5px}
td .mark{color:#D55E00;font-weight:700}
td.best .v{font-weight:700}
.scroll{overflow-x:auto}
figure{margin:8px 0}
figure img{max-width:100%;height:auto;border:1px solid #e5e5e5}
details{margin:6px 0 0;font-size:12.5px}
details summary{cursor:pointer;color:#0072B2}
pre{background:#f6f8fa;padding:8px 10px;overflow-x:auto;font-size:12px}
.files{font-size:12.5px;color:#555}
@media print{main{max-width:none;padding:0}details{display:none}h2{break-after:avoid}
 figure,table{break-inside:avoid}}
"""


def _html(spec: ReportSpec, results: list[SectionResult], meta: dict) -> str:
    e = html.escape
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             f"<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>{e(spec.title)}</title><style>{CSS}</style></head><body><main>",
             f"<h1>{e(spec.title)}</h1>"]
    if spec.description:
        parts.append(f"<p class='caption'>{_inline_md(spec.description)}</p>")
    parts.append("<div class='meta'>" + "".join(f"<span>{e(x)}</span>" for x in _meta_items(meta)) + "</div>")
    group = None
    for res in results:
        sec = res.section
        if sec.group and sec.group != group:
            parts.append(f"<h2>{e(sec.group)}</h2>")
        group = sec.group
        parts.append(f"<section id='{e(sec.key)}'><h3>{e(sec.title)}</h3>")
        if sec.caption:
            parts.append(f"<p class='caption'>{_inline_md(sec.caption)}</p>")
        if res.png is not None:
            data = base64.b64encode(res.png.read_bytes()).decode("ascii")
            # Shown at print size (96 CSS px per inch; the PNG has 150 dpi), never wider than the page.
            width = f" width='{res.png_width_px}'" if res.png_width_px else ""
            parts.append(f"<figure><img alt='{e(sec.title)}'{width} src='data:image/png;base64,{data}'></figure>")
        elif res.pivot is not None:
            parts.append(_html_pivot(res.pivot, sec))
            parts.append(f"<p class='note'>{e(_table_note(sec, res.pivot, meta))}</p>")
        else:
            parts.append(_html_plain(res.frame, sec))
        files = [p.name for p in (res.png, res.csv, res.overlay_csv) if p is not None]
        parts.append("<div class='files'>files: " + ", ".join(f"<code>{e(f)}</code>" for f in files) + "</div>")
        if sec.show_sql:
            sql = f"<details><summary>SQL</summary><pre>{e(res.sql.strip())}</pre>"
            if res.overlay_sql:
                sql += f"<pre>-- overlay ({e(sec.overlay.label)})\n{e(res.overlay_sql.strip())}</pre>"
            parts.append(sql + "</details>")
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _meta_items(meta: dict) -> list[str]:
    items = [f"spec: {meta['spec']}", f"store: {meta['db']}",
             f"trials: {meta['trials']} ({meta['complete']} complete, {meta['not_complete']} not)",
             f"runs: {meta['runs']}"]
    if meta["latest"] is not None:
        items.append(f"latest result: {_fmt(pd.Timestamp(meta['latest']))}")
    items.append(f"generated: {meta['generated'].strftime('%Y-%m-%d %H:%M UTC')}")
    items.append("bootstrap CIs: " + (f"on ({meta['ci_resamples']} resamples)" if meta["ci"] else "off (--ci)"))
    items.append("published numbers: " + ("shown" if meta["overlay"] else "hidden"))
    return items


def _html_pivot(pivot: PivotTable, sec: TableSection) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(k))}</th>" for k in pivot.row_keys)
    head += "".join(f"<th>{e(str(c))}</th>" for c in pivot.columns)
    rows_html = []
    spans = _rowspans([r[0] for r in pivot.rows])
    for i, row in enumerate(pivot.rows):
        cells = []
        if spans[i]:
            cells.append(f"<th rowspan='{spans[i]}'>{e(_fmt(row[0]))}</th>")
        cells += [f"<th>{e(_fmt(v))}</th>" for v in row[1:]]
        for column in pivot.columns:
            p = _cell_parts(pivot, row, column, sec)
            if p is None:
                cells.append("<td class='num'></td>")
                continue
            body = ""
            if p["mean"]:
                body = f"<span class='v'>{p['mean']}</span>"
                if p["std"]:
                    body += f" <span class='sd'>± {p['std']}</span>"
                body += f" <span class='n'>({p['n']})</span>"
                if p["mark"]:
                    body += f"<span class='mark'>{e(p['mark'])}</span>"
            if p["ci"]:
                body += f"<span class='sub'>{p['ci']}</span>"
            if p["overlay"]:
                body += f"<span class='sub'>{e(p['overlay'])}</span>"
            cls = "num best" if p["best"] else "num"
            cells.append(f"<td class='{cls}'>{body}</td>")
        rows_html.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>"
            + "".join(rows_html) + "</tbody></table></div>")


def _rowspans(values: list) -> list[int]:
    spans = [0] * len(values)
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i]:
            j += 1
        spans[i] = j - i + 1
        i = j + 1
    return spans


def _html_plain(frame: pd.DataFrame, sec: TableSection) -> str:
    e = html.escape
    if not len(frame):
        return f"<p class='empty'>{e(sec.empty)}</p>"
    numeric = {c for c in frame.columns if frame[c].dtype.kind in "iuf"}
    head = "".join(f"<th>{e(str(c))}</th>" for c in frame.columns)
    body = []
    for rec in frame.itertuples(index=False):
        cells = []
        for c, v in zip(frame.columns, rec):
            cls = "num" if c in numeric else "txt"
            cells.append(f"<td class='{cls}'>{e(_fmt(v, sec.decimals))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


# -- Markdown --------------------------------------------------------------------------------

def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _markdown(spec: ReportSpec, results: list[SectionResult], meta: dict) -> str:
    lines = [f"# {spec.title}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [" · ".join(_meta_items(meta)), ""]
    group = None
    for res in results:
        sec = res.section
        if sec.group and sec.group != group:
            lines += [f"## {sec.group}", ""]
        group = sec.group
        lines += [f"### {sec.title}", ""]
        if sec.caption:
            lines += [sec.caption.strip(), ""]
        if res.png is not None:
            lines += [f"![{sec.title}]({res.png.name})", ""]
        elif res.pivot is not None:
            lines += _md_pivot(res.pivot, sec) + ["", f"*{_table_note(sec, res.pivot, meta)}*", ""]
        else:
            lines += _md_plain(res.frame, sec) + [""]
        files = [p.name for p in (res.png, res.csv, res.overlay_csv) if p is not None]
        lines += ["files: " + ", ".join(f"`{f}`" for f in files), ""]
        if sec.show_sql:
            lines += ["<details><summary>SQL</summary>", "", "```sql", res.sql.strip(), "```"]
            if res.overlay_sql:
                lines += ["", "```sql", f"-- overlay ({sec.overlay.label})", res.overlay_sql.strip(), "```"]
            lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _md_pivot(pivot: PivotTable, sec: TableSection) -> list[str]:
    header = [str(k) for k in pivot.row_keys] + [str(c) for c in pivot.columns]
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
             "|" + "|".join([":--"] * len(pivot.row_keys) + ["--:"] * len(pivot.columns)) + "|"]
    for row in pivot.rows:
        cells = [_md_escape(_fmt(v)) for v in row]
        for column in pivot.columns:
            p = _cell_parts(pivot, row, column, sec)
            if p is None:
                cells.append("")
                continue
            text = ""
            if p["mean"]:
                text = f"**{p['mean']}**" if p["best"] else p["mean"]
                if p["std"]:
                    text += f" ± {p['std']}"
                text += f" ({p['n']}){p['mark']}"
            for extra in (p["ci"], p["overlay"]):
                if extra:
                    text += ("<br>" if text else "") + extra
            cells.append(_md_escape(text))
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_plain(frame: pd.DataFrame, sec: TableSection) -> list[str]:
    if not len(frame):
        return [f"*{sec.empty}*"]
    numeric = {c for c in frame.columns if frame[c].dtype.kind in "iuf"}
    lines = ["| " + " | ".join(_md_escape(c) for c in frame.columns) + " |",
             "|" + "|".join("--:" if c in numeric else ":--" for c in frame.columns) + "|"]
    for rec in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_md_escape(_fmt(v, sec.decimals)) for v in rec) + " |")
    return lines


__all__ = ["render_report", "ReportOutput", "SectionResult", "ReportError"]
