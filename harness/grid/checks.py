"""Semantic checks a schema cannot express: registered methods and variants, K and seed ranges,
which config blocks each method uses. Importing the grid's `imports:` plugins happens here."""
from __future__ import annotations

import importlib
import os
import re
import sys

from pydantic import ValidationError

from harness.core.config import ModelConfig, deepspeed_config_path
from harness.core.datasets import BOTH, DATASETS, NAME, dataset_names
from harness.core.errors import HarnessError
from harness.core.methods import METHODS, MethodInfo, method_info
from harness.core.spec import INT_MAX, K_MAX, K_MIN, SEED_MAX
from harness.grid.errors import GridError, format_errors
from harness.grid.schema import BLOCKS, GridSpec, selected_variants
from harness.grid.search_checks import check_protocol, check_search


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


def check(grid: GridSpec) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", grid.name):
        _fail("name", f"{grid.name!r} is not allowed: use letters, digits, '.', '_' and '-' "
                      "(it names the run's directory)")
    _import_plugins(grid)
    axes = grid.grid
    if not axes.method:
        _fail("grid.method", "[] is empty; list at least one method, e.g. [random]")
    infos = {m: _info(grid, i, m) for i, m in enumerate(axes.method)}
    for name in ("seed", "k", "train_mix", "model"):
        values = getattr(axes, name)
        if values is not None and not values:
            _fail(f"grid.{name}", "[] is empty; give at least one value or leave the field out")
    for i, k in enumerate(axes.k or ()):
        if not K_MIN <= k <= K_MAX:
            _fail(f"grid.k[{i}]", f"{k} is not in {K_MIN}..{K_MAX}")
    for i, seed in enumerate(axes.seed):
        if not 0 <= seed <= SEED_MAX:
            _fail(f"grid.seed[{i}]", f"{seed} is not allowed: seeds are integers in 0..{SEED_MAX} "
                                     "(the store keeps 32-bit seeds)")
    _check_int_range(grid.model_dump(), "")
    _check_variants(grid, infos)
    _check_datasets(grid)
    _check_eval_and_resources(grid)
    trained = [f"{m}{' ' + v if v else ''}" for m, info in infos.items()
               for v in selected_variants(grid, m, info) if not info.is_zero_shot(v)]
    for name, allowed in (("k", f"a list of integers in {K_MIN}..{K_MAX}"),
                          ("train_mix", f"a list of {', '.join(_domains(grid) + [BOTH])}")):
        if trained and getattr(axes, name) is None:
            _fail(f"grid.{name}", f"missing; required because {trained[0]} trains on K samples "
                                  f"(allowed: {allowed})")
    _check_overrides(grid, infos)
    _check_model_axis(grid, infos)
    check_search(grid)
    check_protocol(grid)
    _check_deepspeed(grid, infos)


def _check_int_range(value, where: str) -> None:
    """Every integer anywhere in the grid (params included) must fit torch's / numpy's int64."""
    if isinstance(value, dict):
        for key, item in value.items():
            _check_int_range(item, f"{where}.{key}" if where else str(key))
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_int_range(item, f"{where}[{i}]")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > INT_MAX:
        _fail(where, f"{value} is out of range: integers must be within +-{INT_MAX} (64-bit)")


def _domains(grid: GridSpec) -> list[str]:
    """Every dataset name a domain field may hold: registered, then declared in the grid."""
    return dataset_names() + [n for n in grid.datasets if n not in DATASETS]


def _check_datasets(grid: GridSpec) -> None:
    """Declared names neither clash with registered ones nor break file names; every domain
    field names a dataset (the error lists them)."""
    if grid.data.datasets:
        _fail("data.datasets", "is filled in from the top-level `datasets:` block; declare datasets there")
    for name in grid.datasets:
        if not NAME.match(name) or name == BOTH:
            _fail(f"datasets.{name}", "is not allowed as a dataset name: lower-case letters, digits, "
                                      "'-' and '_' (at most 32), not 'both'")
        if name in DATASETS:
            _fail(f"datasets.{name}", f"{name!r} is a registered dataset; choose another name "
                                      f"(registered: {', '.join(dataset_names())})")
    known = _domains(grid)
    for i, mix in enumerate(grid.grid.train_mix or ()):
        if mix != BOTH and mix not in known:
            _fail(f"grid.train_mix[{i}]", f"{mix!r} is not a dataset; registered or declared: "
                                          f"{', '.join(known)} (or both = movie + book)")
    for i, domain in enumerate(grid.eval.domains):
        if domain not in known:
            _fail(f"eval.domains[{i}]", f"{domain!r} is not a dataset; registered or declared: "
                                        f"{', '.join(known)} (declare others under datasets:)")


