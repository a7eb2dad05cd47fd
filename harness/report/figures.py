"""Matplotlib views: line (with seed-spread bands and published-number overlays), bar and
heatmap. Figures are built on `matplotlib.figure.Figure` (no pyplot, no GUI backend).

Readable in print: 10 pt text, labelled axes, one legend per figure below the panels, the
Okabe-Ito palette (then Paul Tol's muted colours) with a distinct marker per series, so
series stay apart in greyscale and for colour-blind readers.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from harness.report.spec import BarSection, HeatmapSection, LineSection, Style
from harness.report.tables import ordered, plain

# Okabe & Ito (2008) without yellow (too light for lines on white), then Tol's muted set.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000",
           "#882255", "#44AA99", "#999933", "#332288", "#AA4499", "#117733"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "h", "<", ">", "*", "p", "d"]
LINESTYLES = ["-", "--", "-.", ":"]
MISSING = "no data yet"

RC = {
    "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "legend.fontsize": 9,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.6,
    "lines.linewidth": 1.8, "lines.markersize": 5.5, "savefig.dpi": 150,
    "font.family": "DejaVu Sans",
}


class StyleBook:
    """One style per series name for the whole report, so a method looks the same in every
    figure. Styles from the spec win; the others take the next free colour and marker."""

    def __init__(self, fixed: dict[str, Style] | None = None):
        self.fixed = dict(fixed or {})
        self.assigned: dict[str, dict] = {}
        used = {s.color for s in self.fixed.values() if s.color}
        self.free_colors = [c for c in PALETTE if c not in used] or PALETTE
        used_markers = {s.marker for s in self.fixed.values() if s.marker}
        self.free_markers = [m for m in MARKERS if m not in used_markers] or MARKERS
        self._next_color = 0
        self._next_marker = 0

    def get(self, name) -> dict:
        key = str(name)
        if key not in self.assigned:
            fixed = self.fixed.get(key) or Style()
            style = {"linestyle": "-", "linewidth": 1.8}
            if fixed.color is None:
                i = self._next_color
                self._next_color += 1
                style["color"] = self.free_colors[i % len(self.free_colors)]
                # Past the palette, colours repeat with another line style.
                style["linestyle"] = LINESTYLES[(i // len(self.free_colors)) % len(LINESTYLES)]
            if fixed.marker is None:
                style["marker"] = self.free_markers[self._next_marker % len(self.free_markers)]
                self._next_marker += 1
            style.update({k: v for k, v in fixed.model_dump().items() if v is not None})
            self.assigned[key] = style
        return self.assigned[key]


def _new_figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _no_data(ax, text: str = MISSING) -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", color="#777777",
            fontsize=10, style="italic")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)


def _fmt_tick(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else f"{v:g}"


def _rows(frame: pd.DataFrame, column: str | None, value) -> pd.DataFrame:
    if column is None or frame is None or not len(frame):
        return frame
    return frame[[plain(v) == value for v in frame[column]]]


def _legend_columns(labels: list[str], fig_width_in: float) -> int:
    """As many legend columns as fit the figure's width (9 pt text: ~5 pt per character)."""
    if not labels:
        return 1
    col_pt = max(len(str(lab)) for lab in labels) * 5.2 + 42
    return max(1, min(len(labels), 5, int(fig_width_in * 72 // col_pt)))


def _legend(fig, axes, order: list[str] | None = None) -> None:
    handles, labels, seen = [], [], set()
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in seen and not lab.startswith("_"):
                seen.add(lab)
                handles.append(h)
                labels.append(lab)
    if not handles:
        return
    if order:
        rank = {lab: i for i, lab in enumerate(order)}
        pairs = sorted(zip(handles, labels), key=lambda p: rank.get(p[1], len(rank)))
        handles, labels = [p[0] for p in pairs], [p[1] for p in pairs]
    ncol = _legend_columns(labels, fig.get_figwidth())
    fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)


def line_figure(frame: pd.DataFrame, sec: LineSection, styles: StyleBook,
                overlay: pd.DataFrame | None = None, overlay_label: str = "paper"):
    import matplotlib as mpl
    from matplotlib.ticker import NullLocator

    overlay = overlay if overlay is not None and len(overlay) else None
    both = pd.concat([f for f in (frame, overlay) if f is not None and len(f)], ignore_index=True) \
        if (len(frame) or overlay is not None) else frame
    facets = ordered(both[sec.facet].tolist(), sec.order.get(sec.facet)) if sec.facet else [None]
    facets = facets or [None]
    series = ordered(both[sec.series].tolist(), sec.order.get(sec.series)) if sec.series and len(both) else [None]
    ncols = min(len(facets), 3)
    nrows = math.ceil(len(facets) / ncols)
    overlay_label = overlay_label or "paper"
    legend_order = []
    for name in series:
        if name is not None:
            legend_order += [str(name), f"{name} (K = 0)", f"{name} ({overlay_label})"]
    n_entries = len(series) * (2 if overlay is not None else 1)
    ncol = _legend_columns([lab for lab in legend_order if "(K = 0)" not in lab], sec.width * ncols)
    legend_h = 0.28 * math.ceil(max(n_entries, 1) / ncol) + 0.25
    with mpl.rc_context(RC):
        fig = _new_figure(sec.width * ncols, sec.height * nrows + legend_h)
        axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True).ravel()
        xs_all = sorted({float(v) for v in both[sec.x].dropna()} if len(both) else set())
        xticks = [v for v in xs_all if v > 0] if sec.logx else xs_all
        if sec.xticks:
            xticks = [float(v) for v in sec.xticks if not sec.logx or v > 0]
        for ax, facet in zip(axes, facets):
            sub = _rows(frame, sec.facet, facet)
            sub_over = _rows(overlay, sec.facet, facet) if overlay is not None else None
            if not len(sub) and (sub_over is None or not len(sub_over)):
                _no_data(ax)
            else:
                # Many overlapping bands turn to mud: fade them as the series multiply.
                band_alpha = max(0.07, 0.2 - 0.015 * len(series))
                for name in series:
                    _draw_series(ax, _rows(sub, sec.series, name), sec, styles.get(name), name, band_alpha)
                    if sub_over is not None:
                        _draw_overlay(ax, _rows(sub_over, sec.series, name), sec, styles.get(name),
                                      f"{name} ({overlay_label})" if name is not None else overlay_label)
                if sec.logx and xticks:
                    ax.set_xscale("log", base=sec.logx)
                    ax.set_xticks(xticks)
                    ax.set_xticklabels([_fmt_tick(v) for v in xticks])
                    ax.xaxis.set_minor_locator(NullLocator())
                    ax.set_xlim(min(xticks) / sec.logx ** 0.3, max(xticks) * sec.logx ** 0.3)
                elif xticks and len(xticks) <= 12:
                    ax.set_xticks(xticks)
                    ax.set_xticklabels([_fmt_tick(v) for v in xticks])
                if sec.ylim:
                    ax.set_ylim(*sec.ylim)
            if facet is not None:
                prefix = sec.facet_label if sec.facet_label is not None else sec.facet
                ax.set_title(f"{prefix}: {facet}" if prefix else str(facet))
            ax.set_xlabel(sec.xlabel or sec.x)
            if ax in axes[::ncols]:
                ax.set_ylabel(sec.ylabel or sec.y)
        for ax in axes[len(facets):]:
            ax.set_visible(False)
        _legend(fig, axes[:len(facets)], legend_order)
    return fig


def _draw_series(ax, rows: pd.DataFrame, sec: LineSection, style: dict, name,
                 band_alpha: float = 0.16) -> None:
    if rows is None or not len(rows):
        return
    rows = rows.dropna(subset=[sec.x, sec.y]).sort_values(sec.x)
    label = "_nolegend_" if name is None else str(name)
    flat = rows[rows[sec.x] <= 0] if sec.logx else rows.iloc[0:0]
    pts = rows[rows[sec.x] > 0] if sec.logx else rows
    if len(pts):
        x = pts[sec.x].astype(float).to_numpy()
        ax.plot(x, pts[sec.y].astype(float), color=style["color"], marker=style["marker"],
                linestyle=style["linestyle"], linewidth=style["linewidth"], label=label, zorder=3)
        if sec.band:
            lo = pd.to_numeric(pts[sec.band[0]], errors="coerce").to_numpy(dtype=float)
            hi = pd.to_numeric(pts[sec.band[1]], errors="coerce").to_numpy(dtype=float)
            ok = ~(np.isnan(lo) | np.isnan(hi))
            if ok.any():
                ax.fill_between(x, np.where(ok, lo, np.nan), np.where(ok, hi, np.nan),
                                color=style["color"], alpha=style.get("band_alpha") or band_alpha,
                                linewidth=0, zorder=1)
    # On a log axis x <= 0 has no place: a method that ignores K (zero-shot, K = 0) is drawn
    # as a horizontal line across the panel.
    for y in flat[sec.y].astype(float):
        ax.axhline(y, color=style["color"], linestyle=(0, (5, 3)), linewidth=1.4,
                   label=f"{label} (K = 0)" if name is not None else label, zorder=2)


def _draw_overlay(ax, rows: pd.DataFrame, sec: LineSection, style: dict, label: str) -> None:
    if rows is None or not len(rows):
        return
    rows = rows.dropna(subset=[sec.x, sec.y]).sort_values(sec.x)
    if sec.logx:
        rows = rows[rows[sec.x] > 0]
    if not len(rows):
        return
    ax.plot(rows[sec.x].astype(float), rows[sec.y].astype(float), color=style["color"],
            marker=style["marker"], markerfacecolor="white", markeredgewidth=1.4, markersize=7,
            linestyle=":", linewidth=1.2, label=label, zorder=4)


def bar_figure(frame: pd.DataFrame, sec: BarSection, styles: StyleBook):
    import matplotlib as mpl

    cats = ordered(frame[sec.x].tolist(), sec.order.get(sec.x)) if len(frame) else []
    series = ordered(frame[sec.series].tolist(), sec.order.get(sec.series)) if sec.series and len(frame) else [None]
    width = max(sec.width, 0.35 * max(len(cats), 1) * max(len(series), 1) ** 0.6 + 1.5)
    with mpl.rc_context(RC):
        fig = _new_figure(min(width, 16), sec.height + 0.3 * math.ceil(len(series) / 5))
        ax = fig.subplots()
        if not len(frame) or not cats:
            _no_data(ax)
        else:
            bar_w = 0.8 / len(series)
            for i, name in enumerate(series):
                rows = _rows(frame, sec.series, name)
                by_cat = {plain(r[sec.x]): r for r in rows.to_dict("records")}
                pos, h, err = [], [], []
                for j, c in enumerate(cats):
                    r = by_cat.get(c)
                    if r is None or r[sec.y] is None or pd.isna(r[sec.y]):
                        continue
                    pos.append(j - 0.4 + bar_w * (i + 0.5))
                    h.append(float(r[sec.y]))
                    e = r.get(sec.error) if sec.error else None
                    err.append(0.0 if e is None or pd.isna(e) else float(e))
                if not pos:
                    continue
                st = styles.get(name)
                ax.bar(pos, h, bar_w * 0.95, color=st["color"], edgecolor="black", linewidth=0.4,
                       label="_nolegend_" if name is None else str(name),
                       yerr=err if sec.error else None, capsize=2, error_kw={"linewidth": 0.8})
            ax.set_xticks(range(len(cats)))
            long = max(len(str(c)) for c in cats) > 8 or len(cats) > 8
            ax.set_xticklabels([str(c) for c in cats], rotation=30 if long else 0,
                               ha="right" if long else "center")
            if sec.logy:
                ax.set_yscale("log")
            ax.grid(axis="x", visible=False)
        ax.set_xlabel(sec.xlabel or sec.x)
        ax.set_ylabel(sec.ylabel or sec.y)
        _legend(fig, [ax])
    return fig


def heatmap_figure(frame: pd.DataFrame, sec: HeatmapSection):
    import matplotlib as mpl

    xs = ordered(frame[sec.x].tolist(), sec.order.get(sec.x)) if len(frame) else list(sec.order.get(sec.x, []))
    ys = ordered(frame[sec.y].tolist(), sec.order.get(sec.y)) if len(frame) else list(sec.order.get(sec.y, []))
    grid = np.full((len(ys), len(xs)), np.nan)
    xi = {v: i for i, v in enumerate(xs)}
    yi = {v: i for i, v in enumerate(ys)}
    for rec in frame.to_dict("records"):
        v = rec[sec.value]
        if v is not None and not pd.isna(v):
            grid[yi[plain(rec[sec.y])], xi[plain(rec[sec.x])]] = float(v)
    width = max(sec.width, 0.75 * len(xs) + 2.5)
    height = max(sec.height, 0.38 * len(ys) + 1.6)
    with mpl.rc_context(RC):
        fig = _new_figure(min(width, 16), min(height, 16))
        ax = fig.subplots()
        if not xs or not ys or np.isnan(grid).all():
            _no_data(ax)
        else:
            cmap = mpl.colormaps[sec.cmap].with_extremes(bad="white")
            im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, aspect="auto", vmin=sec.vmin, vmax=sec.vmax)
            ax.set_xticks(range(len(xs)))
            long = max(len(str(v)) for v in xs) > 6
            ax.set_xticklabels([str(v) for v in xs], rotation=35 if long else 0, ha="right" if long else "center")
            ax.set_yticks(range(len(ys)))
            ax.set_yticklabels([str(v) for v in ys])
            ax.set_xticks(np.arange(-0.5, len(xs)), minor=True)
            ax.set_yticks(np.arange(-0.5, len(ys)), minor=True)
            ax.grid(which="minor", color="#cccccc", linewidth=0.6)
            ax.grid(which="major", visible=False)
            ax.tick_params(which="minor", length=0)
            norm = im.norm
            for (r, c), v in np.ndenumerate(grid):
                if math.isnan(v):
                    continue
                rgb = cmap(norm(v))[:3]
                light = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2] > 0.55
                ax.text(c, r, f"{v:.{sec.decimals}f}", ha="center", va="center", fontsize=8.5,
                        color="black" if light else "white")
            bar = fig.colorbar(im, ax=ax, shrink=0.9)
            bar.set_label(sec.value_label or sec.value)
            finite = grid[~np.isnan(grid)]
            if np.all(finite == np.round(finite)):          # counts: integer ticks only
                from matplotlib.ticker import MaxNLocator
                bar.locator = MaxNLocator(integer=True)
                bar.update_ticks()
        ax.set_xlabel(sec.xlabel or sec.x)
        ax.set_ylabel(sec.ylabel or sec.y)
    return fig


def save_png(fig, path: Path) -> None:
    fig.savefig(path, format="png", dpi=150, facecolor="white")


def save_vector(fig, stem: Path) -> list[Path]:
    """The figure as SVG (text kept as text: editable, searchable) and PDF (TrueType fonts
    embedded, as journals ask), for a paper; returns the two paths."""
    import matplotlib as mpl

    paths = [stem.with_suffix(".svg"), stem.with_suffix(".pdf")]
    with mpl.rc_context({"svg.fonttype": "none", "pdf.fonttype": 42, "svg.hashsalt": "harness"}):
        fig.savefig(paths[0], format="svg", facecolor="white", metadata={"Date": None})
        fig.savefig(paths[1], format="pdf", facecolor="white", metadata={"CreationDate": None})
    return paths
