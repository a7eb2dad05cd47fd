"""The driver side: specs become Tune trials; each finished trial goes to the store writer.

`run_trials(specs, options, store, run_id, resources)` runs in an active Ray session
(`harness.tune.session.ray_session`). A Searcher hands out trials in phases (`phases`); the
Callback `Recorder` hands every result to the `StoreWriter` and tells the progress observer.
A worker that dies mid-trial becomes a failed result the same way a failing method does.
"""
from __future__ import annotations

import contextlib
import logging
import os
import pickle
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import ray
from ray import tune
from ray.tune import ProgressReporter
from ray.tune.search import Searcher

from harness.core.errors import HarnessError
from harness.core.methods import METHODS
from harness.core.result import TrialResult
from harness.core.spec import TrialSpec
from harness.tune.options import TuneOptions
from harness.tune.phases import dependencies, launch_order
from harness.tune.worker import HarnessTrainable, trial_resources
from harness.tune.writer import JournalLike, StoreWriter

log = logging.getLogger(__name__)


class Observer(Protocol):
    """What the driver tells the progress view (harness.run.progress.RunProgress implements it)."""
    def started(self, spec: TrialSpec) -> None: ...
    def finished(self, result: TrialResult, final: bool) -> None: ...
    def warn(self, note: str) -> None: ...


class PhasedQueue(Searcher):
    """Hands out trial configs in launch order; holds a trial until its dependencies end."""

    def __init__(self, configs: list[dict], deps: dict[str, set[str]]):
        super().__init__()
        self._queue = list(configs)
        self._deps = deps
        self._ended: set[str] = set()
        self._by_tune_id: dict[str, str] = {}

    def suggest(self, trial_id: str):
        if not self._queue:
            return Searcher.FINISHED
        for i, config in enumerate(self._queue):
            if self._deps.get(config["spec_id"], set()) <= self._ended:
                self._by_tune_id[trial_id] = config["spec_id"]
                return self._queue.pop(i)
        return None   # everything left waits on a running first-phase trial

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False):
        if trial_id in self._by_tune_id:
            self._ended.add(self._by_tune_id[trial_id])

    def save_to_dir(self, *args, **kwargs):   # resume goes by the store, not Tune state
        pass



class SilentReporter(ProgressReporter):
    def should_report(self, trials, done=False):
        return False

    def report(self, trials, done, *sys_info):
        pass


def _error_text(trial) -> str:
    text = ""
    with contextlib.suppress(Exception):
        text = str(trial.get_error() or "")
    if not text and getattr(trial, "error_file", None):
        with contextlib.suppress(Exception):
            text = Path(trial.error_file).read_text()
    text = text.strip()
    died = any(w in text for w in ("ActorDiedError", "RayActorError", "died", "SYSTEM_ERROR"))
    head = "worker process died during the trial (killed, out of memory, or exited)" if died \
        else "trial failed outside the method"
    return f"{text[-6000:]}\n{head}" if text else head


class Recorder(tune.Callback):
    """Journals each finished trial, hands it to the store writer and tells the observer."""

    def __init__(self, specs: dict[str, TrialSpec], store, run_id: str, max_retries: int,
                 observer: Observer | None, journal: JournalLike | None = None,
                 before_first=None):
        self.specs, self.store, self.run_id = specs, store, run_id
        self.max_retries, self.observer = max_retries, observer
        self.reported: set[str] = set()     # tune trial ids whose attempt reported a result
        self.started_at: dict[str, float] = {}
        self.lock = threading.Lock()        # the writer thread's notes vs Tune's callbacks
        self.writer = StoreWriter(store, run_id, journal=journal, note=self._note,
                                  before_first=before_first)
        self.results: dict[str, TrialResult] = {}
        self.leaks: list[tuple[str, float]] = []

    def __getstate__(self):   # Tune pickles its callbacks into tuner.pkl: drop live parts
        return {**self.__dict__, "observer": None, "writer": None, "lock": None}

    def _note(self, text: str) -> None:
        if self.observer:
            with self.lock:
                self.observer.warn(text)

    def _spec(self, trial) -> TrialSpec:
        return self.specs[trial.config["spec_id"]]

    def _store(self, result: TrialResult, final: bool) -> None:
        self.results[result.trial_id] = result
        self.writer.put(result)
        if "gpu_leak_mb" in result.extra:
            self.leaks.append((self.specs[result.trial_id].label(), result.extra["gpu_leak_mb"]))
        if self.observer:
            with self.lock:
                self.observer.finished(result, final)

    def on_trial_start(self, iteration, trials, trial, **info):
        self.started_at[trial.trial_id] = time.time()
        self.reported.discard(trial.trial_id)
        if self.observer:
            with self.lock:
                self.observer.started(self._spec(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info):
        payload = result.pop("harness_payload", None)
        if payload is None:
            return
        trial_result: TrialResult = pickle.loads(payload)
        self.reported.add(trial.trial_id)
        final = trial_result.status == "complete" or trial.num_failures >= self.max_retries
        self._store(trial_result, final)

    def _lost(self, trial, final: bool) -> None:
        if trial.trial_id in self.reported:     # its failure is stored already
            self.reported.discard(trial.trial_id)
            return
        spec = self._spec(trial)
        result = TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(),
                             status="failed", error=_error_text(trial),
                             started_at=self.started_at.get(trial.trial_id, time.time()),
                             finished_at=time.time(), host="", device="")
        self._store(result, final)

    def on_trial_recover(self, iteration, trials, trial, **info):
        self._lost(trial, final=False)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._lost(trial, final=True)



