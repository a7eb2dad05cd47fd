"""The grid's `keep_adapters` switch reaches the trial as TrialContext.artifacts_dir (the run
directory), through TuneOptions, the driver's trial config and the Tune worker."""
import os
import pickle
from types import SimpleNamespace

import pandas as pd
import pytest

from harness.core.result import MethodOutput
from harness.core.spec import TrialSpec
from harness.grid import parse_grid
from harness.run.runner import tune_options

pytest.importorskip("ray")

GRID = {"name": "g", "grid": {"method": ["random"], "k": [16], "train_mix": ["movie"]}}


def seen_context(spec, ctx) -> MethodOutput:
    """A test method that reports where its context says artifacts go."""
    frame = pd.DataFrame({"sample_id": ["a", "b"], "label": [0, 1], "score": [0.1, 0.9]})
    return MethodOutput(predictions={d: frame for d in spec.eval.domains},
                        extra={"artifacts_dir": None if ctx.artifacts_dir is None else str(ctx.artifacts_dir)})


def test_grid_switch_defaults_on_and_reaches_tune_options(tmp_path):
    assert parse_grid(GRID).keep_adapters is True
    assert tune_options(parse_grid(GRID), tmp_path).keep_adapters is True
    off = parse_grid({**GRID, "keep_adapters": False})
    assert tune_options(off, tmp_path).keep_adapters is False
    # not part of any trial id
    from harness.grid import expand
    assert [s.trial_id for s in expand(off)] == [s.trial_id for s in expand(parse_grid(GRID))]


@pytest.mark.parametrize("artifacts", [None, "/runs/g/r1"])
def test_worker_builds_the_context_with_the_artifacts_dir(artifacts):
    from harness.tune.worker import HarnessTrainable

    spec = TrialSpec(method="test-seen-context", eval={"domains": ("movie",)})
    config = {"imports": [], "registry": {"test-seen-context": f"{__name__}:seen_context"},
              "spec": spec.canonical_json(), "raw_dir": None, "cache_dir": None, "cwd": os.getcwd(),
              "gpu_leak_mb": 1024.0, "artifacts_dir": artifacts, "resources": (1.0, 0.0)}
    worker = SimpleNamespace(_config=config, _failure=None, _baseline_mb=None)
    out = HarnessTrainable.step(worker)
    result = pickle.loads(out["harness_payload"])
    assert result.status == "complete", result.error
    assert result.extra["artifacts_dir"] == artifacts


def test_driver_passes_the_run_directory(tmp_path, monkeypatch):
    """run_trials puts <storage>/<run id> in every trial's config (None when switched off)."""
    from harness.tune import driver

    captured = {}

    class StopHere(Exception):
        pass

    def fake_queue(configs, deps):
        captured["configs"] = configs
        raise StopHere

    monkeypatch.setattr(driver, "PhasedQueue", fake_queue)
    monkeypatch.setattr(driver, "Recorder", lambda *a, **kw: SimpleNamespace())   # no store writer thread
    specs = [TrialSpec(method="random", train_mix="movie", k=16)]
    for keep, expected in ((True, str((tmp_path / "store").resolve() / "run-1")), (False, None)):
        options = tune_options(parse_grid({**GRID, "keep_adapters": keep}), tmp_path / "store")
        with pytest.raises(StopHere):
            driver.run_trials(specs, options, store=None, run_id="run-1",
                              resources={specs[0].trial_id: (1.0, 0.0)})
        assert captured["configs"][0]["artifacts_dir"] == expected
