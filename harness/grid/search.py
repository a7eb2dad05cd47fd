"""The grid's `search:` block (a protocol search on validation rows) and `protocol:` block (a grid
that uses what a search chose). Pure: no Ray; harness.tune.search turns ranges into Tune domains.

    search:
      method: tallrec
      variant: RT
      train_mix: [movie, book]
      k: [64, 256]                       # one search per (train_mix, K) cell
      metric: uauc                       # auc | uauc | logloss, on the valid split
      num_samples: 8
      valid_samples: 256                 # rows per domain, spread over the valid split
      scheduler: {name: asha, grace_period: 1, reduction_factor: 2}
      space:
        training.learning_rate: {loguniform: [1.0e-4, 1.0e-3]}
        training.batch_size: {choice: [4, 8, 16]}
        training.steps.per_sample: {uniform: [0.25, 1.0]}
        lora.r: {grid: [4, 8]}
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

from harness.core.objective import better_direction
from harness.core.registry import UnknownName

MIN_VALID_ROWS = 256   # fewer validation rows per domain: a search's choice is noise (warned)
KINDS = ("choice", "grid", "loguniform", "uniform")


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Range(_Strict):
    """Exactly one of: choice / grid (a list of values), loguniform / uniform ([low, high])."""
    choice: list[Any] | None = None
    grid: list[Any] | None = None
    loguniform: tuple[float, float] | None = None
    uniform: tuple[float, float] | None = None

    @model_validator(mode="after")
    def _one(self):
        given = [k for k in KINDS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"a range is exactly one of {', '.join(KINDS)} (got {', '.join(given) or 'none'})")
        kind = given[0]
        value = getattr(self, kind)
        if kind in ("choice", "grid") and not value:
            raise ValueError(f"{kind}: needs at least one value")
        if kind in ("loguniform", "uniform"):
            low, high = value
            if not low < high:
                raise ValueError(f"{kind}: low {low:g} must be below high {high:g}")
            if kind == "loguniform" and low <= 0:
                raise ValueError(f"loguniform: low {low:g} must be above 0")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in KINDS if getattr(self, k) is not None)

    @property
    def values(self) -> list:
        """Values that stand for the range when checking it (its ends, or every listed value)."""
        return list(getattr(self, self.kind))


class Scheduler(_Strict):
    # asha: ASHAScheduler over validation passes (training_iteration); fifo: every trial to its end
    name: Literal["asha", "fifo"] = "asha"
    grace_period: StrictInt = Field(default=1, ge=1)
    reduction_factor: float = Field(default=2, gt=1)
    # ASHA's last rung, in reports: a trial reports at most max_t - 1 validation passes, then its
    # final objective (later passes still run and still choose the restored adapter)
    max_t: StrictInt = Field(default=100, ge=2)


class SearchSpec(_Strict):
    method: str = "tallrec"
    variant: str | None = "RT"
    train_mix: list[str]
    k: list[StrictInt]
    seed: StrictInt = Field(default=0, ge=0)    # the trials' seed, and the sampler's
    metric: str = "auc"
    mode: Literal["max", "min"] | None = None   # default: the metric's better direction
    num_samples: StrictInt = Field(default=8, ge=1)
    valid_samples: StrictInt = Field(default=MIN_VALID_ROWS, ge=1)
    scheduler: Scheduler = Scheduler()
    space: dict[str, Range]
    output: str | None = None                   # default: <grid file stem>.chosen.yaml beside it

    @model_validator(mode="after")
    def _metric(self):
        try:
            better_direction(self.metric)
        except UnknownName as exc:              # pydantic reports ValueErrors as grid errors
            raise ValueError(str(exc)) from None
        if not self.space:
            raise ValueError("space: name at least one setting to explore (e.g. training.learning_rate)")
        return self

    @property
    def direction(self) -> str:
        return self.mode or better_direction(self.metric)

    def cells(self) -> list[str]:
        return [cell_name(mix, k) for mix in self.train_mix for k in self.k]


class ProtocolRef(_Strict):
    """`protocol: {from: grids/x.chosen.yaml, use: {movie-users: movie}}`; load_grid reads the file
    into `source` / `cells`. `use` lets a train_mix that was not searched take another's choice."""
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from")
    # train_mix -> the searched train_mix whose choice it takes, e.g. {movie-users: movie}
    use: dict[str, str] = {}
    # Filled from the file: the search run that chose, its metric, the settings per cell.
    source: dict[str, Any] = {}
    cells: dict[str, dict[str, Any]] = {}

    def for_cell(self, train_mix: str | None, k: int) -> tuple[str, dict] | None:
        """(cell name, settings) for a trained trial: its own cell, else the searched cell of the
        same train_mix with the nearest K (documented: a steps rule carries over; see running.md)."""
        if train_mix is None:
            return None
        train_mix = self.use.get(train_mix, train_mix)
        own = cell_name(train_mix, k)
        if own in self.cells:
            return own, self.cells[own]
        same = [(abs(int(name.rsplit("@K", 1)[1]) - k), name) for name in self.cells
                if name.rsplit("@K", 1)[0] == train_mix]
        if not same:
            return None
        name = min(same)[1]
        return name, self.cells[name]


def cell_name(train_mix: str, k: int) -> str:
    return f"{train_mix}@K{k}"