@dataclass
class RunOutcome:
    results: dict[str, TrialResult] = field(default_factory=dict)   # last attempt per trial_id
    leaks: list[tuple[str, float]] = field(default_factory=list)
    tune_s: float = 0.0
    unwritten: list[TrialResult] = field(default_factory=list)   # not in the store (journaled)
    store_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[TrialResult]:
        return [r for r in self.results.values() if r.status != "complete"]


def resolve_resources(specs: list[TrialSpec], options: TuneOptions, strict: bool) -> dict[str, tuple]:
    """spec id -> (cpus, gpus) with "auto" resolved, checked against the cluster's nodes."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    any_gpu = any(n.get("GPU", 0) > 0 for n in nodes)
    out = {}
    for spec in specs:
        cpus, gpus = options.resources(spec)
        gpus = (1.0 if any_gpu else 0.0) if gpus == "auto" else float(gpus)
        out[spec.trial_id] = (float(cpus), gpus)
    for cpus, gpus in set(out.values()):
        if not any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
            have = ", ".join(f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU" for n in nodes) or "none"
            needs = [s.label() for s in specs if out[s.trial_id] == (cpus, gpus)]
            message = (f"resources: a trial needs {cpus:g} CPU and {gpus:g} GPU (e.g. {needs[0]}), "
                       f"but no Ray node has that (nodes: {have}); lower resources.cpus_per_trial / "
                       "gpus_per_trial (gpus_per_trial: 0 runs LLMs on CPU)")
            if strict:
                raise HarnessError(message)
            log.warning("%s; waiting for the cluster to grow", message)
    return out


def run_trials(specs: list[TrialSpec], options: TuneOptions, store, run_id: str,
               resources: dict[str, tuple], observer: Observer | None = None,
               journal: JournalLike | None = None, store_wait_s: float = 300.0,
               before_first=None) -> RunOutcome:
    """Run `specs` as Tune trials in the active Ray session; store every result as it arrives.

    `resources` comes from `resolve_resources` (spec id -> (cpus, gpus)). Each result goes to
    `journal` first; one the store did not take (busy `store_wait_s` past the end) stays there
    and is listed in `RunOutcome.unwritten`. `before_first` (the run's row, when the store was
    busy at the start) is written before the first result.
    """
    outcome = RunOutcome()
    if not specs:
        return outcome
    registry = {name: METHODS.target(name) for name in sorted({s.method for s in specs})}
    common = {"imports": list(options.imports), "registry": registry, "raw_dir": options.raw_dir,
              "cache_dir": options.cache_dir, "gpu_leak_mb": options.gpu_leak_mb, "cwd": os.getcwd(),
              # the run directory: trained adapters go to its adapters/<trial id>/
              "artifacts_dir": str(Path(options.storage_path).resolve() / run_id) if options.keep_adapters else None}
    configs = [{"spec_id": s.trial_id, "spec": s.canonical_json(), "resources": resources[s.trial_id],
                "label": s.label(), "extra": options.trial_extra(s) if options.trial_extra else {},
                **common} for s in launch_order(specs)]
    recorder = Recorder({s.trial_id: s for s in specs}, store, run_id,
                        options.max_retries, observer, journal=journal, before_first=before_first)
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(min(len(specs), 256))
    tuner = tune.Tuner(
        tune.with_resources(HarnessTrainable, trial_resources),
        tune_config=tune.TuneConfig(
            search_alg=PhasedQueue(configs, dependencies(specs)), num_samples=len(specs),
            max_concurrent_trials=options.max_concurrent_trials, reuse_actors=options.reuse_actors,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=run_id, storage_path=str(Path(options.storage_path).resolve()), verbose=0,
            progress_reporter=SilentReporter(), callbacks=[recorder], log_to_file=False,
            failure_config=tune.FailureConfig(max_failures=options.max_retries),
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False, checkpoint_frequency=0)))
    started = time.perf_counter()
    try:
        tuner.fit()
    finally:
        outcome.tune_s = time.perf_counter() - started
        # interrupted (Ctrl-C stops Tune): the user wants out, not a wait for a busy store
        done = len(recorder.results) >= len(specs)
        outcome.unwritten = recorder.writer.close(store_wait_s if done else 0.0)
        outcome.store_errors = recorder.writer.errors
        outcome.results = recorder.results
        outcome.leaks = recorder.leaks
    return outcome


def _trial_name(trial) -> str:
    return trial.config.get("label", trial.trial_id)


def _trial_dirname(trial) -> str:
    return f"{trial.config['spec_id'][:12]}-{trial.trial_id}"
