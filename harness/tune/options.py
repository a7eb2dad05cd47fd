"""How a grid runs on Ray (never what: that is the specs)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness.core.spec import TrialSpec

# Tune's knobs, set before any Tuner exists (all are read at call time).
_TUNE_ENV = {
    "RAY_AIR_NEW_OUTPUT": "0",                 # the legacy reporter honours verbose=0 fully
    "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1",  # no CSV/JSON/TensorBoard files per trial
    "RAY_CHDIR_TO_TRIAL_DIR": "0",             # relative paths keep meaning what they say
    "TUNE_RESULT_BUFFER_LENGTH": "1",          # a failure report is never batched with a raise
    "TUNE_PRINT_ALL_TRIAL_ERRORS": "0",        # errors are stored, not dumped on the console
    "TUNE_WARN_THRESHOLD_S": "30",             # a store write is not a "slow callback"
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_TRAIN_ENABLE_V2_MIGRATION_WARNINGS": "0",
}


@dataclass
class TuneOptions:
    """How to run (never what: that is the specs). Built from a grid by `harness.run.runner.tune_options`."""
    resources: Callable[[TrialSpec], tuple[float, Any]]   # spec -> (cpus, gpus | "auto")
    storage_path: Path
    address: str | None = None
    max_concurrent_trials: int | None = None
    max_retries: int = 1
    reuse_actors: bool = True
    num_cpus: int | None = None
    num_gpus: int | None = None
    gpu_leak_mb: float = 1024.0
    imports: tuple[str, ...] = ()
    raw_dir: str | None = None
    cache_dir: str | None = None
    keep_adapters: bool = True        # trained adapters kept under <run dir>/adapters/<trial id>
    # spec -> what its stored result's extra also records (the protocol it ran under); not in its id
    trial_extra: Callable[[TrialSpec], dict] | None = None
