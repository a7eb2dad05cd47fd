"""The method registry: every name usable under `grid.method` in a grid.yaml.

A method is a module with a `run(spec, ctx) -> MethodOutput` function (or such a function
registered directly, "module:function") and, optionally, an
`INFO = MethodInfo(...)` that tells grid expansion which variants it has and which of them are
zero-shot. Baselines are discovered from the files of `baselines/` (adding one touches one file);
the LLM method lives in `models/`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from harness.core.registry import Registry, modules_in_package


@dataclass(frozen=True)
class MethodInfo:
    variants: tuple[str, ...] = ()          # () = the method has no variant
    zero_shot_variants: tuple[str, ...] = ()  # these ignore K and train_mix (K = 0)
    zero_shot: bool = False                  # the whole method is zero-shot (K = 0)
    uses_llm: bool = False                   # the grid's model block applies; needs a GPU slot
    # Variants whose trials must finish before the others start (AT adapters before `full`).
    first_phase_variants: tuple[str, ...] = ()
    # Which config blocks (harness.core.config) go into TrialSpec.params: by default the `baseline`
    # block; `variant_blocks` overrides per variant. Only the blocks a trial uses are hashed,
    # so e.g. changing the rec-tuning block never changes an AT trial's id.
    blocks: tuple[str, ...] = ("baseline",)
    variant_blocks: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Called by `harness run` before anything runs or is stored, with a trial's model block
    # (uses_llm methods): raises HarnessError for a model the method cannot find.
    check_model: Callable[[dict], None] | None = None
    # A trial that Ray gives GPUs needs CUDA to see them: without it the trial fails with one
    # line instead of running on the CPU unnoticed. False for a method that runs anywhere
    # (the logical-GPU scheduling test method).
    needs_cuda: bool = True

    def is_zero_shot(self, variant: str | None) -> bool:
        return self.zero_shot or (variant is not None and variant in self.zero_shot_variants)

    def blocks_for(self, variant: str | None) -> tuple[str, ...]:
        return self.variant_blocks.get(variant, self.blocks) if variant else self.blocks


def _discover() -> dict[str, str]:
    # Shared helpers inside baselines/ start with "_" and are skipped.
    return modules_in_package("baselines")


METHODS = Registry("method", {"tallrec": "models.tallrec"}, discover=_discover)


def method_runner(name: str):
    """The `run(spec, ctx)` of a method: a registered module's `run`, or a registered function."""
    target = METHODS.get(name)
    return target if callable(target) else target.run


def method_info(name: str) -> MethodInfo:
    return getattr(METHODS.get(name), "INFO", MethodInfo())
