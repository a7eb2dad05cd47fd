"""A generic, lazy registry: names from YAML map to "module:attr" targets.

Targets are imported only when first used, so `harness --help` never imports torch.
"""
from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from typing import Any, Callable, Iterable

from harness.core.errors import HarnessError


class UnknownName(HarnessError, KeyError):
    """Raised for a name no entry is registered under; its message lists the known names."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class Registry:
    def __init__(self, kind: str, entries: dict[str, str] | None = None,
                 discover: Callable[[], dict[str, str]] | None = None):
        self.kind = kind
        self._targets: dict[str, str] = dict(entries or {})
        self._discover = discover
        self._discovered = False
        self._loaded: dict[str, Any] = {}

    def register(self, name: str, target: str) -> None:
        if name in self._targets and self._targets[name] != target:
            raise ValueError(f"{self.kind} {name!r} is already registered as {self._targets[name]}")
        self._targets[name] = target

    def _all(self) -> dict[str, str]:
        if self._discover and not self._discovered:
            for name, target in self._discover().items():
                self._targets.setdefault(name, target)
            self._discovered = True
        return self._targets

    def names(self) -> list[str]:
        return sorted(self._all())

    def __contains__(self, name: str) -> bool:
        return name in self._all()

    def target(self, name: str) -> str:
        targets = self._all()
        if name not in targets:
            raise UnknownName(f"unknown {self.kind} {name!r}; registered: {', '.join(sorted(targets))}")
        return targets[name]

    def get(self, name: str) -> Any:
        if name not in self._loaded:
            module_name, _, attr = self.target(name).partition(":")
            obj = importlib.import_module(module_name)
            self._loaded[name] = getattr(obj, attr) if attr else obj
        return self._loaded[name]


def modules_in_package(package: str, skip: Iterable[str] = ()) -> dict[str, str]:
    """Map YAML names to the modules of a package without importing them.

    A module file `gru_bert.py` registers as `gru-bert`; files starting with `_` are helpers.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return {}
    found = {}
    for info in pkgutil.iter_modules(spec.submodule_search_locations):
        if info.name.startswith("_") or info.name in skip:
            continue
        found[info.name.replace("_", "-")] = f"{package}.{info.name}"
    return found

