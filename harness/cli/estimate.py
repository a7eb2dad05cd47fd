"""`harness estimate GRID --costs STORE [--gpus N [N ...]] [--cpus N] [--json PATH]`: a grid's wall
time and device-hours, predicted from the per-phase costs of the trials stored in STORE (a
`.duckdb` store or a `harness store dump` folder) by a simulation of `harness run`'s scheduling
(harness.run.estimate). Reads only; writes nothing but --json."""
from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from rich.console import Console
from rich.table import Table


def add_arguments(parser) -> None:
    parser.add_argument("grid", help="a grid.yaml (or a shipped grid's name)")
    parser.add_argument("--costs", required=True, metavar="STORE",
                        help="past trials to learn costs from: a .duckdb store or a Parquet dump folder")
    parser.add_argument("--gpus", type=int, nargs="+", metavar="N",
                        help="GPUs in the cluster, one estimate per number (default: none, CPUs only)")
    parser.add_argument("--cpus", type=float, default=None,
                        help="CPUs in the cluster (default: the grid's ray.num_cpus, else 8 per GPU "
                             "with --gpus, else this machine's)")
    parser.add_argument("--assumptions", default=None, metavar="YAML",
                        help="model sizes and the GPU cost model (default: the shipped "
                             "harness/run/estimate/assumptions.yaml)")
    parser.add_argument("--held-out", action="store_true",
                        help="never use a trial's own cell (any seed): scale every trial from other "
                             "cells, to test the scaling on a store that holds the whole grid")
    parser.add_argument("--json", default=None, metavar="PATH", help="also write the estimate as JSON")


def _t(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds >= 3600:
        return f"{seconds / 3600:.2f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.1f} s"


def _groups(costs) -> dict:
    groups = defaultdict(list)
    for c in costs:
        groups[(c.spec.method, c.spec.variant or "", c.basis)].append(c)
    return groups


def _cost_table(scenario) -> Table:
    table = Table(title="Cost per trial (first device count)", title_justify="left")
    for col in ("method", "variant", "trials", "CPU/GPU", "per trial", "basis", "how (largest trial)"):
        table.add_column(col, overflow="fold", justify="right" if col in ("trials", "per trial") else "left")
    for (method, variant, basis), cs in _groups(scenario.costs).items():
        known = [c.seconds for c in cs if c.seconds is not None]
        big = max(cs, key=lambda c: c.seconds or 0)
        table.add_row(method, variant, str(len(cs)), f"{big.cpus:g}/{big.gpus:g}",
                      _t(sum(known) / len(known)) if known else "-", basis,
                      big.note if basis == "direct" else f"{big.spec.label()}: {big.note}")
    return table


def _makespan_table(est) -> Table:
    table = Table(title=f"Estimate: {est.grid.name} ({len(est.scenarios[0].costs)} trials)",
                  title_justify="left")
    for col in ("CPUs", "GPUs", "wall time", "GPU-hours", "CPU-hours", "trials at once", "left out"):
        table.add_column(col, justify="right")
    for s in est.scenarios:
        table.add_row(f"{s.cpus:g}", str(s.gpus), _t(s.makespan_s), f"{s.gpu_hours:,.1f}",
                      f"{s.cpu_hours:,.1f}", str(s.peak_running), str(len(s.unknown)))
    return table


def _payload(est) -> dict:
    m = est.measured
    return {
        "grid": str(est.grid_path), "name": est.grid.name, "costs": str(est.costs_path),
        "stored_trials": est.stored_trials, "held_out": not est.direct,
        "assumptions": {"file": str(est.model.path), **({k: v for k, v in est.model.describe()}
                                                        if est.uses_gpu_model else {})},
        "measured": None if m is None else {
            "trials": m.trials, "busy_wall_s": m.busy_s, "run_spans_s": m.run_spans_s,
            "trial_s": m.trial_s, "runs": m.runs, "first_start": m.first, "last_end": m.last},
        "scenarios": [{
            "cpus": s.cpus, "gpus": s.gpus, "wall_s": s.makespan_s, "gpu_hours": s.gpu_hours,
            "cpu_hours": s.cpu_hours, "peak_running": s.peak_running, "left_out": len(s.unknown),
            "trials": [{"trial_id": c.spec.trial_id, "label": c.spec.label(), "method": c.spec.method,
                        "variant": c.spec.variant, "train_mix": c.spec.train_mix, "k": c.spec.k,
                        "seed": c.spec.seed, "cpus": c.cpus, "gpus": c.gpus, "seconds": c.seconds,
                        "start_s": s.start.get(c.spec.trial_id), "basis": c.basis, "note": c.note,
                        "phases": c.phases} for c in s.costs]} for s in est.scenarios],
    }


def main(args) -> int:
    from harness.core.errors import HarnessError
    from harness.run.estimate import estimate
    from harness.run.runner import resolve_grid_path

    est = estimate(resolve_grid_path(args.grid), args.costs, gpus=args.gpus, cpus=args.cpus,
                   assumptions=args.assumptions, direct=not args.held_out)
    console = Console()
    console.print(f"{est.grid_path}: costs from {est.costs_path} ({est.stored_trials} complete trials"
                  f"{'; held out: no trial from its own cell' if not est.direct else ''})", highlight=False)
    console.print(_cost_table(est.scenarios[0]))
    console.print(_makespan_table(est))
    console.print("Simulated as `harness run` schedules (launch order, first-phase trials before "
                  "the trials that wait on them, FIFO with packing); each trial's duration as stored "
                  "or scaled, no contention model; CPUs pooled across nodes.", highlight=False)
    unknown = est.scenarios[0].unknown
    if unknown:
        console.print(f"[yellow]{len(unknown)} trial(s) have nothing to estimate from and are left "
                      f"out of the wall time[/] (e.g. {unknown[0].spec.label()}: {unknown[0].note})",
                      highlight=False)
    m = est.measured
    if m is not None and m.busy_s > 0:
        first = est.scenarios[0]
        console.print(
            f"Measured in the store, {m.trials} of this grid's {len(first.costs)} trials over {m.runs} "
            f"run(s), {m.first} to {m.last}: busy wall {_t(m.busy_s)} (time with at least one of "
            f"them running: no gaps between runs, no lost attempts), run spans {_t(m.run_spans_s)}, "
            f"{m.trial_s / 3600:.2f} trial-hours. Estimate at {first.cpus:g} CPU / {first.gpus} GPU: "
            f"{_t(first.makespan_s)} ({(first.makespan_s / m.busy_s - 1) * 100:+.1f}% of the busy wall).",
            highlight=False)
    if est.uses_gpu_model:
        table = Table(title=f"GPU cost model (assumptions: {est.model.path})", title_justify="left")
        table.add_column("assumption")
        table.add_column("value", overflow="fold")
        for key, value in est.model.describe():
            table.add_row(key, value)
        console.print(table)
    if args.json:
        try:
            Path(args.json).write_text(json.dumps(_payload(est), indent=1, default=str) + "\n")
        except OSError as exc:
            raise HarnessError(f"--json: cannot write {args.json} ({exc.strerror or exc})") from None
        console.print(f"wrote {args.json}", highlight=False)
    return 0
