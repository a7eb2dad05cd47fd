"""expand(grid) -> list[TrialSpec]: pure, deterministic, deduplicated by trial id."""
from __future__ import annotations

from harness.core.methods import method_info
from harness.core.spec import TrialSpec
from harness.core.settings import apply_settings
from harness.grid.schema import GridSpec, selected_variants


def expand(grid: GridSpec) -> list[TrialSpec]:
    """Every trial of the grid, in grid order (method, model, variant, train mix, K, seed), no
    duplicates. A method that uses no LLM gets model None, so the model axis collapses for it."""
    axes = grid.grid
    specs: dict[str, TrialSpec] = {}
    for method in axes.method:
        info = method_info(method)
        override = grid.overrides.get(method)
        extra = dict(override.params) if override else {}
        choices = grid.model_choices() if info.uses_llm else [None]
        for choice in choices:
            model = grid.block(method, "model", choice).model_dump(mode="json") if info.uses_llm else None
            for variant in selected_variants(grid, method, info):
                params = {b: grid.block(method, b).model_dump(mode="json") for b in info.blocks_for(variant)}
                params.update(extra)
                if info.is_zero_shot(variant):
                    combos = [(None, 0, seed) for seed in axes.seed]
                else:
                    combos = [(mix, k, seed) for mix in axes.train_mix for k in axes.k for seed in axes.seed]
                for mix, k, seed in combos:
                    data = grid.data.model_copy(update={"datasets": grid.declared_for(mix)})
                    spec = TrialSpec(method=method, variant=variant, train_mix=mix, k=k, seed=seed,
                                     model=model, params=_with_protocol(grid, params, mix, k),
                                     eval=grid.eval, data=data)
                    specs.setdefault(spec.trial_id, spec)
    return list(specs.values())


def _with_protocol(grid: GridSpec, params: dict, train_mix: str | None, k: int) -> dict:
    """`params` with the chosen settings of the trial's searched cell (`protocol:`) applied: the
    values themselves go into the hashed params, the search they came from into `protocol_extra`."""
    found = grid.protocol.for_cell(train_mix, k) if grid.protocol else None
    if found is None:
        return params
    return apply_settings(params, found[1])


def protocol_extra(grid: GridSpec, spec: TrialSpec) -> dict:
    """What a trial stores (in its extra, not its id) about the protocol it ran under."""
    found = grid.protocol.for_cell(spec.train_mix, spec.k) if grid.protocol else None
    if found is None:
        return {}
    used = {path for path in found[1] if path.split(".")[0] in spec.params}
    if not used:
        return {}
    source = dict(grid.protocol.source)
    cell_runs = source.pop("cell_runs", None) or {}
    if found[0] in cell_runs:        # a resumed search: this cell was chosen by an earlier run
        source["search_run"] = cell_runs[found[0]]
    return {"protocol": {"from": grid.protocol.from_, "cell": found[0], "settings": sorted(used), **source}}
