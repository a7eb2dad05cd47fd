"""Pivot tables: replicate rows (one per seed) -> mean ± std (n) per cell, the best cell per
row, a significance mark, optional bootstrap intervals and published numbers."""
from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from harness.report.spec import ReportError, TableSection


@dataclass
class Cell:
    values: list[float] = field(default_factory=list)
    trials: list[tuple[str, str]] = field(default_factory=list)   # (trial_id, eval_domain)
    best: bool = False
    mark: str = ""
    p_max: float | None = None          # the largest p-value of the target's tests
    ci: tuple[float, float] | None = None
    lift: tuple[float, float] | None = None   # paired interval of the target's value minus this cell's
    ci_unit: str | None = None          # what the bootstrap drew: "users" or "samples"
    overlay: float | None = None
    notes: set[str] = field(default_factory=set)   # why values are missing (section.note)

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return float(np.mean(self.values)) if self.values else math.nan

    @property
    def std(self) -> float:
        return float(np.std(self.values, ddof=1)) if len(self.values) > 1 else math.nan


@dataclass
class PivotTable:
    row_keys: list[str]
    column_key: str
    rows: list[tuple]
    columns: list[Any]
    cells: dict[tuple[tuple, Any], Cell]
    overlay_label: str | None = None
    value_label: str = "AUC"            # what the intervals resample (the report's metric)

    def cell(self, row: tuple, column: Any) -> Cell:
        return self.cells.get((row, column)) or Cell()

    def long_frame(self) -> pd.DataFrame:
        """One CSV row per (row, column): n, mean, std, and every mark shown in the table."""
        records = []
        for row in self.rows:
            for column in self.columns:
                c = self.cell(row, column)
                rec = dict(zip(self.row_keys, row))
                rec[self.column_key] = column
                rec.update(n=c.n, mean=c.mean, std=c.std, best=c.best, mark=c.mark, p_max=c.p_max,
                           ci_lo=c.ci[0] if c.ci else math.nan, ci_hi=c.ci[1] if c.ci else math.nan,
                           lift_lo=c.lift[0] if c.lift else math.nan, lift_hi=c.lift[1] if c.lift else math.nan,
                           ci_unit=c.ci_unit or "", note="; ".join(sorted(c.notes)))
                if self.overlay_label:
                    rec[self.overlay_label] = c.overlay if c.overlay is not None else math.nan
                    rec["gap"] = (c.mean - c.overlay) if c.overlay is not None and c.n else math.nan
                records.append(rec)
        return pd.DataFrame.from_records(records)


