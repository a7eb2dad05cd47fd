"""A pivot table as LaTeX (booktabs), to paste into a paper: `<section>.tex` beside its CSV.

The body is a `tabular` with \\toprule / \\midrule / \\bottomrule (needs \\usepackage{booktabs});
each cell is mean $\\pm$ sd, bold where best, with the significance mark; with intervals on, a
second, smaller line under each row carries the bootstrap interval. The caption and the notes
are LaTeX comments above it, to copy into the paper's caption.
"""
from __future__ import annotations

import re

from harness.report.cells import cell_parts, fmt, shown_n, table_note
from harness.report.spec import TableSection
from harness.report.tables import PivotTable

_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
            "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_MARKS = {"‡": r"\textsuperscript{\ddag}", "†": r"\textsuperscript{\dag}", "*": r"\textsuperscript{*}"}


def escape(text) -> str:
    text = re.sub(r"[\\&%$#_{}~^]", lambda m: _SPECIAL[m.group()], str(text))
    return text.replace("−", "-").replace("±", r"$\pm$").replace("Δ", r"$\Delta$")


def _mark(mark: str) -> str:
    return "".join(_MARKS.get(ch, escape(ch)) for ch in mark)


def pivot_latex(pivot: PivotTable, section: TableSection, meta: dict) -> str:
    keys = len(pivot.row_keys)
    lines = [f"% {escape(section.title)}",
             f"% {table_note(section, pivot, meta)}".replace("\n", " "),
             r"% needs \usepackage{booktabs}",
             r"\begin{tabular}{" + "l" * keys + "r" * len(pivot.columns) + "}", r"\toprule",
             " & ".join([escape(k) for k in pivot.row_keys] + [escape(c) for c in pivot.columns]) + r" \\",
             r"\midrule"]
    previous = None
    for row in pivot.rows:
        if previous is not None and keys > 1 and row[0] != previous:
            lines.append(r"\midrule")
        label = [escape(fmt(row[0])) if row[0] != previous else ""] + [escape(fmt(v)) for v in row[1:]]
        previous = row[0]
        first, second = [], []
        for column in pivot.columns:
            p = cell_parts(pivot, row, column, section)
            if p is None or not p["mean"]:
                first.append("")
                second.append("")
                continue
            mean = rf"\textbf{{{p['mean']}}}" if p["best"] else p["mean"]
            sd = rf"$\pm${p['std']}" if p["std"] else ""
            first.append(f"{mean}{sd}{escape(shown_n(pivot, p))}{_mark(p['mark'])}")
            second.append(rf"{{\scriptsize {escape(p['ci'])}}}" if p["ci"] else "")
        lines.append(" & ".join(label + first) + r" \\")
        if any(second):
            lines.append(" & ".join([""] * keys + second) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"
