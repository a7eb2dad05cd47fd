"""Checks of a grid's `search:` block a schema cannot express: the searched method and variant,
each setting a field of a config block that variant uses, each range's values valid for it."""
from __future__ import annotations

from pydantic import ValidationError

from harness.core.datasets import BOTH, dataset_names
from harness.core.methods import METHODS, method_info
from harness.core.spec import K_MAX, K_MIN
from harness.grid.errors import GridError
from harness.grid.schema import BLOCKS, GridSpec
from harness.core.settings import apply_settings


def _fail(path: str, message: str):
    raise GridError(f"search.{path}: {message}")


def check_search(grid: GridSpec) -> None:
    search = grid.search
    if search is None:
        return
    if search.method not in METHODS:
        _fail("method", f"{search.method!r} is not a registered method; registered: {', '.join(METHODS.names())}")
    info = method_info(search.method)
    if info.variants and search.variant not in info.variants:
        _fail("variant", f"{search.variant!r} is not a variant of {search.method} ({', '.join(info.variants)})")
    if info.is_zero_shot(search.variant):
        _fail("variant", f"{search.method} {search.variant} trains nothing: nothing to search")
    known = set(dataset_names()) | set(grid.datasets) | {BOTH}
    for i, mix in enumerate(search.train_mix):
        if mix not in known:
            _fail(f"train_mix[{i}]", f"{mix!r} is not a dataset ({', '.join(sorted(known))})")
    for i, k in enumerate(search.k):
        if not K_MIN <= k <= K_MAX:
            _fail(f"k[{i}]", f"{k} is not in {K_MIN}..{K_MAX}")
    if not search.train_mix or not search.k:
        _fail("k" if search.train_mix else "train_mix", "[] is empty: name at least one cell to search")
    blocks = info.blocks_for(search.variant)
    for setting, rng in search.space.items():
        block, *fields = setting.split(".")
        if block not in blocks or block not in BLOCKS or not fields:
            _fail(f"space.{setting}", f"unknown setting: name <block>.<field> of a block "
                                      f"{search.method} {search.variant} uses ({', '.join(blocks)})")
        base = grid.block(search.method, block).model_dump(mode="json")
        if fields[0] not in BLOCKS[block].model_fields:
            _fail(f"space.{setting}", f"unknown setting: {block} has no field {fields[0]!r}")
        for value in rng.values:
            try:
                apply_settings({block: base}, {setting: value})
            except (ValidationError, TypeError, AttributeError) as exc:
                why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                _fail(f"space.{setting}", f"{rng.kind} value {value!r} is not allowed: {why}")


def check_protocol(grid: GridSpec) -> None:
    """Each chosen setting of `protocol:` names a config block field and holds a valid value."""
    if grid.protocol is None:
        return
    for cell, settings in grid.protocol.cells.items():
        if "@K" not in cell or not cell.rsplit("@K", 1)[1].isdigit():
            raise GridError(f"protocol.from: cell {cell!r} is not <train_mix>@K<k> (e.g. movie@K64)")
        for setting, value in (settings or {}).items():
            block = setting.split(".")[0]
            if block not in BLOCKS or "." not in setting:
                raise GridError(f"protocol.from: {cell}: unknown setting {setting!r}")
            try:
                apply_settings({block: grid.block("", block).model_dump(mode="json")}, {setting: value})
            except (ValidationError, TypeError, AttributeError) as exc:
                why = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
                raise GridError(f"protocol.from: {cell}: {setting} = {value!r} is not allowed: {why}") from None
