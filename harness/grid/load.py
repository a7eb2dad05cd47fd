"""Reading a grid file: YAML with duplicate keys refused, then schema and semantic checks."""
from __future__ import annotations

import re
from pathlib import Path

import yaml
from pydantic import ValidationError

from harness.grid.checks import check
from harness.grid.errors import GridError, format_errors
from harness.grid.schema import GridSpec


MAX_EXPANDED_NODES = 20_000   # a real grid has a few hundred; an alias bomb has billions
_MERGE_TAG = "tag:yaml.org,2002:merge"


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and alias bombs, and supports merge keys (`<<:`)."""

    def get_single_node(self):
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)
        return node


def _check_expansion(root) -> None:
    """Refuse a document whose aliases expand beyond MAX_EXPANDED_NODES values (or loop):
    counted on the node graph, each shared node once per use, without expanding anything."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise yaml.constructor.ConstructorError(
                None, None, "an alias refers to the node that contains it (recursive alias)",
                node.start_mark)
        active.add(key)
        children = node.value if isinstance(node.value, list) else []
        total = 1
        for child in children:
            for part in (child if isinstance(child, tuple) else (child,)):
                total += size(part)
                if total > MAX_EXPANDED_NODES:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"aliases expand to more than {MAX_EXPANDED_NODES} values "
                        "(an alias bomb?); write the values out", node.start_mark)
        active.discard(key)
        sizes[key] = total
        return total

    size(root)


def _mapping(loader, node, deep=False):
    seen = set()
    for key_node, _ in node.value:
        merge = key_node.tag == _MERGE_TAG
        key = _MERGE_TAG if merge else loader.construct_object(key_node, deep=deep)
        try:
            if key not in seen:
                seen.add(key)
                continue
        except TypeError:   # an unhashable key: construct_mapping reports it
            continue
        raise yaml.constructor.ConstructorError(
            None, None, f"duplicate key {'<<' if merge else key!r}", key_node.start_mark)
    loader.flatten_mapping(node)   # `<<: *base` merges; keys written here override merged ones
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
    except RecursionError:
        raise GridError(f"{path}: bad YAML: nested too deeply") from None
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
        search_only = _search_defaults(raw)
        _read_protocol(raw, path)
        grid = parse_grid(raw)
    except GridError as exc:
        raise GridError(f"{path}: {exc}") from None
    grid._search_only = search_only
    return grid


def _search_defaults(raw: dict) -> bool:
    """A search-only grid needs no `grid:` block: its searched cells stand in for it (checked like
    any grid; `harness run` refuses such a grid). True when the block was made here."""
    search = raw.get("search")
    if not isinstance(search, dict) or "grid" in raw:
        return False
    method = search.get("method", "tallrec")
    raw["grid"] = {"method": [method], "k": search.get("k"), "train_mix": search.get("train_mix")}
    if "variant" in search or method == "tallrec":
        raw["grid"]["variant"] = {method: [search.get("variant", "RT")]}
    return True


def _read_protocol(raw: dict, grid_path: Path) -> None:
    """`protocol: {from: FILE}`: FILE (a search's chosen fragment, relative to the grid file or
    the working directory) read into the block, so its settings and source go with the grid."""
    ref = raw.get("protocol")
    if not isinstance(ref, dict) or not isinstance(ref.get("from"), str):
        return
    candidates = [grid_path.parent / ref["from"], Path(ref["from"])]
    found = next((p for p in candidates if p.is_file()), None)
    if found is None:
        raise GridError(f"protocol.from: {ref['from']} not found (run `harness search` on the "
                        "search grid first; it writes <name>.chosen.yaml)")
    try:
        chosen = yaml.load(found.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise GridError(f"protocol.from: {found} is not a readable YAML file ({' '.join(str(exc).split())[:160]})") from None
    block = (chosen or {}).get("protocol") if isinstance(chosen, dict) else None
    if not isinstance(block, dict) or not isinstance(block.get("cells"), dict):
        raise GridError(f"protocol.from: {found} has no `protocol: {{source:, cells:}}` block "
                        "(the fragment `harness search` writes)")
    raw["protocol"] = {**ref, "source": block.get("source") or {}, "cells": block["cells"]}


def parse_grid(raw: dict) -> GridSpec:
    """Validate a grid given as a dict (already parsed YAML). Raises GridError."""
    _check_text(raw)
    try:
        grid = GridSpec.model_validate(raw)
    except ValidationError as exc:
        raise GridError(format_errors(exc.errors())) from None
    check(grid)
    return grid


def _check_text(raw) -> None:
    """Refuse text that is not valid Unicode (a lone surrogate such as YAML's "\\ud800"): the
    trial id hashes the spec's UTF-8 bytes, and the store writes UTF-8. Walked without
    recursion, so a deep document cannot overflow the stack here."""
    stack = [("", raw)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((f"{where}.{_show(k)}" if where else _show(k), v) for k, v in value.items())
            stack.extend((where or "the top level", k) for k in value if isinstance(k, str))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
        elif isinstance(value, str) and _show(value) != value:
            raise GridError(f"{where}: \"{_show(value)}\" is not valid Unicode text (a lone surrogate "
                            "code point); write the character itself or drop it")


def _show(text) -> str:
    """`text` with any lone surrogate written as its escape, so a message can always print."""
    return str(text).encode("utf-8", "backslashreplace").decode("utf-8")
