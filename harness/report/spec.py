"""The report spec: a YAML list of sections, each a SQL query plus a view.

See docs/reports.md for the format. Every model forbids unknown keys, so a typo in a spec is an
error that names the key, not a silently ignored option.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from harness.core.errors import HarnessError, one_line  # noqa: F401 - one_line is re-exported

BUILTIN_QUERIES = Path(__file__).parent / "queries"


class ReportError(HarnessError):
    """A report problem the user can act on: a bad spec, a broken query, a missing column."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SqlSource(_Model):
    """SQL given inline (`sql`) or as a file (`query`, resolved next to the spec, then in
    the spec's `queries/` folder, then in the built-in queries)."""
    sql: str | None = None
    query: str | None = None

    @model_validator(mode="after")
    def _one_source(self):
        if (self.sql is None) == (self.query is None):
            raise ValueError("give exactly one of `sql` (inline SQL) or `query` (a .sql file)")
        return self


class Overlay(SqlSource):
    """Published numbers drawn over the reproduction (same key columns as the section)."""
    label: str = "paper"


class Significance(_Model):
    """Mark the `target` column's cell when it beats every other column in the row."""
    target: str
    against: list[Any] | None = None       # default: every other column of the row
    alpha: float = Field(0.01, gt=0, lt=1)
    alternative: Literal["greater", "less", "two-sided"] = "greater"
    equal_var: bool = False                 # False: Welch's t-test
    mark: str = "‡"


class BootstrapCI(_Model):
    """Where each replicate's predictions live, for `--ci`: a bootstrap over the test set (users
    or samples, `harness report --ci-unit`)."""
    trial_id: str = "trial_id"
    eval_domain: str = "eval_domain"
    # e.g. 100 when the table shows AUC x 100; default: the metric's own scale in a metric
    # section (title with {metric}), 1 elsewhere
    scale: float | None = None


class Style(_Model):
    color: str | None = None
    marker: str | None = None
    linestyle: str | None = None
    linewidth: float | None = None
    band_alpha: float | None = Field(None, ge=0, le=1)   # opacity of its seed-spread band


class _Section(SqlSource):
    id: str | None = None
    title: str
    group: str | None = None                # a heading shared by consecutive sections
    caption: str | None = None
    empty: str = "No rows yet."              # shown when the query returns nothing
    show_sql: bool = True
    # Declared values per column, in display order: rows, columns, series, facets, x
    # categories. Declared values always get a cell / panel, so a method or K that has not
    # run yet shows as empty rather than vanishing.
    order: dict[str, list[Any]] = Field(default_factory=dict)
    overlay: Overlay | None = None

    @field_validator("id")
    @classmethod
    def _plain_id(cls, value):
        # The id names the section's files in --out: a path in it would write elsewhere.
        if value is not None and not _PLAIN_ID.fullmatch(value):
            raise ValueError(f"id {value!r} must be a plain name (letters, digits, - and _, "
                             "at most 60), not a path")
        return value

    def columns_used(self) -> list[str]:
        return []

    @property
    def key(self) -> str:
        return self.id or _slug(self.title)


class TableSection(_Section):
    """`rows` + `columns` + `value`: a pivot of replicate rows (one per seed) into mean ± std
    (n); without them, the query's result as it is."""
    view: Literal["table"]
    rows: list[str] = Field(default_factory=list)
    columns: str | None = None
    value: str | None = None
    decimals: int = Field(2, ge=0, le=8)
    best: Literal["max", "min"] | None = None
    significance: Significance | None = None
    ci: BootstrapCI | None = None
    note: str | None = None                 # a column saying why a value is missing (in the CSV)

    @model_validator(mode="after")
    def _pivot(self):
        pivot = (self.columns, self.value)
        if any(p is not None for p in pivot) or self.rows:
            if not (self.rows and self.columns and self.value):
                raise ValueError("a pivot table needs all of `rows`, `columns` and `value`")
        elif self.best or self.significance or self.ci:
            raise ValueError("`best`, `significance` and `ci` need a pivot (`rows`, `columns`, `value`)")
        if self.overlay and not self.columns:
            raise ValueError("`overlay` on a table needs a pivot (`rows`, `columns`, `value`)")
        return self

    def columns_used(self) -> list[str]:
        used = list(self.rows) + [c for c in (self.columns, self.value, self.note) if c]
        if self.ci:
            used += [self.ci.trial_id, self.ci.eval_domain]
        return used


class _Figure(_Section):
    xlabel: str | None = None
    ylabel: str | None = None
    width: float = Field(4.6, gt=1, le=20)   # inches per panel
    height: float = Field(3.6, gt=1, le=20)


class LineSection(_Figure):
    view: Literal["line"]
    x: str
    y: str
    series: str | None = None
    facet: str | None = None                # one panel per value
    facet_label: str | None = None          # panel title prefix, e.g. "Test domain"
    band: tuple[str, str] | None = None     # columns (low, high) for a shaded band
    logx: float | None = Field(None, gt=1)  # log base for the x axis, e.g. 2
    ylim: tuple[float, float] | None = None
    xticks: list[float] | None = None       # fixed tick places (default: every x value, up to 12)

    def columns_used(self) -> list[str]:
        return [c for c in (self.x, self.y, self.series, self.facet) if c] + list(self.band or ())


