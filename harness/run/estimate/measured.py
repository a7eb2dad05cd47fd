"""What a stored run of a grid actually took, from the store alone.

  busy wall     the time during which at least one of the grid's stored trials was running: the
                union of their [started_at, finished_at]. A grid run in stages, stopped and
                resumed, counts no gap between runs and no attempt that was lost (the store keeps
                a trial's last attempt); a stage's idle tail (fewer trials than slots) counts.
  run spans     the sum over the runs that stored those trials of run start to run end (a run
                that never ended, killed: to its last stored trial's end): includes Ray start-up,
                idle tails and lost attempts, excludes the gaps between runs.
  trial-hours   the sum of the trials' wall seconds.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass
class Measured:
    trials: int
    busy_s: float
    run_spans_s: float
    trial_s: float
    runs: int
    first: str
    last: str


def _union_s(intervals: list[tuple[pd.Timestamp, pd.Timestamp]]) -> float:
    total, end = 0.0, None
    for start, stop in sorted(intervals):
        if end is None or start > end:
            total += (stop - start).total_seconds()
            end = stop
        elif stop > end:
            total += (stop - end).total_seconds()
            end = stop
    return total


def measured(trials: pd.DataFrame, runs: pd.DataFrame, trial_ids: set[str]) -> Measured | None:
    """None when the store holds none of `trial_ids` with start and end times."""
    mine = trials[trials.trial_id.isin(trial_ids)].dropna(subset=["started_at", "finished_at"])
    if mine.empty:
        return None
    busy = _union_s(list(zip(pd.to_datetime(mine.started_at), pd.to_datetime(mine.finished_at))))
    spans = 0.0
    last_end = mine.groupby("run_id").finished_at.max()
    for run in runs[runs.run_id.isin(set(mine.run_id))].itertuples(index=False):
        end = run.finished_at if pd.notna(run.finished_at) else last_end[run.run_id]
        spans += (pd.Timestamp(end) - pd.Timestamp(run.started_at)).total_seconds()
    return Measured(len(mine), busy, spans, float(mine.wall_s.sum()), int(mine.run_id.nunique()),
                    str(pd.Timestamp(mine.started_at.min()))[:19], str(pd.Timestamp(mine.finished_at.max()))[:19])
