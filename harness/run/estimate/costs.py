"""Each grid trial's predicted duration, from the stored trials (or the GPU cost model).

In order of preference, among stored trials that ran on the same kind of device (cpu / gpu):
  direct       the same trial (same trial_id) is stored: its wall seconds;
  other seeds  the same cell with other seeds is stored: their mean wall seconds;
  scaled       the nearest stored cell of the same method and variant (same model, same train
               mix, nearest K first): each phase of its mean `timings` times the ratio of the
               phase's work units (`work.py`) and of model sizes; the rest of its wall time
               (start-up, data) unchanged;
  gpu model    an LLM trial on GPUs with no GPU trial to learn from: `gpu_model.py`;
  cpu-measured a non-LLM trial on a GPU share with only CPU trials stored: scaled from those;
  none         nothing to go on (left out of the makespan, listed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from harness.core.methods import method_info
from harness.core.spec import TrialSpec
from harness.run.estimate.gpu_model import GPUModel
from harness.run.estimate.work import Work, work_of


@dataclass
class TrialCost:
    spec: TrialSpec
    cpus: float
    gpus: float
    seconds: float | None
    basis: str
    note: str = ""
    phases: dict[str, float] = field(default_factory=dict)


def kind_of_device(device: str | None) -> str:
    return "cpu" if str(device or "cpu").lower().startswith("cpu") else "gpu"


def _cell(spec: TrialSpec) -> str:
    return spec.model_copy(update={"seed": 0}).trial_id


@dataclass
class _Ref:
    spec: TrialSpec
    kind: str
    wall_s: float
    timings: dict
    extra: dict
    id: str = ""       # the spec's trial_id and cell, computed once (hashing is not free)
    cell: str = ""

    def __post_init__(self):
        self.id, self.cell = self.spec.trial_id, _cell(self.spec)


def stored_refs(trials: pd.DataFrame) -> list[_Ref]:
    refs = []
    for row in trials.itertuples(index=False):
        try:
            spec = TrialSpec.from_json(row.config)
        except Exception:  # noqa: BLE001 - a row this harness cannot read teaches nothing
            continue
        refs.append(_Ref(spec, kind_of_device(row.device), float(row.wall_s or 0.0),
                         dict(row.timings), dict(row.extra)))
    return refs


def _ratio(new: float, old: float) -> float:
    if old > 0:
        return new / old
    return 1.0 if new <= 0 else math.nan


def _score_ratio(new: Work, old: Work, extra: dict) -> float:
    """Test rows scored, weighted by each domain's stored seconds per row where recorded."""
    per = {d: (v.get("seconds", 0) / v["n"]) for d, v in (extra.get("score") or {}).items()
           if isinstance(v, dict) and v.get("n")}
    weight = {d: per.get(d, 1.0) for d in set(new.score_samples) | set(old.score_samples)}
    return _ratio(sum(n * weight[d] for d, n in new.score_samples.items()),
                  sum(n * weight[d] for d, n in old.score_samples.items()))


def scale_phases(ref: _Ref, new: Work, model_ratio: float) -> tuple[dict[str, float], dict[str, float]]:
    """(the new trial's phase seconds, the ratio applied to each phase)."""
    old = work_of(ref.spec)
    llm = model_ratio if ref.spec.model else 1.0
    ratios = {"train_s": _ratio(new.train_examples, old.train_examples) * llm,
              "valid_score_s": _ratio(new.valid_samples, old.valid_samples) * llm,
              "at_s": _ratio(new.at_records, old.at_records) * llm,
              "score_s": _score_ratio(new, old, ref.extra) * llm,
              "load_s": llm}
    phases = {name: float(s) * ratios.get(name, 1.0) for name, s in ref.timings.items()
              if isinstance(s, (int, float))}
    phases["other_s"] = max(ref.wall_s - sum(float(s) for s in ref.timings.values()
                                             if isinstance(s, (int, float))), 0.0)
    return phases, {k: v for k, v in ratios.items() if k in ref.timings}


def _mean_phases(cell: list[_Ref], new: Work, model_ratio: float):
    scaled = [scale_phases(r, new, model_ratio) for r in cell]
    names = {n for phases, _ in scaled for n in phases}
    phases = {n: sum(p.get(n, 0.0) for p, _ in scaled) / len(scaled) for n in sorted(names)}
    return phases, scaled[0][1]


