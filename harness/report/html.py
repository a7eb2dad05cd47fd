"""report.html: one self-contained page (CSS inline, figures embedded as PNG data)."""
from __future__ import annotations

import base64
import html

import pandas as pd

from harness.report.cells import cell_parts, fmt, inline_md, meta_items, shown_n, table_note
from harness.report.spec import ReportSpec, TableSection
from harness.report.tables import PivotTable


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
table{border-collapse:collapse;font-size:13px;margin:6px 0;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:4px 7px;vertical-align:top}
thead th{background:#eef3f8;text-align:center}
tbody th{background:#f7f9fb;text-align:left;font-weight:600;white-space:nowrap}
td.num{text-align:right;white-space:nowrap}
td.txt{text-align:left;max-width:560px;word-break:break-word}
td .sd{color:#444}
td .n{color:#777;font-size:11.5px}
td .sub{display:block;color:#767676;font-size:11px;line-height:1.3}
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


def html_page(spec: ReportSpec, results: list, meta: dict) -> str:
    e = html.escape
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             f"<title>{e(spec.title)}</title><style>{CSS}</style></head><body><main>",
             f"<h1>{e(spec.title)}</h1>"]
    if spec.description:
        parts.append(f"<p class='caption'>{inline_md(spec.description)}</p>")
    parts.append("<div class='meta'>" + "".join(f"<span>{e(x)}</span>" for x in meta_items(meta)) + "</div>")
    group = None
    for res in results:
        sec = res.section
        if sec.group and sec.group != group:
            parts.append(f"<h2>{e(sec.group)}</h2>")
        group = sec.group
        parts.append(f"<section id='{e(sec.key)}'><h3>{e(sec.title)}</h3>")
        if sec.caption:
            parts.append(f"<p class='caption'>{inline_md(sec.caption)}</p>")
        if res.png is not None:
            data = base64.b64encode(res.png.read_bytes()).decode("ascii")
            # Shown at print size (96 CSS px per inch; the PNG has 150 dpi), never wider than the page.
            width = f" width='{res.png_width_px}'" if res.png_width_px else ""
            parts.append(f"<figure><img alt='{e(sec.title)}'{width} src='data:image/png;base64,{data}'></figure>")
        elif res.pivot is not None:
            parts.append(_html_pivot(res.pivot, sec))
            parts.append(f"<p class='note'>{e(table_note(sec, res.pivot, meta))}</p>")
        else:
            parts.append(_html_plain(res.frame, sec))
        files = [p.name for p in (res.png, *res.extra_files, res.csv, res.overlay_csv) if p is not None]
        parts.append("<div class='files'>files: " + ", ".join(f"<code>{e(f)}</code>" for f in files) + "</div>")
        if sec.show_sql:
            sql = f"<details><summary>SQL</summary><pre>{e(res.sql.strip())}</pre>"
            if res.overlay_sql:
                sql += f"<pre>-- overlay ({e(sec.overlay.label)})\n{e(res.overlay_sql.strip())}</pre>"
            parts.append(sql + "</details>")
        parts.append("</section>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


def _html_pivot(pivot: PivotTable, sec: TableSection) -> str:
    e = html.escape
    head = "".join(f"<th>{e(str(k))}</th>" for k in pivot.row_keys)
    head += "".join(f"<th>{e(str(c))}</th>" for c in pivot.columns)
    rows_html = []
    spans = _rowspans([r[0] for r in pivot.rows])
    for i, row in enumerate(pivot.rows):
        cells = []
        if spans[i]:
            cells.append(f"<th rowspan='{spans[i]}'>{e(fmt(row[0]))}</th>")
        cells += [f"<th>{e(fmt(v))}</th>" for v in row[1:]]
        for column in pivot.columns:
            p = cell_parts(pivot, row, column, sec)
            if p is None:
                cells.append("<td class='num'></td>")
                continue
            body = ""
            if p["mean"]:   # the first line: mean ± sd and the marks; the rest quieter below
                body = f"<span class='v'>{p['mean']}</span>"
                if p["std"]:
                    body += f" <span class='sd'>± {p['std']}</span>"
                if shown_n(pivot, p):
                    body += f"<span class='n'>{shown_n(pivot, p)}</span>"
                if p["mark"]:
                    body += f"<span class='mark'>{e(p['mark'])}</span>"
            for extra in (p["ci"], p["lift"], p["overlay"]):
                if extra:
                    body += f"<span class='sub'>{e(extra)}</span>"
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
            cells.append(f"<td class='{cls}'>{e(fmt(v, sec.decimals))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<div class='scroll'><table><thead><tr>{head}</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>")


# -- Markdown --------------------------------------------------------------------------------
