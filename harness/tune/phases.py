"""Trial order (pure; unit-tested): first-phase trials first (tallrec AT builds the AT adapters),
and a trial that carries every config block of a first-phase trial with the same model (tallrec
`full`, icl `alpaca-lora`) waits until those trials (the same seed's, when there are any) end."""
from __future__ import annotations

from harness.core.methods import method_info
from harness.core.spec import TrialSpec


def dependencies(specs: list[TrialSpec]) -> dict[str, set[str]]:
    """trial_id -> ids of the first-phase trials it must wait for (among `specs`)."""
    first = [s for s in specs if s.variant in method_info(s.method).first_phase_variants]
    deps: dict[str, set[str]] = {s.trial_id: set() for s in specs}
    if not first:
        return deps
    for spec in specs:
        if spec.variant in method_info(spec.method).first_phase_variants:
            continue
        feeds = [f for f in first if f.model == spec.model and f.params
                 and all(spec.params.get(b) == v for b, v in f.params.items())]
        same_seed = [f for f in feeds if f.seed == spec.seed]
        deps[spec.trial_id] = {f.trial_id for f in (same_seed or feeds)}
    return deps


def launch_order(specs: list[TrialSpec]) -> list[TrialSpec]:
    """First-phase trials, then LLM and other trials interleaved (both kinds of slot stay busy)."""
    first, llm, other = [], [], []
    for s in specs:
        info = method_info(s.method)
        (first if s.variant in info.first_phase_variants else llm if info.uses_llm else other).append(s)
    mixed = [s for pair in zip(llm, other) for s in pair]
    n = min(len(llm), len(other))
    return first + mixed + llm[n:] + other[n:]
