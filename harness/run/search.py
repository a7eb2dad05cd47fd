"""`harness search GRID`: the grid's `search:` block on Ray Tune, one search per cell (train_mix,
K), every search trial stored, the best settings per cell written as a grid fragment.

Search trials are TrialSpecs with `eval.split: valid` over the training domains, capped to
`valid_samples` rows per domain spread over the split (early stopping reads the same rows): no
test row is read. Each finished trial is stored like any trial (trials / metrics / predictions,
split `valid`); every Tune trial, the ones ASHA stopped included, gets a `search_trials` row
(settings, objective, validation passes, whether it was chosen).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.core import provenance
from harness.core.errors import HarnessError
from harness.core.methods import method_info
from harness.core.spec import EvalSpec, TrialSpec
from harness.grid import GridSpec, load_grid
from harness.grid.search import MIN_VALID_ROWS, SearchSpec
from harness.run.search_resume import searched_cells
from harness.run.runner import prepare_store, resolve_grid_path, storage_root, tune_options
from harness.run.store import Store


@dataclass
class CellOutcome:
    cell: str
    trials: list = field(default_factory=list)     # harness.tune.search.SearchTrial
    chosen: dict | None = None                      # the best complete trial's settings
    objective: float | None = None
    reused_from: str | None = None                  # an earlier search run's id (not searched again)


@dataclass
class SearchReport:
    run_id: str = ""
    chosen_path: Path | None = None
    cells: list[CellOutcome] = field(default_factory=list)
    seconds: float = 0.0


def search_grid(path: str | Path) -> tuple[Path, GridSpec, SearchSpec]:
    grid_path = resolve_grid_path(path)
    grid = load_grid(grid_path)
    if grid.search is None:
        raise HarnessError(f"{grid_path}: no `search:` block (docs/running.md, \"Choosing the "
                           "protocol on validation\")")
    return grid_path, grid, grid.search


def small_validation(search: SearchSpec) -> str | None:
    if search.valid_samples < MIN_VALID_ROWS:
        return (f"search.valid_samples is {search.valid_samples}: fewer than {MIN_VALID_ROWS} "
                "validation rows per domain make the choice noise; use this only to test the set-up")
    return None


def base_specs(grid: GridSpec, search: SearchSpec) -> dict[str, TrialSpec]:
    """Per cell, the spec every search trial starts from: the grid's blocks, validation on
    `valid_samples` spread rows of the training domains, and the valid split as its eval split."""
    info = method_info(search.method)
    model = grid.block(search.method, "model").model_dump(mode="json") if info.uses_llm else None
    params = {b: grid.block(search.method, b).model_dump(mode="json") for b in info.blocks_for(search.variant)}
    if "training" in params:
        params["training"] = {**params["training"], "valid_max_samples": search.valid_samples}
    out = {}
    for mix in search.train_mix:
        for k in search.k:
            probe = TrialSpec(method=search.method, variant=search.variant, train_mix=mix, k=k)
            data = grid.data.model_copy(update={"subset": "spread", "datasets": grid.declared_for(mix)})
            out[f"{mix}@K{k}"] = TrialSpec(
                method=search.method, variant=search.variant, train_mix=mix, k=k, seed=search.seed,
                model=model, params=params, data=data,
                eval=EvalSpec(domains=probe.train_domains, split="valid", max_samples=search.valid_samples))
    return out


def chosen_path(grid_path: Path, search: SearchSpec) -> Path:
    if search.output:
        return Path(search.output)
    return grid_path.with_name(grid_path.name.removesuffix(".yaml").removesuffix(".search") + ".chosen.yaml")


def pick(trials, mode: str):
    done = [t for t in trials if t.status == "complete" and t.objective is not None]
    if not done:
        return None
    return (max if mode == "max" else min)(done, key=lambda t: t.objective)


def run_search(path: str | Path, db: str | Path | None = None, raw_dir: str | None = None,
               address: str | None = None, on_cell=None) -> SearchReport:
    from harness.tune.driver import resolve_resources
    from harness.tune.search import run_cell_search
    from harness.tune.session import ray_session

    grid_path, grid, search = search_grid(path)
    store = Store(db or grid.store)
    storage = storage_root(grid, store.path)
    prepare_store(store, storage)
    options = tune_options(grid, storage, address=address, raw_dir=raw_dir)
    space = {name: (rng.kind, rng.values) for name, rng in search.space.items()}
    report, started = SearchReport(), time.perf_counter()
    done = searched_cells(store, grid, search, base_specs)
    with ray_session(options, storage):
        report.run_id = store.begin_run(grid.name, grid.model_dump(mode="json", by_alias=True),
                                        host=provenance.host(), git_sha=provenance.git_state()[0])
        status = "failed"
        try:
            for cell, base in base_specs(grid, search).items():
                if cell in done:          # searched by an earlier run with this very search
                    outcome = reuse_cell(cell, *done[cell], search)
                    report.cells.append(outcome)
                    if on_cell:
                        on_cell(outcome)
                    continue
                # as `harness run` gives the cell's trials ("auto" resolved, checked on the nodes)
                cpus, gpus = resolve_resources([base], options, strict=not options.address)[base.trial_id]
                trials = run_cell_search(base, space, metric=search.metric, mode=search.direction,
                                         num_samples=search.num_samples, scheduler=search.scheduler.model_dump(),
                                         seed=search.seed, options=options, cpus=cpus, gpus=gpus,
                                         name=f"{report.run_id}-{cell.replace('@', '-')}")
                outcome = CellOutcome(cell, trials)
                best = pick(trials, search.direction)
                if best is not None:
                    outcome.chosen, outcome.objective = best.settings, best.objective
                store_cell(store, report.run_id, outcome, search)
                report.cells.append(outcome)
                if on_cell:
                    on_cell(outcome)
            status = "finished" if all(c.chosen for c in report.cells) else "failed"
        finally:
            store.end_run(report.run_id, status)
    report.seconds = time.perf_counter() - started
    if any(c.chosen for c in report.cells):
        report.chosen_path = write_chosen(chosen_path(grid_path, search), grid, search, report)
    return report


def reuse_cell(cell: str, run_id: str, trials: list, search: SearchSpec) -> CellOutcome:
    """An earlier run's search of this cell, its choice made again by the same rule."""
    outcome = CellOutcome(cell, trials, reused_from=run_id)
    best = pick(trials, search.direction)
    if best is not None:
        outcome.chosen, outcome.objective = best.settings, best.objective
    return outcome


