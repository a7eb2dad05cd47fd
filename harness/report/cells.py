"""How a value or a table cell reads in a report (shared by the HTML and Markdown pages)."""
from __future__ import annotations

import datetime as dt
import html
import math
import re

import pandas as pd

from harness.report.spec import TableSection
from harness.report.tables import PivotTable


def fmt(value, decimals: int = 2) -> str:
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


def cell_parts(pivot: PivotTable, row, column, section: TableSection) -> dict | None:
    """A cell's pieces as text. Its first line is mean ± sd and the marks; intervals (one decimal
    fewer: they are rough) and the published number go on quieter lines below."""
    c = pivot.cell(row, column)
    d = section.decimals
    di = max(d - 1, 0)
    if not c.n and c.overlay is None:
        return None
    parts = {"mean": fmt(c.mean, d) if c.n else "", "best": c.best, "mark": c.mark,
             "std": fmt(c.std, d) if c.n > 1 else "", "n": c.n if c.n else "",
             "ci": f"[{fmt(c.ci[0], di)}, {fmt(c.ci[1], di)}]" if c.ci and not math.isnan(c.ci[0]) else "",
             "lift": "", "overlay": ""}
    if c.lift and not math.isnan(c.lift[0]) and section.significance:
        # the paired interval of the target minus this cell, on the same resamples
        parts["lift"] = f"Δ [{c.lift[0]:+.{di}f}, {c.lift[1]:+.{di}f}]"
    if c.overlay is not None:
        gap = f" ({c.mean - c.overlay:+.{d}f})" if c.n else ""
        parts["overlay"] = f"{pivot.overlay_label} {fmt(c.overlay, d)}{gap}"
    return parts


def usual_n(pivot: PivotTable) -> int:
    """The most common replicate count of the table's cells: only other counts are shown."""
    counts = [pivot.cell(r, c).n for r in pivot.rows for c in pivot.columns if pivot.cell(r, c).n]
    return max(set(counts), key=counts.count) if counts else 0


def shown_n(pivot: PivotTable, parts: dict) -> str:
    return f" ({parts['n']})" if parts["n"] and parts["n"] != usual_n(pivot) else ""


def table_note(section: TableSection, pivot: PivotTable, meta: dict) -> str:
    n = usual_n(pivot)
    notes = [f"mean ± standard deviation over {n} replicate{'s' if n != 1 else ''} per cell, "
             "(n) where a cell has another count"]
    if section.best:
        notes.append(f"bold = {'highest' if section.best == 'max' else 'lowest'} in the row")
    if section.significance:
        s = section.significance
        test = "Student" if s.equal_var else "Welch"
        side = {"greater": "one-sided, greater", "less": "one-sided, less", "two-sided": "two-sided"}[s.alternative]
        notes.append(f"{s.mark} = {s.target} beats every other column of the row by a {test} t-test "
                     f"({side}) with p < {s.alpha:g}")
    if meta["ci"] and section.ci:
        notes.append(f"[lo, hi] = bootstrap 95% interval {_drawn(pivot)} ({meta['ci_resamples']} resamples)")
        if section.significance:
            notes.append(f"Δ [lo, hi] = paired bootstrap 95% interval of {section.significance.target}'s "
                         f"{pivot.value_label} minus this column's on the same resamples (above zero: "
                         "the difference is not test-set noise)")
    if pivot.overlay_label:
        notes.append(f"{pivot.overlay_label} = published number, (±x) = this store minus published")
    notes.append("empty = not run yet" + (", or the metric is undefined there (the CSV's `note` says why)"
                                          if section.note else ""))
    said = _cell_notes(pivot)
    if said:
        notes.append(f"{pivot.value_label}: {said}")
    return "; ".join(notes) + "."


def _cell_notes(pivot: PivotTable) -> str:
    """What the cells' notes say, per first row key (UAUC: how many users count; why empty)."""
    groups: dict = {}
    for r in pivot.rows:
        for c in pivot.columns:
            groups.setdefault(r[0], set()).update(pivot.cell(r, c).notes)
    return "; ".join(f"{g} {', '.join(sorted(n))}" for g, n in groups.items() if n)


def _drawn(pivot: PivotTable) -> str:
    """What the intervals resampled, cell by cell (harness/report/bootstrap.py)."""
    units = {pivot.cell(r, c).ci_unit for r in pivot.rows for c in pivot.columns} - {None}
    if units == {"users"}:
        return "resampling users (all of a user's test samples together)"
    if units == {"samples"}:
        return "resampling test samples"
    if units:
        groups = list(dict.fromkeys(str(r[0]) for r in pivot.rows for c in pivot.columns
                                    if pivot.cell(r, c).ci_unit == "users"))
        return (f"resampling users (all of a user's samples together) in the rows of {', '.join(groups)}, "
                "test samples elsewhere")
    return "over the test set"


def inline_md(text: str) -> str:
    """Escape HTML, then `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def meta_items(meta: dict) -> list[str]:
    items = [f"spec: {meta['spec']}", f"store: {meta['db']}",
             f"trials: {meta['trials']} ({meta['complete']} complete, {meta['not_complete']} not)",
             f"runs: {meta['runs']}"]
    if meta.get("scope"):
        items.insert(1, f"scope: {meta['scope']}")
    if meta["latest"] is not None:
        items.append(f"latest result: {fmt(pd.Timestamp(meta['latest']))}")
    items.append(f"generated: {meta['generated'].strftime('%Y-%m-%d %H:%M UTC')}")
    if meta.get("shows_metric", True):   # a spec whose sections never show it (search) does not claim one
        items.insert(1, f"metric: {meta['metric'].shown} ({meta['metric'].name}: {meta['metric'].description})")
    if meta.get("has_ci", True):
        items.append("bootstrap CIs: " + (f"on ({meta['ci_resamples']} resamples, unit {meta['ci_unit']})"
                                          if meta["ci"] else "off (--ci)"))
    if meta.get("has_overlay", True):
        items.append("published numbers: " + ("shown" if meta["overlay"] else "hidden"))
    return items
