"""`estimate(...)`: a grid's trials, their predicted costs, and the simulated run on the devices
given (one scenario per GPU count), beside what the store measured for the same trials."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.core.errors import HarnessError
from harness.core.methods import method_info
from harness.core.spec import TrialSpec
from harness.grid import GridSpec, expand, load_grid
from harness.run.estimate.costs import CostTable, TrialCost, stored_refs
from harness.run.estimate.gpu_model import GPUModel, load_gpu_model
from harness.run.estimate.measured import Measured, measured
from harness.run.estimate.schedule import Job, simulate
from harness.run.estimate.source import load_costs
from harness.tune.phases import dependencies, launch_order

CPUS_PER_GPU = 8   # the default --cpus with --gpus: a typical GPU node's CPUs per GPU


@dataclass
class Scenario:
    cpus: float
    gpus: int
    makespan_s: float
    gpu_hours: float
    cpu_hours: float
    peak_running: int
    costs: list[TrialCost] = field(default_factory=list)
    start: dict[str, float] = field(default_factory=dict)

    @property
    def unknown(self) -> list[TrialCost]:
        return [c for c in self.costs if c.seconds is None]


@dataclass
class Estimate:
    grid: GridSpec
    grid_path: Path
    costs_path: Path
    stored_trials: int
    scenarios: list[Scenario]
    measured: Measured | None
    model: GPUModel
    direct: bool

    @property
    def uses_gpu_model(self) -> bool:
        return any(c.basis == "gpu model" for s in self.scenarios for c in s.costs)


def resources(grid: GridSpec, spec: TrialSpec, gpus: int) -> tuple[float, float]:
    cpus, g = grid.resources_for(spec.method, method_info(spec.method).uses_llm)
    return cpus, (1.0 if gpus > 0 else 0.0) if g == "auto" else float(g)


def _scenario(grid: GridSpec, specs: list[TrialSpec], table: CostTable, cpus: float, gpus: int,
              direct: bool) -> Scenario:
    costs = []
    for spec in specs:
        c, g = resources(grid, spec, gpus)
        if c > cpus or g > gpus:
            raise HarnessError(f"{spec.label()} needs {c:g} CPU and {g:g} GPU per trial, more than "
                               f"the {cpus:g} CPU / {gpus} GPU given (--cpus / --gpus)")
        costs.append(table.cost(spec, c, g, direct=direct))
    known = {c.spec.trial_id: c for c in costs if c.seconds is not None}
    deps = dependencies(specs)
    jobs = [Job(s.trial_id, known[s.trial_id].seconds, known[s.trial_id].cpus, known[s.trial_id].gpus,
                frozenset(deps.get(s.trial_id, ())))
            for s in launch_order(specs) if s.trial_id in known]
    sched = simulate(jobs, cpus, gpus, max_pending=min(len(specs), 256),
                     max_running=grid.ray.max_concurrent_trials)
    return Scenario(cpus, gpus, sched.makespan_s,
                    gpu_hours=sum(c.seconds * c.gpus for c in known.values()) / 3600,
                    cpu_hours=sum(c.seconds * c.cpus for c in known.values()) / 3600,
                    peak_running=sched.peak_running, costs=costs, start=sched.start)


def estimate(grid_path: str | Path, costs_path: str | Path, gpus: list[int] | None = None,
             cpus: float | None = None, assumptions: str | Path | None = None,
             direct: bool = True) -> Estimate:
    if cpus is not None and cpus <= 0:
        raise HarnessError(f"--cpus must be above 0 (got {cpus:g})")
    for n in gpus or []:
        if n < 1:
            raise HarnessError(f"--gpus must be 1 or more (got {n}); leave it out for a CPU-only estimate")
    model = load_gpu_model(assumptions)
    grid = load_grid(grid_path)
    specs = expand(grid)
    stored = load_costs(costs_path)
    table = CostTable(stored_refs(stored.trials), model)
    scenarios = []
    for n in gpus or [0]:
        c = cpus or grid.ray.num_cpus or (CPUS_PER_GPU * n if n else os.cpu_count() or 1)
        scenarios.append(_scenario(grid, specs, table, float(c), n, direct))
    ids = {s.trial_id for s in specs}
    return Estimate(grid, Path(grid_path), Path(costs_path), len(stored.trials), scenarios,
                    measured(stored.trials, stored.runs, ids), model, direct)
