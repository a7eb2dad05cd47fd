"""GridError and the field-path messages made from pydantic's errors (`grid.k[2]: 0 is not in 1..256`)."""
from __future__ import annotations

import re
from typing import Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel

from harness.core.errors import HarnessError
from harness.grid.schema import GridSpec


class GridError(HarnessError):
    """A grid file problem: one line that names the field, the bad value and what is allowed."""


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


def format_errors(errors: list[dict], prefix: tuple = (), root: type[BaseModel] | None = None) -> str:
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
