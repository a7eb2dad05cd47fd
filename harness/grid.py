"""grid.yaml -> validated GridSpec -> list[TrialSpec]. Pure: no Ray, no store, no data.

`load_grid(path)` parses and validates a grid file; every problem becomes one `GridError` that
names the field path, the bad value and what is allowed (`grid.k[2]: 0 is not in 1..256`).
`expand(grid)` turns it into frozen, deduplicated TrialSpecs with these rules (all read from each
method's `MethodInfo`, never from its name):

- a method without variants (the baselines) has variant None;
- a zero-shot trial (`MethodInfo.is_zero_shot(variant)`: tallrec AT, icl) ignores K and train mix:
  k = 0, train_mix = None, one trial per seed;
- `spec.params` holds `{block: dump}` for exactly the blocks `MethodInfo.blocks_for(variant)`
  names (per-method `overrides` merged in), `spec.model` the model block only when `uses_llm`.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from harness.config import ATConfig, BaselineConfig, LoraConfig, ModelConfig, TrainingConfig
from harness.errors import HarnessError
from harness.methods import METHODS, MethodInfo, method_info
from harness.spec import K_MAX, K_MIN, TRAIN_MIXES, DataSpec, EvalSpec, TrialSpec

BLOCKS: dict[str, type[BaseModel]] = {"lora": LoraConfig, "training": TrainingConfig,
                                      "at": ATConfig, "baseline": BaselineConfig}


class GridError(HarnessError):
    """A grid file problem: one line that names the field, the bad value and what is allowed."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Axes(_Strict):
    method: list[str]
    # A list applies to every listed method that has variants; a mapping picks per method.
    # Left out: every variant of every method.
    variant: Union[list[str], dict[str, list[str]], None] = None
    k: list[StrictInt] | None = None            # required once a trial trains on K samples
    seed: list[StrictInt] = [0]
    train_mix: list[Literal["movie", "book", "both"]] | None = None


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
    grid: Axes
    eval: EvalSpec = EvalSpec()
    data: DataSpec = DataSpec()
    resources: Resources = Resources()
    deepspeed: str | None = None             # a DeepSpeed JSON for rec-tuning (training.deepspeed)
    store: str = "results.duckdb"
    ray: RayOptions = RayOptions()
    overrides: dict[str, MethodOverride] = {}

    # -- derived ---------------------------------------------------------------------------
    def block(self, method: str, name: str) -> BaseModel:
        """The config block `name` for `method`: the grid's, with the method's override merged."""
        base = self.model if name == "model" else getattr(self, name)
        override = self.overrides.get(method)
        change = getattr(override, name) if override else None
        if name == "training" and self.deepspeed and not base.deepspeed:
            base = base.model_copy(update={"deepspeed": self.deepspeed})
        return type(base).model_validate({**base.model_dump(), **change}) if change else base

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