def store_cell(store: Store, run_id: str, outcome: CellOutcome, search: SearchSpec) -> None:
    """Every finished search trial into the trial tables (split `valid`), every Tune trial into
    `search_trials`."""
    for trial in outcome.trials:
        if trial.result is not None:
            store.write_result(trial.result, run_id)
    with store.writer() as con:
        for trial in outcome.trials:
            con.execute(
                "INSERT OR REPLACE INTO search_trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [run_id, outcome.cell, trial.tune_trial, trial.result.trial_id if trial.result else None,
                 json.dumps(trial.settings), search.metric, search.direction, trial.objective, trial.status,
                 len(trial.history), json.dumps(trial.history),
                 outcome.chosen is not None and trial.settings == outcome.chosen
                 and trial.objective == outcome.objective])


def write_chosen(path: Path, grid: GridSpec, search: SearchSpec, report: SearchReport) -> Path:
    """The grid fragment a study grid reads with `protocol: {from: <this file>}`."""
    cells = {c.cell: c.chosen for c in report.cells if c.chosen}
    header = (f"# Chosen by `harness search` ({grid.name}, run {report.run_id}): per cell, the settings\n"
              f"# with the best validation {search.metric} ({search.direction}) over {search.valid_samples} "
              f"spread valid rows per domain;\n# no test row was read. Objectives: "
              + ", ".join(f"{c.cell} {c.objective:.4f}" for c in report.cells if c.chosen) + "\n"
              + "".join(f"# {c.cell}: chosen by the earlier search run {c.reused_from} (not searched again)\n"
                        for c in report.cells if c.chosen and c.reused_from))
    source = {"search_run": report.run_id, "search_grid": grid.name,
              "metric": search.metric, "valid_samples": search.valid_samples}
    if any(c.reused_from for c in report.cells if c.chosen):   # a resumed search: an earlier run chose those
        source["cell_runs"] = {c.cell: c.reused_from or report.run_id for c in report.cells if c.chosen}
    body = {"protocol": {"source": source, "cells": cells}}
    try:
        path.write_text(header + yaml.safe_dump(body, sort_keys=False), encoding="utf-8")
    except OSError as exc:
        raise HarnessError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