def _check_eval_and_resources(grid: GridSpec) -> None:
    domains = grid.eval.domains
    if not domains:
        _fail("eval.domains", f"[] is empty; allowed: {', '.join(_domains(grid))}")
    for i, d in enumerate(domains):
        if d in domains[:i]:
            _fail(f"eval.domains[{i}]", f"{d!r} appears twice")
    places = [("resources", grid.resources)] + [(f"overrides.{m}.resources", o.resources)
                                                for m, o in grid.overrides.items()]
    for where, res in places:
        if isinstance(res.gpus_per_trial, float) and res.gpus_per_trial < 0:
            _fail(f"{where}.gpus_per_trial", f"{res.gpus_per_trial:g} is not allowed: a number "
                                             ">= 0 (a fraction shares a GPU) or auto")
        if isinstance(res.gpus_per_trial, float) and res.gpus_per_trial > 1 \
                and not res.gpus_per_trial.is_integer():
            _fail(f"{where}.gpus_per_trial", f"{res.gpus_per_trial:g} is not allowed: above 1, "
                                             "whole GPUs only (Ray shares a GPU by fractions of one)")
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
                _fail("grid.method", f"{method} asks for config block {block!r}, which this "
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
                raise GridError(format_errors(exc.errors(), ("overrides", method, name), root)) from None
        clash = set(override.params) & (set(BLOCKS) | {"model"})
        if clash:
            _fail(f"overrides.{method}.params.{sorted(clash)[0]}", "is a config block name; set "
                                                                  f"it as overrides.{method}.{sorted(clash)[0]}")


def _check_model_axis(grid: GridSpec, infos: dict[str, MethodInfo]) -> None:
    """`grid.model`: each choice a valid model block once merged, no choice twice, and some
    listed method that uses an LLM (the axis means nothing to the others)."""
    if grid.grid.model is None:
        return
    llm = [m for m, info in infos.items() if info.uses_llm]
    if not llm:
        _fail("grid.model", f"no method in grid.method uses an LLM ({', '.join(infos)}); "
                            "leave the field out")
    seen: dict[str, int] = {}
    for i, choice in enumerate(grid.model_choices()):
        if not str(choice.get("name", "x")).strip():
            _fail(f"grid.model[{i}]", "'' is not allowed: give a model name or directory")
        try:
            dump = ModelConfig.model_validate({**grid.model.model_dump(), **choice}).model_dump_json()
        except ValidationError as exc:
            raise GridError(format_errors(exc.errors(), ("grid", "model", i), ModelConfig)) from None
        if dump in seen:
            _fail(f"grid.model[{i}]", f"the same model as grid.model[{seen[dump]}]")
        seen[dump] = i
    for method, override in grid.overrides.items():
        if override.model and "name" in override.model and len(seen) > 1:
            _fail(f"overrides.{method}.model.name", "would replace every grid.model choice with one "
                                                    "model; drop it or the grid.model axis")


def _check_deepspeed(grid: GridSpec, infos: dict[str, MethodInfo]) -> None:
    """Every DeepSpeed JSON a trial will use exists and parses (before anything runs)."""
    for method, info in infos.items():
        if "training" not in _blocks_of(grid, method, info):
            continue
        config = grid.block(method, "training").deepspeed
        if not config:
            continue
        override = grid.overrides.get(method)
        where = f"overrides.{method}.training.deepspeed" if override and override.training \
            and "deepspeed" in override.training else \
            ("training.deepspeed" if grid.training.deepspeed else "deepspeed")
        try:
            deepspeed_config_path(config)   # resolved and parsed: one line if not
        except HarnessError as exc:
            _fail(where, str(exc))
