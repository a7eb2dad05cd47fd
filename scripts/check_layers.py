#!/usr/bin/env python3
"""Check the layering rules of docs/architecture.md; exit 1 and list every violation.

    python scripts/check_layers.py [ROOT]

Rules (imports are read with `ast`, lazy imports inside functions included):
- inside harness, a package imports only itself and the floors below it:
  cli -> report -> run -> grid, tune -> core (grid and tune never import each other);
- harness.core, the contract, imports no plugin; of harness's upper floors only the CLI may import
  the data plugin (for `harness data`); models and baselines are reached through the registry;
- the plugins import from harness only `harness.core`; among themselves models -> data and
  baselines -> models, data; never the other way;
- nothing of the harness or the plugins imports harness.cli (tests and probes call it as a user
  would); no package or module import cycle;
- no source file over MAX_LINES lines; no test-only code (imports of `tests`) in an installed package;
  every folder of harness/ and the plugins is a package (has __init__.py);
- tests/unit/<dir> mirrors a package.
"""
from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

MAX_LINES = 400
PLUGINS = ("data", "models", "baselines")
SOURCES = ("harness", *PLUGINS, "bench", "scripts", "examples")
# Allowed imports of each layer (besides itself). harness.<sub> layers and the plugins.
FLOORS = {
    "harness.core": set(),
    "harness.grid": {"harness.core"},
    "harness.tune": {"harness.core"},
    "harness.run": {"harness.core", "harness.grid", "harness.tune"},
    "harness.report": {"harness.core", "harness.grid", "harness.tune", "harness.run"},
    "harness.cli": {"harness.core", "harness.grid", "harness.tune", "harness.run", "harness.report",
                    "data"},
    "data": {"harness.core"},
    "models": {"harness.core", "data"},
    "baselines": {"harness.core", "data", "models"},
    "examples": {"harness.core", "data"},     # docs/extending.md: written as a user's plugins
}
TEST_DIRS = {"core", "grid", "tune", "run", "report", "cli", "data", "models", "baselines", "bench",
             "scripts", "examples"}


def layer_of(module: str) -> str | None:
    """'harness.run.store' -> 'harness.run'; 'models.tallrec' -> 'models'; others -> None."""
    parts = module.split(".")
    if parts[0] == "harness" and len(parts) > 1 and f"harness.{parts[1]}" in FLOORS:
        return f"harness.{parts[1]}"
    if parts[0] == "harness":
        return "harness"
    return parts[0] if parts[0] in FLOORS else None


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, module: str, known: set[str] = frozenset()) -> list[tuple[str, int]]:
    """Every module `path` imports (absolute names), with line numbers. `from pkg import sub`
    counts as importing pkg.sub (not pkg) when pkg.sub is one of the `known` modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in known]
            out += [(sub, node.lineno) for sub in subs]
            if len(subs) < len(node.names):
                out.append((name, node.lineno))
    return out


def source_files(root: Path):
    for top in SOURCES:
        folder = root / top
        if folder.is_dir():
            yield from sorted(p for p in folder.rglob("*.py") if "__pycache__" not in p.parts)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(root: Path) -> list[str]:
    root = Path(root).resolve()
    problems: list[str] = []
    modules: dict[str, Path] = {}
    for path in source_files(root):
        modules[module_name(root, path)] = path
    layer_graph: dict[str, set[str]] = defaultdict(set)
    module_graph: dict[str, set[str]] = defaultdict(set)
    for module, path in modules.items():
        rel = path.relative_to(root)
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > MAX_LINES and path.parts[len(root.parts)] in ("harness", *PLUGINS):
            problems.append(f"{rel}: {lines} lines (at most {MAX_LINES}: split it by job)")
        src = layer_of(module)
        for target, line in imports_of(path, module, set(modules)):
            top = target.split(".")[0]
            if top == "tests" and src is not None:
                problems.append(f"{rel}:{line}: imports test code {target!r} into an installed package")
            if target.startswith("harness.cli") and src is not None and src != "harness.cli":
                problems.append(f"{rel}:{line}: imports {target!r}: nothing imports the CLI")
            if target in modules and target != module:
                module_graph[module].add(target)
            dst = layer_of(target)
            if src is None or dst is None or dst == src:
                continue
            if src == "harness" or dst == "harness":
                if src == "harness":   # harness/__init__.py: imports nothing
                    problems.append(f"{rel}:{line}: the harness package root imports {target!r}")
                continue
            layer_graph[src].add(dst)
            if dst not in FLOORS[src]:
                problems.append(f"{rel}:{line}: {src} imports {target!r} ({src} may import only "
                                f"{', '.join(sorted(FLOORS[src])) or 'itself'})")
    for comp in _cycles(layer_graph):
        problems.append(f"import cycle between packages: {' <-> '.join(comp)}")
    for comp in _cycles(module_graph):
        problems.append(f"import cycle between modules: {' <-> '.join(comp)}")
    for top in ("harness", *PLUGINS):
        for folder in sorted({p.parent for p in (root / top).rglob("*.py")} if (root / top).is_dir() else ()):
            if "__pycache__" not in folder.parts and not (folder / "__init__.py").exists():
                problems.append(f"{folder.relative_to(root)}: no __init__.py (an installed package skips it)")
    unit = root / "tests" / "unit"
    if unit.is_dir():
        for folder in sorted(p for p in unit.iterdir() if p.is_dir() and p.name != "__pycache__"):
            if folder.name not in TEST_DIRS:
                problems.append(f"tests/unit/{folder.name}: mirrors no package ({', '.join(sorted(TEST_DIRS))})")
        for stray in sorted(unit.glob("test_*.py")):
            problems.append(f"{stray.relative_to(root)}: put it in the tests/unit/<package>/ it tests")
    return problems


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1]
    problems = check(root)
    for p in problems:
        print(p)
    print(f"layers: {len(problems)} problem(s)" if problems else "layers: ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
