"""The slow fault and attack cases, one module per area (scripts/fault_probe.py runs them)."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path


class WorkDir:
    """A probe module's scratch folder: made on first use, removed by `cleanup` (which
    scripts/fault_probe.py calls after the module's cases)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.path: Path | None = None

    def __call__(self) -> Path:
        if self.path is None:
            self.path = Path(tempfile.mkdtemp(prefix=self.prefix))
        return self.path

    def cleanup(self) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)
            self.path = None