# -- loading -----------------------------------------------------------------------------------
class _UniqueKeyLoader(yaml.SafeLoader):
    pass


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def load_grid(path: str | Path) -> GridSpec:
    """Read, parse and validate a grid file. Raises GridError (one line) on any problem."""
    path = Path(path)
    if not path.is_file():
        where = "is a directory" if path.is_dir() else "not found"
        raise GridError(f"grid file {path} {where} (pass the path of a grid .yaml, "
                        "e.g. grids/demo.yaml)")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except UnicodeDecodeError as exc:
        raise GridError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise GridError(f"{path}: bad YAML syntax: {where}{' '.join(str(problem).split())}") from exc
    if raw is None or not isinstance(raw, dict):
        raise GridError(f"{path}: expected a mapping with at least `grid:` at the top level, "
                        f"got {type(raw).__name__ if raw is not None else 'an empty file'}")
    raw.setdefault("name", re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-.") or "grid")
    try:
        return parse_grid(raw)
    except GridError as exc:
        raise GridError(f"{path}: {exc}") from None


def parse_grid(raw: dict) -> GridSpec:
    """Validate a grid given as a dict (already parsed YAML). Raises GridError."""
    try:
        grid = GridSpec.model_validate(raw)
    except ValidationError as exc:
        raise GridError(_format_errors(exc.errors())) from None
    _check(grid)
    return grid


def _path(loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def _show(value) -> str:
    if isinstance(value, str):
        text = repr(value)
    else:
        text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return text if len(text) <= 60 else text[:57] + "..."


def _strip_optional(ann):
    if get_origin(ann) is Union:
        members = [a for a in get_args(ann) if a is not type(None)]
        models = [a for a in members if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else (members[0] if len(members) == 1 else ann)
    return ann


def _fields_at(loc, root: type[BaseModel]) -> list[str]:
    """The field names of the model at `loc` (for 'unknown field' messages)."""
    ann: Any = root
    for part in loc:
        ann = _strip_optional(ann)
        origin = get_origin(ann)
        if origin in (list, tuple):
            ann = get_args(ann)[0]
        elif origin is dict:
            ann = get_args(ann)[1]
        elif isinstance(ann, type) and issubclass(ann, BaseModel) and part in ann.model_fields:
            ann = ann.model_fields[part].annotation
        else:
            return []
    ann = _strip_optional(ann)
    return list(ann.model_fields) if isinstance(ann, type) and issubclass(ann, BaseModel) else []


# Union members show up in pydantic's error locations ("int", "list[str]", ...): not fields.
_UNION_TAGS = re.compile(r"^(int|float|str|bool|none|literal\[.*\]|.*\[.*\].*)$")


def _clean_loc(loc) -> tuple:
    return tuple(p for p in loc if not (isinstance(p, str) and _UNION_TAGS.match(p)))


def _format_errors(errors: list[dict], prefix: tuple = (), root: type[BaseModel] | None = None) -> str:
    first = _clean_loc(errors[0]["loc"])
    same = [e for e in errors if _clean_loc(e["loc"]) == first]
    others = len({_clean_loc(e["loc"]) for e in errors}) - 1
    path = _path(prefix + first)
    err = same[0]
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(first[:-1], root or GridSpec)
        text = f"{path}: unknown field" + (f"; allowed: {', '.join(allowed)}" if allowed else "")
    elif kind == "missing":
        text = f"{path}: missing; this field is required"
    else:
        wants = list(dict.fromkeys(e["msg"][0].lower() + e["msg"][1:] for e in same if e["msg"]))
        text = f"{path}: {_show(err.get('input'))} is not allowed: {' or '.join(wants)}"
    if others:
        text += f" (and {others} more problem{'s' if others > 1 else ''})"
    return text


# -- semantic checks ---------------------------------------------------------------------------
def _fail(path: str, message: str):
    raise GridError(f"{path}: {message}")


def _import_plugins(grid: GridSpec) -> None:
    """Import `imports:` modules, found on sys.path or in the current directory (as Ray's
    workers, which start in the driver's directory, will find them)."""
    if grid.imports and os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.append(os.getcwd())
    for i, module in enumerate(grid.imports):
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any import failure is the user's to fix
            _fail(f"imports[{i}]", f"cannot import {module!r} ({type(exc).__name__}: {exc})")


def _info(grid: GridSpec, i: int, method: str) -> MethodInfo:
    if method not in METHODS:
        _fail(f"grid.method[{i}]", f"{method!r} is not a registered method; registered: "
                                   f"{', '.join(METHODS.names())}")
    try:
        return method_info(method)
    except Exception as exc:  # noqa: BLE001 - a method module that cannot be imported
        first = str(exc).splitlines()[0] if str(exc) else ""
        _fail(f"grid.method[{i}]", f"{method!r} cannot be loaded ({type(exc).__name__}: {first})")


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


def _check(grid: GridSpec) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", grid.name):
        _fail("name", f"{grid.name!r} is not allowed: use letters, digits, '.', '_' and '-' "
                      "(it names the run's directory)")
    _import_plugins(grid)
    axes = grid.grid
    if not axes.method:
        _fail("grid.method", "[] is empty; list at least one method, e.g. [random]")
    infos = {m: _info(grid, i, m) for i, m in enumerate(axes.method)}
    for name in ("seed", "k", "train_mix"):
        values = getattr(axes, name)
        if values is not None and not values:
            _fail(f"grid.{name}", "[] is empty; give at least one value or leave the field out")
    for i, k in enumerate(axes.k or ()):
        if not K_MIN <= k <= K_MAX:
            _fail(f"grid.k[{i}]", f"{k} is not in {K_MIN}..{K_MAX}")
    for i, seed in enumerate(axes.seed):
        if seed < 0:
            _fail(f"grid.seed[{i}]", f"{seed} is not allowed: seeds are integers >= 0")
    _check_variants(grid, infos)
    _check_eval_and_resources(grid)
    trained = [f"{m}{' ' + v if v else ''}" for m, info in infos.items()
               for v in selected_variants(grid, m, info) if not info.is_zero_shot(v)]
    for name, allowed in (("k", f"a list of integers in {K_MIN}..{K_MAX}"),
                          ("train_mix", f"a list of {', '.join(TRAIN_MIXES)}")):
        if trained and getattr(axes, name) is None:
            _fail(f"grid.{name}", f"missing; required because {trained[0]} trains on K samples "
                                  f"(allowed: {allowed})")
    _check_overrides(grid, infos)


def _check_eval_and_resources(grid: GridSpec) -> None:
    domains = grid.eval.domains
    if not domains:
        _fail("eval.domains", "[] is empty; allowed: movie, book")
    for i, d in enumerate(domains):
        if d in domains[:i]:
            _fail(f"eval.domains[{i}]", f"{d!r} appears twice")
    places = [("resources", grid.resources)] + [(f"overrides.{m}.resources", o.resources)
                                                for m, o in grid.overrides.items()]
    for where, res in places:
        if isinstance(res.gpus_per_trial, float) and res.gpus_per_trial < 0:
            _fail(f"{where}.gpus_per_trial", f"{res.gpus_per_trial:g} is not allowed: a number "
                                             ">= 0 (a fraction shares a GPU) or auto")
    if grid.deepspeed and grid.training.deepspeed and grid.deepspeed != grid.training.deepspeed:
        _fail("deepspeed", f"{grid.deepspeed!r} conflicts with training.deepspeed "
                           f"{grid.training.deepspeed!r}; set only one")


def _check_variants(grid: GridSpec, infos: dict[str, MethodInfo]) -> None:
    chosen = grid.grid.variant
    if chosen is None:
        return
    if isinstance(chosen, dict):
        for method, variants in chosen.items():
            if method not in infos:
                _fail(f"grid.variant.{method}", f"{method!r} is not in grid.method "
                                                f"({', '.join(infos)})")
            allowed = infos[method].variants
            if not allowed:
                _fail(f"grid.variant.{method}", f"{method} has no variants")
            if not variants:
                _fail(f"grid.variant.{method}", "[] is empty; leave the method out to run all "
                                                f"its variants ({', '.join(allowed)})")
            for i, v in enumerate(variants):
                if v not in allowed:
                    _fail(f"grid.variant.{method}[{i}]", f"{v!r} is not a variant of {method}; "
                                                         f"allowed: {', '.join(allowed)}")
        return
    known = {v for info in infos.values() for v in info.variants}
    if not chosen:
        _fail("grid.variant", "[] is empty; leave the field out to run every variant")
    for i, v in enumerate(chosen):
        if v not in known:
            _fail(f"grid.variant[{i}]", f"{v!r} is not a variant of any listed method; allowed: "
                                        f"{', '.join(sorted(known)) or 'none (no method has variants)'}")
    for method, info in infos.items():
        if info.variants and not selected_variants(grid, method, info):
            _fail("grid.variant", f"none of {', '.join(chosen)} is a variant of {method} "
                                  f"({', '.join(info.variants)}); use a mapping, e.g. "
                                  f"variant: {{{method}: [{info.variants[0]}]}}")


def _blocks_of(grid: GridSpec, method: str, info: MethodInfo) -> set[str]:
    return {b for v in selected_variants(grid, method, info) for b in info.blocks_for(v)}


def _check_overrides(grid: GridSpec, infos: dict[str, MethodInfo]) -> None:
    for method, info in infos.items():
        for block in sorted(_blocks_of(grid, method, info)):
            if block not in BLOCKS:
                _fail(f"grid.method", f"{method} asks for config block {block!r}, which this "
                                      f"harness does not know ({', '.join(BLOCKS)})")
    for method, override in grid.overrides.items():
        if method not in infos:
            _fail(f"overrides.{method}", f"{method!r} is not in grid.method ({', '.join(infos)})")
        info = infos[method]
        used = _blocks_of(grid, method, info) | ({"model"} if info.uses_llm else set())
        for name in ("model", *BLOCKS):
            change = getattr(override, name)
            if change is None:
                continue
            if name not in used:
                _fail(f"overrides.{method}.{name}", f"{method} does not use the {name} block "
                                                    f"(it uses: {', '.join(sorted(used)) or 'none'})")
            try:
                grid.block(method, name)
            except ValidationError as exc:
                root = ModelConfig if name == "model" else BLOCKS[name]
                raise GridError(_format_errors(exc.errors(), ("overrides", method, name), root)) from None
        clash = set(override.params) & (set(BLOCKS) | {"model"})
        if clash:
            _fail(f"overrides.{method}.params.{sorted(clash)[0]}", "is a config block name; set "
                                                                  f"it as overrides.{method}.{sorted(clash)[0]}")


# -- expansion ---------------------------------------------------------------------------------
def expand(grid: GridSpec) -> list[TrialSpec]:
    """Every trial of the grid, in grid order (method, variant, train mix, K, seed), no duplicates."""
    axes = grid.grid
    specs: dict[str, TrialSpec] = {}
    for method in axes.method:
        info = method_info(method)
        override = grid.overrides.get(method)
        extra = dict(override.params) if override else {}
        model = grid.block(method, "model").model_dump(mode="json") if info.uses_llm else None
        for variant in selected_variants(grid, method, info):
            params = {b: grid.block(method, b).model_dump(mode="json") for b in info.blocks_for(variant)}
            params.update(extra)
            if info.is_zero_shot(variant):
                combos = [(None, 0, seed) for seed in axes.seed]
            else:
                combos = [(mix, k, seed) for mix in axes.train_mix for k in axes.k for seed in axes.seed]
            for mix, k, seed in combos:
                spec = TrialSpec(method=method, variant=variant, train_mix=mix, k=k, seed=seed,
                                 model=model, params=params, eval=grid.eval, data=grid.data)
                specs.setdefault(spec.trial_id, spec)
    return list(specs.values())
