"""Where a trial runs: directories and device. Not part of the spec (it does not change results)."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def default_cache_dir() -> Path:
    """HARNESS_CACHE_DIR, else $XDG_CACHE_HOME/tallrec-harness, else ~/.cache/tallrec-harness."""
    if os.environ.get("HARNESS_CACHE_DIR"):
        return Path(os.environ["HARNESS_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tallrec-harness"


@dataclass
class TrialContext:
    raw_dir: str | None = None            # None: data.sources resolves it (env var, then cache)
    cache_dir: Path = field(default_factory=default_cache_dir)  # data, converted models, AT adapters
    work_dir: Path | None = None          # this trial's scratch space (checkpoints); None: a temp dir
    device: str | None = None             # None: cuda if available, else cpu
    # Where trials keep what outlives them (trained adapters: artifacts_dir/adapters/<trial_id>);
    # the run directory under `harness run` (grid `keep_adapters`); None: nothing is kept.
    artifacts_dir: Path | None = None
    # What the trial's inputs were, as the plugins that read them found it (the data layer puts
    # the raw files' content fingerprints here); run_trial stores it with the result.
    provenance: dict = field(default_factory=dict)

    def __post_init__(self):
        self.cache_dir = Path(self.cache_dir)
        if self.artifacts_dir is not None:
            self.artifacts_dir = Path(self.artifacts_dir)

    def subdir(self, name: str) -> Path:
        path = self.cache_dir / name
        path.mkdir(parents=True, exist_ok=True)
        return path