class _FigureWithoutOverlay(_Figure):
    """Bar and heatmap views: published numbers cannot be drawn on them."""

    @model_validator(mode="after")
    def _no_overlay(self):
        if self.overlay:
            raise ValueError("`overlay` is supported on `table` and `line` views only")
        return self


class BarSection(_FigureWithoutOverlay):
    view: Literal["bar"]
    x: str
    y: str
    series: str | None = None
    error: str | None = None                # column with the error bar's half-width
    logy: bool = False

    def columns_used(self) -> list[str]:
        return [c for c in (self.x, self.y, self.series, self.error) if c]


class HeatmapSection(_FigureWithoutOverlay):
    view: Literal["heatmap"]
    x: str
    y: str
    value: str
    value_label: str | None = None          # colour bar label (with units)
    decimals: int = Field(2, ge=0, le=8)
    cmap: str = "cividis"                   # perceptually uniform, colour-blind safe
    vmin: float | None = None               # colour scale limits (default: the data's range)
    vmax: float | None = None

    def columns_used(self) -> list[str]:
        return [self.x, self.y, self.value]


VIEWS = ("table", "line", "bar", "heatmap")
Section = Annotated[Union[TableSection, LineSection, BarSection, HeatmapSection],
                    Field(discriminator="view")]


class ReportSpec(_Model):
    name: str
    title: str
    description: str | None = None
    setup: str | list[str] | None = None     # SQL run first (macros, temp views): inline or .sql
    styles: dict[str, Style] = Field(default_factory=dict)   # per series name
    sections: list[Section] = Field(min_length=1)

    _base_dir: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _unique_ids(self):
        seen: set[str] = set()
        for section in self.sections:
            if section.key in seen:
                raise ValueError(f"two sections share the id {section.key!r}; give one an `id`")
            seen.add(section.key)
        return self

    @property
    def base_dir(self) -> Path | None:
        return self._base_dir

    def resolve_sql(self, source: SqlSource | str, what: str) -> str:
        """The SQL text of an inline snippet or a .sql file."""
        if isinstance(source, str):
            text_or_file = source
            is_file = source.strip().endswith(".sql") and "\n" not in source.strip()
        else:
            text_or_file = source.sql if source.sql is not None else source.query
            is_file = source.sql is None
        if not is_file:
            return text_or_file
        if not text_or_file.strip().endswith(".sql"):   # a query file is SQL, not any file
            raise ReportError(f"{what}: query file {text_or_file!r} must be a .sql file")
        path = self.find_query(text_or_file)
        if path is None:
            places = [str(p) for p in self._query_dirs()]
            raise ReportError(f"{what}: query file {text_or_file!r} not found (looked in {', '.join(places)})")
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = "is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else \
                f"cannot be read ({exc.strerror or exc})"
            raise ReportError(f"{what}: query file {path} {reason}") from None

    def _query_dirs(self) -> list[Path]:
        dirs = []
        if self._base_dir is not None:
            dirs += [self._base_dir, self._base_dir / "queries"]
        dirs.append(BUILTIN_QUERIES)
        return dirs

    def find_query(self, name: str) -> Path | None:
        candidate = Path(name)
        if candidate.is_absolute():
            return candidate if candidate.is_file() else None
        for folder in self._query_dirs():
            if (folder / candidate).is_file():
                return folder / candidate
        return None

    def setup_sql(self) -> list[str]:
        items = [self.setup] if isinstance(self.setup, str) else list(self.setup or [])
        return [self.resolve_sql(item, "report setup") for item in items]


_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,59}")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


def parse_spec(data: Any, base_dir: Path | None = None, origin: str = "report spec") -> ReportSpec:
    from pydantic import ValidationError

    if not isinstance(data, dict):
        raise ReportError(f"{origin}: expected a mapping with `name`, `title` and `sections`")
    for i, section in enumerate(data.get("sections") or [], start=1):
        if isinstance(section, dict) and section.get("view") not in VIEWS:
            title = section.get("title") or section.get("id") or "untitled"
            raise ReportError(f"{origin}: section {i} ({title!r}) has view {section.get('view')!r}; "
                              f"use one of {', '.join(VIEWS)}")
    try:
        spec = ReportSpec.model_validate(data)
    except ValidationError as exc:
        raise ReportError(f"{origin} is invalid: {_describe(exc, data)}") from None
    spec._base_dir = base_dir
    return spec


def _describe(exc, data) -> str:
    """Pydantic's errors as one line, naming the section by its title where possible."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        where = ".".join(str(p) for p in loc)
        if len(loc) >= 2 and loc[0] == "sections" and isinstance(loc[1], int):
            sections = data.get("sections") or []
            if loc[1] < len(sections) and isinstance(sections[loc[1]], dict):
                title = sections[loc[1]].get("title") or sections[loc[1]].get("id")
                rest = ".".join(str(p) for p in loc[2:] if p not in ("table", "line", "bar", "heatmap"))
                where = f"section {loc[1] + 1} ({title!r})" + (f" field {rest}" if rest else "")
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)
