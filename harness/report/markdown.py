"""report.md: the same report as Markdown, with the PNGs beside it."""
from __future__ import annotations

import pandas as pd

from harness.report.cells import cell_parts, fmt, meta_items, shown_n, table_note
from harness.report.spec import ReportSpec, TableSection
from harness.report.tables import PivotTable


def _md_escape(text: str) -> str:
    """Stored text as a literal table cell: HTML in it (a `<script>` in an error message) is
    escaped (`&` and `<` suffice to stop any tag or entity; `->>` stays readable); pipes and
    newlines cannot break the table."""
    text = str(text).replace("&", "&amp;").replace("<", "&lt;")
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_page(spec: ReportSpec, results: list, meta: dict) -> str:
    lines = [f"# {spec.title}", ""]
    if spec.description:
        lines += [spec.description.strip(), ""]
    lines += [" · ".join(_md_escape(m) for m in meta_items(meta)), ""]   # paths, --where text
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
            lines += _md_pivot(res.pivot, sec) + ["", f"*{table_note(sec, res.pivot, meta)}*", ""]
        else:
            lines += _md_plain(res.frame, sec) + [""]
        files = [p.name for p in (res.png, *res.extra_files, res.csv, res.overlay_csv) if p is not None]
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
        cells = [_md_escape(fmt(v)) for v in row]
        for column in pivot.columns:
            p = cell_parts(pivot, row, column, sec)
            if p is None:
                cells.append("")
                continue
            text = ""
            if p["mean"]:
                text = f"**{p['mean']}**" if p["best"] else p["mean"]
                if p["std"]:
                    text += f" ± {p['std']}"
                text += f"{shown_n(pivot, p)}{p['mark']}"
            text = _md_escape(text)
            for extra in (p["ci"], p["lift"], p["overlay"]):
                if extra:   # the parts are escaped, the line break between them is not
                    text += ("<br>" if text else "") + _md_escape(extra)
            cells.append(text)
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _md_plain(frame: pd.DataFrame, sec: TableSection) -> list[str]:
    if not len(frame):
        return [f"*{sec.empty}*"]
    numeric = {c for c in frame.columns if frame[c].dtype.kind in "iuf"}
    lines = ["| " + " | ".join(_md_escape(c) for c in frame.columns) + " |",
             "|" + "|".join("--:" if c in numeric else ":--" for c in frame.columns) + "|"]
    for rec in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_md_escape(fmt(v, sec.decimals)) for v in rec) + " |")
    return lines

