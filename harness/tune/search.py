"""A protocol search on Ray Tune: for one searched cell (train_mix, K), `num_samples` trials of
the settings drawn from Tune's own search spaces, each a TrialSpec that validates and is scored on
the valid split only; every validation pass is reported (`tune.report`), so ASHA stops bad
trials early. The driver collects each trial's TrialResult and reported history; storing and
choosing are the run floor's (harness.run.search).
"""
from __future__ import annotations

import json
import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
from ray.tune.search.basic_variant import BasicVariantGenerator

from harness.core.context import TrialContext
from harness.core.methods import METHODS
from harness.core.objective import objective_value, validation_hook
from harness.core.result import TrialResult
from harness.core.settings import apply_settings
from harness.core.spec import TrialSpec
from harness.core.trial import run_trial
from harness.tune.driver import SilentReporter
from harness.tune.options import TuneOptions
from harness.tune.worker import prepare_worker


@dataclass
class SearchTrial:
    """One Tune trial of a search: its settings, what it reported, how it ended."""
    tune_trial: str
    settings: dict[str, Any]
    history: list[dict] = field(default_factory=list)    # {"step", "value"} per validation pass
    objective: float | None = None                       # on the final (restored) adapter
    status: str = "stopped"                              # complete | failed | stopped (by ASHA)
    result: TrialResult | None = None


def plain(settings: dict) -> dict:
    """Sampled values as plain Python (Tune may hand out numpy scalars), for JSON, YAML and ids."""
    return {k: v.item() if hasattr(v, "item") else v for k, v in settings.items()}


def tune_domain(kind: str, values) -> Any:
    """A grid range as Tune's own search space."""
    if kind == "choice":
        return tune.choice(list(values))
    if kind == "grid":
        return tune.grid_search(list(values))
    low, high = values
    return tune.loguniform(low, high) if kind == "loguniform" else tune.uniform(low, high)


def search_resources(base: TrialSpec, cpus: float, gpus: float) -> dict:
    """A search trial's Tune resources: those of the cell's trials under `harness run`, except
    that a search trial runs in one process (its validation passes report to Tune from there),
    so a DeepSpeed trial that `harness run` spreads over several GPUs gets one here."""
    from harness.tune.multiworker import spans_devices

    if spans_devices(base, gpus):
        gpus = 1.0
    return {"cpu": cpus, **({"gpu": gpus} if gpus else {})}


def search_trial(config: dict) -> None:
    """The Tune function trainable: one sampled protocol on one cell, validation rows only."""
    prepare_worker(config)
    spec = json.loads(config["base"])
    spec["params"] = apply_settings(spec["params"], plain(config["settings"]))
    spec = TrialSpec.model_validate(spec)
    assert spec.eval.split == "valid"   # a search never scores test rows
    ctx = TrialContext(raw_dir=config["raw_dir"], **({"cache_dir": config["cache_dir"]} if config["cache_dir"] else {}))
    metric, key, users, reported = config["metric"], config["key"], {}, [0]

    def on_validation(step: int, frame) -> None:
        # a user is a user of one domain (train_mix `both`: movie user 12 is not book user 12)
        frame = frame.assign(user_id=frame["sample_id"].astype(str).str.split(":").str[0] + ":"
                             + frame["user_id"].astype(str))
        users.update(zip(frame["sample_id"], frame["user_id"]))
        value = objective_value(metric, frame)
        # ASHA ends a trial at max_t reports: keep the last one for the final objective
        if value is not None and (config["max_t"] is None or reported[0] < config["max_t"] - 1):
            reported[0] += 1
            tune.report({key: value, "step": step})

    with validation_hook(on_validation):
        result = run_trial(spec, ctx)
    final = None
    if result.status == "complete" and result.predictions:
        import pandas as pd

        frame = pd.concat(list(result.predictions.values()), ignore_index=True)
        frame["user_id"] = frame["sample_id"].map(users)
        final = objective_value(metric, frame)
    report = {"final": True, "harness_payload": pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)}
    report[key] = final if final is not None else (math.inf if config["mode"] == "min" else -math.inf)
    tune.report(report)


class _Collector(tune.Callback):
    """Takes each trial's reports as they arrive (the pickled result out before Tune logs it)."""

    def __init__(self, key: str):
        self.key = key
        self.trials: dict[str, SearchTrial] = {}

    def on_trial_result(self, iteration, trials, trial, result, **info):
        entry = self.trials.setdefault(trial.trial_id, SearchTrial(trial.trial_id, plain(trial.config["settings"])))
        payload = result.pop("harness_payload", None)
        if payload is None:
            entry.history.append({"step": result.get("step"), "value": result.get(self.key)})
            return
        entry.result = pickle.loads(payload)
        entry.status = entry.result.status
        value = result.get(self.key)
        entry.objective = value if value is not None and math.isfinite(value) else None

    def on_trial_error(self, iteration, trials, trial, **info):
        entry = self.trials.setdefault(trial.trial_id, SearchTrial(trial.trial_id, plain(trial.config["settings"])))
        entry.status = "failed"


def run_cell_search(base: TrialSpec, space: dict[str, tuple[str, Any]], *, metric: str, mode: str,
                    num_samples: int, scheduler: dict, seed: int, options: TuneOptions, name: str,
                    cpus: float, gpus: float = 0.0) -> list[SearchTrial]:
    """Run one cell's search in the active Ray session; returns every trial (stopped ones too).
    `space`: setting -> (range kind, values); `scheduler`: {name, grace_period, reduction_factor, max_t}.
    `gpus`: the grid's gpus_per_trial for the method, as `harness run` gives its trials."""
    key = f"valid_{metric}"
    if scheduler["name"] == "asha":
        chooser = ASHAScheduler(time_attr="training_iteration", max_t=scheduler["max_t"],
                                grace_period=scheduler["grace_period"],
                                reduction_factor=scheduler["reduction_factor"])
    else:
        chooser = FIFOScheduler()
    param_space = {"base": base.canonical_json(), "metric": metric, "key": key, "mode": mode,
                   "max_t": scheduler["max_t"] if scheduler["name"] == "asha" else None,
                   "settings": {path: tune_domain(kind, values) for path, (kind, values) in space.items()},
                   "imports": list(options.imports), "registry": {base.method: METHODS.target(base.method)},
                   "raw_dir": options.raw_dir,
                   "cache_dir": options.cache_dir}
    collector = _Collector(key)
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(min(num_samples, 64))
    tuner = tune.Tuner(
        tune.with_resources(search_trial, search_resources(base, cpus, gpus)),
        param_space=param_space,
        tune_config=tune.TuneConfig(metric=key, mode=mode, num_samples=num_samples, scheduler=chooser,
                                    search_alg=BasicVariantGenerator(random_state=seed),
                                    max_concurrent_trials=options.max_concurrent_trials,
                                    reuse_actors=False),
        run_config=tune.RunConfig(
            name=name, storage_path=str(Path(options.storage_path).resolve()), verbose=0,
            progress_reporter=SilentReporter(), callbacks=[collector], log_to_file=False,
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False, checkpoint_frequency=0)))
    tuner.fit()
    return list(collector.trials.values())