class CostTable:
    """Looks up / scales stored trials for the trials of a grid."""

    def __init__(self, refs: list[_Ref], gpu_model: GPUModel):
        self.gpu_model = gpu_model
        self.by_id: dict[str, list[_Ref]] = {}
        self.by_cell: dict[str, list[_Ref]] = {}
        self.by_method: dict[tuple, list[_Ref]] = {}
        for ref in refs:
            self.by_id.setdefault(ref.id, []).append(ref)
            self.by_cell.setdefault(ref.cell, []).append(ref)
            self.by_method.setdefault((ref.spec.method, ref.spec.variant), []).append(ref)

    def cost(self, spec: TrialSpec, cpus: float, gpus: float, direct: bool = True) -> TrialCost:
        """`direct=False` (held out): never the trial itself, and never its own cell (any seed)
        where another cell of its method and variant is stored: each trial is scaled from
        another cell, a test of the scaling rules on a complete store."""
        kind = "gpu" if gpus > 0 else "cpu"
        out = TrialCost(spec, cpus, gpus, None, "none", "no stored trial of this method and variant")
        tid, own = spec.trial_id, _cell(spec)
        hits = [r for r in self.by_id.get(tid, []) if r.kind == kind] if direct else []
        if hits:
            out.seconds, out.basis, out.note = hits[0].wall_s, "direct", "the stored trial"
            out.phases = {k: float(v) for k, v in hits[0].timings.items() if isinstance(v, (int, float))}
            return out
        seeds = [r for r in self.by_cell.get(own, []) if r.kind == kind and r.id != tid]
        method = [r for r in self.by_method.get((spec.method, spec.variant), []) if r.id != tid]
        candidates = [r for r in method if r.kind == kind and (direct or r.cell != own)]
        if seeds and (direct or not candidates):
            out.seconds = sum(r.wall_s for r in seeds) / len(seeds)
            out.basis, out.note = "other seeds", f"mean of {len(seeds)} stored seed(s) of the same cell"
            return out
        if not candidates and kind == "gpu" and method_info(spec.method).uses_llm:
            out.phases, out.note = self.gpu_model.phases(spec, work_of(spec))
            out.seconds, out.basis = sum(out.phases.values()), "gpu model"
            return out
        if not candidates and kind == "gpu":   # a baseline on a GPU share, only CPU trials stored
            return self._scaled(out, spec, method, cpu_measured=True)
        return self._scaled(out, spec, candidates, cpu_measured=False)

    def _scaled(self, out: TrialCost, spec: TrialSpec, candidates: list[_Ref], cpu_measured: bool):
        new = work_of(spec)
        usable = []
        for ref in candidates:
            ratio = self.gpu_model.model_ratio(new.model, ref.spec.model and ref.spec.model.get("name"))
            if ratio is not None:
                usable.append((ref, ratio))
        if not usable:
            if candidates:
                out.note = "model size unknown (add it to the assumptions' model_params)"
            return out
        def rank(item):
            ref, _ = item
            return (ref.spec.model != spec.model, ref.spec.train_mix != spec.train_mix,
                    ref.spec.eval != spec.eval, abs(math.log((ref.spec.k + 1) / (spec.k + 1))))
        best = min(usable, key=rank)
        # the same K if stored, else the nearest stored K on each side (same model, mix and eval
        # as the best), averaged: one cell's noise (a slowed trial) then moves the estimate half as much
        alike = [u for u in usable if rank(u)[:3] == rank(best)[:3]]
        sides = [best] if best[0].spec.k == spec.k else \
            [min(side, key=rank) for side in ([u for u in alike if u[0].spec.k < spec.k],
                                              [u for u in alike if u[0].spec.k > spec.k]) if side]
        parts = []
        for ref, model_ratio in sides:
            cell = [r for r, _ in usable if r.cell == ref.cell]
            phases, ratios = _mean_phases(cell, new, model_ratio)
            if any(math.isnan(v) for v in phases.values()):
                continue
            how = ", ".join(f"{k.removesuffix('_s')} x{v:.3g}" for k, v in ratios.items() if abs(v - 1) > 1e-9)
            other = f", {ref.spec.model['name']}" if ref.spec.model and ref.spec.model != spec.model else ""
            parts.append((phases, f"{ref.spec.train_mix or 'zero-shot'} K={ref.spec.k} "
                                  f"({len(cell)} trial(s){other}{': ' + how if how else ''})"))
        if not parts:
            out.note = f"cannot scale from {best[0].spec.label()} (a phase it never ran)"
            return out
        names = {n for phases, _ in parts for n in phases}
        out.phases = {n: sum(p.get(n, 0.0) for p, _ in parts) / len(parts) for n in sorted(names)}
        out.seconds = sum(out.phases.values())
        out.basis = "cpu-measured" if cpu_measured else "scaled"
        out.note = ("mean of " if len(parts) > 1 else "from ") + " and ".join(n for _, n in parts)
        return out
        out.phases, out.seconds = phases, sum(phases.values())
        out.basis = "cpu-measured" if cpu_measured else "scaled"
        how = ", ".join(f"{k.removesuffix('_s')} x{v:.3g}" for k, v in ratios.items() if abs(v - 1) > 1e-9)
        ref = best[0].spec
        out.note = (f"from {ref.train_mix or 'zero-shot'} K={ref.k} ({len(cell)} trial(s)"
                    f"{', ' + ref.model['name'] if ref.model and ref.model != spec.model else ''})"
                    + (f": {how}" if how else ""))
        return out
