"""The grid file's schema: pydantic models for every field of a grid.yaml (unknown keys are errors)."""
from __future__ import annotations

from typing import Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictInt

from harness.core.config import ATConfig, BaselineConfig, LoraConfig, ModelConfig, TrainingConfig
from harness.core.datasets import DatasetConfig, mix_domains
from harness.core.methods import MethodInfo
from harness.core.spec import DataSpec, EvalSpec
from harness.grid.search import ProtocolRef, SearchSpec

BLOCKS: dict[str, type[BaseModel]] = {"lora": LoraConfig, "training": TrainingConfig,
                                      "at": ATConfig, "baseline": BaselineConfig}


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Axes(_Strict):
    method: list[str]
    # A list applies to every listed method that has variants; a mapping picks per method.
    # Left out: every variant of every method.
    variant: Union[list[str], dict[str, list[str]], None] = None
    k: list[StrictInt] | None = None            # required once a trial trains on K samples
    seed: list[StrictInt] = [0]
    # dataset names (registered, or declared under `datasets:`), or `both` (Movie and Book)
    train_mix: list[str] | None = None
    # Base models to run every LLM method with: a name (smollm2-135m, ./tiny-llama) or a partial
    # model block, each merged over the top-level `model:` block. Left out: that block alone.
    model: list[Union[str, dict[str, Any]]] | None = None


class Resources(_Strict):
    # GPUs for each LLM trial (uses_llm; a fraction packs several per GPU); "auto": 1 where the
    # cluster has GPUs, else 0. Other methods get CPUs only unless an override says otherwise.
    gpus_per_trial: Union[Literal["auto"], float] = "auto"
    cpus_per_trial: float = Field(default=1, gt=0)


class ResourceOverride(_Strict):
    gpus_per_trial: Union[Literal["auto"], float, None] = None
    cpus_per_trial: float | None = Field(default=None, gt=0)


class RayOptions(_Strict):
    address: str | None = None              # None: a local Ray on this machine; "auto" / host:port
    storage_path: str | None = None         # Tune's storage; None: <store dir>/runs/<name>
    max_concurrent_trials: StrictInt | None = Field(default=None, ge=1)
    max_retries: StrictInt = Field(default=1, ge=0)   # extra attempts for a failed trial
    reuse_actors: bool = True               # keeps the worker-level model cache warm
    num_cpus: StrictInt | None = Field(default=None, ge=1)   # local Ray only (default: all)
    num_gpus: StrictInt | None = Field(default=None, ge=0)   # local Ray only (default: detected)
    gpu_leak_mb: float = Field(default=1024, ge=0)   # warn when a worker keeps more after cleanup


class MethodOverride(_Strict):
    """Per-method changes on top of the grid's blocks (partial dicts) and resources."""
    model: dict[str, Any] | None = None
    lora: dict[str, Any] | None = None
    training: dict[str, Any] | None = None
    at: dict[str, Any] | None = None
    baseline: dict[str, Any] | None = None
    params: dict[str, Any] = {}             # free-form method knobs, e.g. item-popularity smoothing
    resources: ResourceOverride = ResourceOverride()


class GridSpec(_Strict):
    name: str = "grid"
    imports: list[str] = []                  # modules imported first (driver and workers)
    model: ModelConfig = ModelConfig()
    lora: LoraConfig = LoraConfig()
    training: TrainingConfig = TrainingConfig()
    at: ATConfig = ATConfig()
    baseline: BaselineConfig = BaselineConfig()
    # Explicit-feedback datasets declared without code (data/explicit.py), usable as domains.
    datasets: dict[str, DatasetConfig] = {}
    grid: Axes
    eval: EvalSpec = EvalSpec()
    data: DataSpec = DataSpec()
    resources: Resources = Resources()
    deepspeed: str | None = None             # a DeepSpeed JSON for rec-tuning (training.deepspeed)
    store: str = "results.duckdb"
    # Keep every trained adapter under <run dir>/adapters/<trial id> (`harness export`); not in
    # the specs: it changes no number.
    keep_adapters: bool = True
    ray: RayOptions = RayOptions()
    overrides: dict[str, MethodOverride] = {}
    # A protocol search on validation rows (`harness search`), and a search's chosen settings
    # applied to this grid's trained cells (`protocol: {from: <grid>.chosen.yaml}`).
    search: SearchSpec | None = None
    protocol: ProtocolRef | None = None
    _search_only: bool = PrivateAttr(default=False)   # no `grid:` block: `harness search` only

    # -- derived ---------------------------------------------------------------------------
    def model_choices(self) -> list[dict[str, Any]]:
        """The `grid.model` axis as partial model blocks ([{}]: the `model:` block alone)."""
        if self.grid.model is None:
            return [{}]
        return [{"name": m} if isinstance(m, str) else dict(m) for m in self.grid.model]

    def block(self, method: str, name: str, choice: dict[str, Any] | None = None) -> BaseModel:
        """The config block `name` for `method`: the grid's (for `model`, with one `grid.model`
        choice merged in), with the method's override merged over it."""
        base = self.model if name == "model" else getattr(self, name)
        if name == "model" and choice:
            base = ModelConfig.model_validate({**base.model_dump(), **choice})
        override = self.overrides.get(method)
        change = getattr(override, name) if override else None
        if name == "training" and self.deepspeed and not base.deepspeed:
            base = base.model_copy(update={"deepspeed": self.deepspeed})
        return type(base).model_validate({**base.model_dump(), **change}) if change else base

    def declared_for(self, train_mix: str | None) -> dict[str, DatasetConfig]:
        """The declared datasets a trial with this train_mix reads (and so hashes)."""
        used = set(mix_domains(train_mix)) | set(self.eval.domains)
        return {name: config for name, config in sorted(self.datasets.items()) if name in used}

    def resources_for(self, method: str, uses_llm: bool) -> tuple[float, float | str]:
        """(cpus, gpus) per trial of `method`; gpus may be "auto" (resolved on the cluster)."""
        cpus, gpus = self.resources.cpus_per_trial, self.resources.gpus_per_trial
        override = self.overrides.get(method)
        if override and override.resources.cpus_per_trial is not None:
            cpus = override.resources.cpus_per_trial
        if override and override.resources.gpus_per_trial is not None:
            gpus = override.resources.gpus_per_trial
        elif not uses_llm:
            gpus = 0
        return float(cpus), gpus if gpus == "auto" else float(gpus)


def selected_variants(grid: GridSpec, method: str, info: MethodInfo) -> tuple:
    """The variants of `method` this grid runs: (None,) for a method without variants."""
    if not info.variants:
        return (None,)
    chosen = grid.grid.variant
    if chosen is None:
        return info.variants
    if isinstance(chosen, dict):
        return tuple(dict.fromkeys(chosen[method])) if method in chosen else info.variants
    return tuple(v for v in dict.fromkeys(chosen) if v in info.variants)
