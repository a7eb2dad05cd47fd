"""Where a store's run folders are: taken only from trusted local configuration, never from what
the store says (a loaded dump's `runs.grid_json` may name any folder).

A run folder is `<root>/<run_id>`, and its roots are (1) the roots `harness run` recorded in
`<store>.runs` beside the store as it started a run there (one JSON line each; the file is local,
never part of a dump) and (2) the store's own default run folder, `<store dir>/runs/<grid name>`.
Only folders named like a run id are used, and never through a symlink.
"""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path

from harness.run.validate import BadFile

RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
MAX_REGISTRY_BYTES = 4 * 2**20


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


def registry_path(store_path: str | Path) -> Path:
    return Path(f"{store_path}.runs")


def default_runs_folder(store_path: str | Path) -> Path:
    return Path(store_path).parent / "runs"


def _read_registry(store_path) -> list[Path]:
    from harness.run.validate import read_bytes

    path = registry_path(store_path)
    if not os.path.lexists(path):
        return []
    try:
        raw = read_bytes(path, MAX_REGISTRY_BYTES)
    except BadFile:
        return []
    roots = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            root = json.loads(line).get("root")
        except (ValueError, AttributeError, RecursionError):
            continue
        if isinstance(root, str) and os.path.isabs(root) and "\0" not in root:
            roots.append(Path(root))
    return roots


def register_root(store_path: str | Path, root: Path) -> None:
    """Record `root` as a place runs of this store keep their folders (before Ray starts, so
    that even a driver killed during start-up leaves a trail the next `status` follows)."""
    root = Path(root).resolve()
    if root in _read_registry(store_path):
        return
    line = json.dumps({"root": str(root)}) + "\n"
    fd = os.open(registry_path(store_path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))   # one short O_APPEND write: never interleaved
    finally:
        os.close(fd)


def run_roots(store_path: str | Path) -> list[Path]:
    roots = list(dict.fromkeys(_read_registry(store_path)))
    default = default_runs_folder(store_path)
    try:
        children = sorted(default.iterdir()) if default.is_dir() and not default.is_symlink() else []
    except OSError:
        children = []
    for child in children:
        if child.is_dir() and not child.is_symlink() and child not in roots:
            roots.append(child)
    return roots


def _is_run_folder(path: Path) -> bool:
    return bool(RUN_ID.fullmatch(path.name)) and path.is_dir() and not path.is_symlink()


def run_dirs(store_path: str | Path) -> list[Path]:
    """Every run folder under the store's trusted roots."""
    out = []
    for root in run_roots(store_path):
        try:
            out.extend(sorted(p for p in root.iterdir() if _is_run_folder(p)))
        except OSError:
            continue
    return out


def find_run_dir(store_path: str | Path, run_id: str) -> Path | None:
    """The folder of run `run_id` (a run id from the store is only a name to look for)."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        return None
    for root in run_roots(store_path):
        if _is_run_folder(root / run_id):
            return root / run_id
    return None