def plain(value: Any) -> Any:
    """numpy scalars -> Python, integral floats -> int, so 16 == 16.0 == np.int32(16) as keys."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def natural_key(value: Any):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (2, ())
    if isinstance(value, (int, float)):
        return (0, (float(value),))
    parts = re.split(r"(\d+(?:\.\d+)?)", str(value))
    return (1, tuple((0, float(p)) if i % 2 else (1, p.lower()) for i, p in enumerate(parts)))


def ordered(values, declared: list | None = None) -> list:
    """Declared values first (in their order), then any others found, sorted naturally."""
    declared = [plain(v) for v in (declared or [])]
    seen = set(declared)
    extra = []
    for v in values:
        v = plain(v)
        if v is None or (isinstance(v, float) and math.isnan(v)) or v in seen:
            continue
        seen.add(v)
        extra.append(v)
    return declared + sorted(extra, key=natural_key)


def build_pivot(frame: pd.DataFrame, section: TableSection,
                overlay: pd.DataFrame | None = None,
                ci_fn: Callable[[list[tuple[str, str]]], tuple[float, float]] | None = None,
                pair_fn: Callable[[list, list], tuple[float, float]] | None = None) -> PivotTable:
    """`ci_fn(trials)`: a cell's bootstrap interval; `pair_fn(target_trials, trials)`: the paired
    interval of the significance target's AUC minus a cell's (both need `section.ci`)."""
    rows_keys, col_key, value = list(section.rows), section.columns, section.value
    cells: dict[tuple[tuple, Any], Cell] = {}
    present_rows: set[tuple] = set()
    for rec in frame.to_dict("records"):
        row = tuple(plain(rec[k]) for k in rows_keys)
        col = plain(rec[col_key])
        present_rows.add(row)
        cell = cells.setdefault((row, col), Cell())
        note = rec.get(section.note) if section.note else None
        if note is not None and not pd.isna(note) and str(note):
            cell.notes.add(str(note))
        v = rec[value]
        if v is None or pd.isna(v):
            continue
        cell.values.append(float(v))
        if section.ci:
            cell.trials.append((str(rec[section.ci.trial_id]), str(rec[section.ci.eval_domain])))

    # Row and column universes: declared values always appear; data adds the rest.
    per_key = {k: ordered(frame[k].tolist() if len(frame) else [], section.order.get(k)) for k in rows_keys}
    rows = set(present_rows)
    if all(k in section.order for k in rows_keys):
        rows |= set(itertools.product(*[[plain(v) for v in section.order[k]] for k in rows_keys]))
    rank = {k: {v: i for i, v in enumerate(vals)} for k, vals in per_key.items()}
    rows_sorted = sorted(rows, key=lambda r: tuple((rank[k].get(v, 10**9), natural_key(v))
                                                   for k, v in zip(rows_keys, r)))
    columns = ordered(frame[col_key].tolist() if len(frame) else [], section.order.get(col_key))

    if overlay is not None and len(overlay):
        for rec in overlay.to_dict("records"):
            row = tuple(plain(rec[k]) for k in rows_keys)
            col = plain(rec[col_key])
            if (row, col) in cells or (row in rows and col in columns):
                v = rec[value]
                if v is not None and not pd.isna(v):
                    cells.setdefault((row, col), Cell()).overlay = float(v)

    table = PivotTable(rows_keys, col_key, rows_sorted, columns, cells,
                       overlay_label=section.overlay.label if section.overlay and overlay is not None else None)
    for row in rows_sorted:
        _mark_best(table, row, section.best)
        if section.significance:
            _mark_significance(table, row, section)
    if ci_fn is not None:
        for cell in cells.values():
            if cell.trials:
                got = ci_fn(cell.trials)   # (lo, hi) or (lo, hi, unit drawn)
                scale = section.ci.scale or 1.0
                cell.ci = (got[0] * scale, got[1] * scale)
                cell.ci_unit = got[2] if len(got) > 2 else None
    if pair_fn is not None and section.significance:
        target = plain(section.significance.target)
        for row in rows_sorted:
            mine = table.cell(row, target)
            for column in columns:
                cell = table.cell(row, column)
                if column != target and mine.trials and cell.trials:
                    got = pair_fn(mine.trials, cell.trials)
                    scale = section.ci.scale or 1.0
                    cell.lift = (got[0] * scale, got[1] * scale)
    return table


def check_ci_scale(section: TableSection, table: PivotTable) -> None:
    """For a section that shows its own AUC (not the report's metric, whose scale is known): an
    AUC interval lies in [0, 1] x scale, so a mean off that scale (AUC x 100 beside intervals on
    0-1) is a spec without the right `ci.scale`, refused in one line."""
    for cell in table.cells.values():
        if cell.ci and cell.n and not math.isnan(cell.ci[0]):
            scale = section.ci.scale or 1.0
            if abs(cell.mean) > 1.5 * scale or (cell.ci[1] > 1.5 and abs(cell.mean) <= 1):
                raise ReportError(f"section {section.key!r}: its values ({cell.mean:.4g}) and their bootstrap "
                                  f"intervals ([{cell.ci[0]:.4g}, {cell.ci[1]:.4g}]) are on different "
                                  "scales; set `ci: {scale: 100}` for AUC x 100, or show the report's "
                                  "metric (the `metric` column, {metric} in the title: its own scale)")


def _mark_best(table: PivotTable, row: tuple, how: str | None) -> None:
    if not how:
        return
    means = {c: table.cell(row, c).mean for c in table.columns if table.cell(row, c).n}
    if not means:
        return
    target = max(means.values()) if how == "max" else min(means.values())
    for column, mean in means.items():
        if math.isclose(mean, target, rel_tol=0, abs_tol=1e-12):
            table.cells[(row, column)].best = True


def _mark_significance(table: PivotTable, row: tuple, section: TableSection) -> None:
    """Mark the target when a t-test (Welch's by default, one-sided `greater`) gives p < alpha
    against every other column present in the row. Needs >= 2 replicates on both sides of
    every comparison; otherwise no mark (the test is undefined)."""
    from scipy import stats

    sig = section.significance
    target = plain(sig.target)
    mine = table.cell(row, target)
    against = [plain(c) for c in sig.against] if sig.against is not None else table.columns
    others = [table.cell(row, c) for c in against if c != target and table.cell(row, c).n]
    if mine.n < 2 or not others:
        return
    p_values = []
    for other in others:
        if other.n < 2:
            return
        p = stats.ttest_ind(mine.values, other.values, equal_var=sig.equal_var,
                            alternative=sig.alternative).pvalue
        if p is None or math.isnan(p):
            return
        p_values.append(float(p))
    cell = table.cells[(row, target)]
    cell.p_max = max(p_values)
    if cell.p_max < sig.alpha:
        cell.mark = sig.mark
