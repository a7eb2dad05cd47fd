"""One inter-process file lock for every cache that parallel trials fill (data tables, AT
adapters, text embeddings): the first process builds, the others wait and then reuse."""
from __future__ import annotations

import contextlib
from pathlib import Path


@contextlib.contextmanager
def file_lock(path: Path):
    """Hold an exclusive flock on `path` (created, with its folder, if missing)."""
    try:
        import fcntl
    except ImportError:  # not POSIX: atomic renames still keep the caches consistent
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
