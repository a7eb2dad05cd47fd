"""Which cells of a search are already done: `harness search` skips a cell that an earlier search
run in the same store searched with the same base spec and the same `search:` block, and takes
its stored trials and choice instead of spending the CPU hours again (a search is hours on a
CPU; sessions and machines end).

The key is recomputed from each earlier run's stored grid (`runs.grid_json`): the base spec's
trial id (stable across harness versions, `ADDED_FIELDS`) and the search block itself. Nothing is
taken on trust from a path: rows whose grid no longer validates are simply not reused.
"""
from __future__ import annotations

import hashlib
import json

from harness.core.spec import TrialSpec
from harness.grid import GridSpec
from harness.grid.search import SearchSpec


def search_key(base: TrialSpec, search: SearchSpec) -> str:
    """What makes two searches of one cell the same search."""
    body = {"base": base.trial_id, "search": search.model_dump(mode="json", exclude={"output"})}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def searched_cells(store, grid: GridSpec, search: SearchSpec, base_specs) -> dict[str, tuple[str, list]]:
    """{cell: (earlier run id, its SearchTrials)} for the cells an earlier run already chose on;
    `base_specs(grid, search) -> {cell: TrialSpec}` is the search's own (harness.run.search)."""
    def cell_keys(grid, search):
        return {cell: search_key(base, search) for cell, base in base_specs(grid, search).items()}

    from harness.tune.search import SearchTrial

    if not store.path.exists():
        return {}
    wanted = cell_keys(grid, search)
    with store.reader() as con:
        runs = con.execute("SELECT DISTINCT s.run_id, r.grid_json FROM search_trials s JOIN runs r "
                           "USING (run_id) WHERE s.chosen ORDER BY s.run_id DESC").fetchall()
        rows = con.execute("SELECT run_id, cell, tune_trial, settings, history, objective, status, chosen "
                           "FROM search_trials ORDER BY run_id, cell, tune_trial").fetchdf()
    found: dict[str, tuple[str, list]] = {}
    for run_id, grid_json in runs:
        try:
            old = GridSpec.model_validate(json.loads(grid_json))
            keys = cell_keys(old, old.search) if old.search is not None else {}
        except (ValueError, TypeError, KeyError):
            continue                      # a grid this harness can no longer read: search again
        for cell, key in keys.items():
            if cell in found or wanted.get(cell) != key:
                continue
            mine = rows[(rows["run_id"] == run_id) & (rows["cell"] == cell)]
            if not mine["chosen"].fillna(False).astype(bool).any():
                continue                  # that run did not finish this cell
            found[cell] = (run_id, [SearchTrial(r.tune_trial, json.loads(r.settings), json.loads(r.history),
                                                None if r.objective != r.objective else r.objective, r.status)
                                    for r in mine.itertuples(index=False)])
    return found
