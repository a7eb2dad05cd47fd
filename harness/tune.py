"""The Ray Tune adapter: one Tune trial per TrialSpec, results stored by the driver.

`run_trials(specs, options, store, run_id)` schedules every spec as a Tune trial of
`HarnessTrainable` (a class Trainable: no thread per trial; with actor reuse a trial costs
0.04-0.09 s of scheduling here, bench/scheduling.py):

- resources: `tune.with_resources` with a per-trial request (CPUs, and a GPU share for methods
  with `MethodInfo.uses_llm`); `reuse_actors` keeps worker processes, and with them the
  worker-level model cache, alive between trials of the same resource shape.
- order: a Searcher hands out trials in phases: first-phase trials (`first_phase_variants`, e.g.
  tallrec AT, which builds the AT adapters) first, and a trial that carries every config block
  of a first-phase trial with the same model (tallrec `full`, icl `alpaca-lora`) is held back
  until those trials (the same seed's, when there are any) have finished.
- results: the worker returns the pickled TrialResult through Tune; the driver's Callback hands
  it to a writer thread that stores it (one transaction per trial) while Tune starts the next
  trial, so a driver crash loses at most the trials in flight. A failed trial is stored as `failed`,
  then retried up to `max_retries` times on a fresh worker; a worker that dies mid-trial
  (os._exit, OOM kill) becomes a failed trial the same way. Nothing stops the grid.
- housekeeping: Ray's temp dir is a short /tmp/rh-<pid>-<hex> (AF_UNIX socket paths must stay
  under 107 bytes), its logs are copied to the run directory and it is deleted at the end;
  Tune's storage is the run directory; the console stays quiet (no Tune tables, worker output
  goes to the logs), our progress view is the interface.
"""
from __future__ import annotations

import contextlib
import functools
import gc
import logging
import os
import pickle
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from harness.errors import HarnessError
from harness.methods import METHODS, method_info
from harness.result import TrialResult
from harness.spec import TrialSpec

log = logging.getLogger(__name__)

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
    """How to run (never what: that is the specs). Built from a grid by `options_from_grid`."""
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


def options_from_grid(grid, storage_path: Path, address: str | None = None,
                      raw_dir: str | None = None) -> TuneOptions:
    def resources(spec: TrialSpec):
        return grid.resources_for(spec.method, method_info(spec.method).uses_llm)

    ray = grid.ray
    return TuneOptions(resources=resources, storage_path=Path(storage_path),
                       address=address or ray.address, max_concurrent_trials=ray.max_concurrent_trials,
                       max_retries=ray.max_retries, reuse_actors=ray.reuse_actors,
                       num_cpus=ray.num_cpus, num_gpus=ray.num_gpus, gpu_leak_mb=ray.gpu_leak_mb,
                       imports=tuple(grid.imports),
                       raw_dir=str(Path(raw_dir).resolve()) if raw_dir else None,
                       cache_dir=os.environ.get("HARNESS_CACHE_DIR"))


class Observer(Protocol):
    """What the driver tells the progress view (harness.progress.RunProgress implements it)."""
    def started(self, spec: TrialSpec) -> None: ...
    def finished(self, result: TrialResult, final: bool) -> None: ...


# -- ordering and phases (pure; unit-tested) ---------------------------------------------------
def dependencies(specs: list[TrialSpec]) -> dict[str, set[str]]:
    """trial_id -> ids of the first-phase trials it must wait for (among `specs`)."""
    first = [s for s in specs if s.variant in method_info(s.method).first_phase_variants]
    deps: dict[str, set[str]] = {s.trial_id: set() for s in specs}
    if not first:
        return deps
    for spec in specs:
        if spec.variant in method_info(spec.method).first_phase_variants:
            continue
        feeds = [f for f in first if f.model == spec.model and f.params
                 and all(spec.params.get(b) == v for b, v in f.params.items())]
        same_seed = [f for f in feeds if f.seed == spec.seed]
        deps[spec.trial_id] = {f.trial_id for f in (same_seed or feeds)}
    return deps


def launch_order(specs: list[TrialSpec]) -> list[TrialSpec]:
    """First-phase trials, then LLM and other trials interleaved (both kinds of slot stay busy)."""
    first, llm, other = [], [], []
    for s in specs:
        info = method_info(s.method)
        (first if s.variant in info.first_phase_variants else llm if info.uses_llm else other).append(s)
    mixed = [s for pair in zip(llm, other) for s in pair]
    n = min(len(llm), len(other))
    return first + mixed + llm[n:] + other[n:]


# -- the worker side ---------------------------------------------------------------------------
_prepared: set = set()


def _prepare_worker(config: dict) -> None:
    """Import the grid's plugin modules and mirror the driver's method registrations."""
    key = (tuple(config["imports"]), tuple(sorted(config["registry"].items())))
    if key in _prepared:
        return
    import importlib

    for module in config["imports"]:
        importlib.import_module(module)
    for name, target in config["registry"].items():
        if name not in METHODS:
            METHODS.register(name, target)
    _prepared.add(key)


def release_accelerator_memory() -> dict[str, float]:
    """Free the GPU memory the last trial left: collect garbage (tensors in reference cycles),
    then return CUDA's cached blocks. Returns what stays allocated ({} where CUDA is unused).

    Only where CUDA is in use: a full gc.collect() costs 0.15-0.3 s in a worker that imported
    torch and pandas, which would triple the per-trial overhead of small CPU trials.
    """
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return {}
    gc.collect()
    torch.cuda.synchronize()
    torch.cuda.empty_cache()
    torch.cuda.ipc_collect()
    return {"gpu_allocated_mb": torch.cuda.memory_allocated() / 2**20,
            "gpu_reserved_mb": torch.cuda.memory_reserved() / 2**20}


def _trial_resources(config: dict):
    from ray.tune import PlacementGroupFactory

    cpus, gpus = config["resources"]
    return PlacementGroupFactory([{"CPU": cpus, "GPU": gpus} if gpus else {"CPU": cpus}])


@functools.cache
def _trainable_class():
    from ray import tune

    class HarnessTrainable(tune.Trainable):
        """Runs one TrialSpec per Tune trial; a reused actor runs one trial after another.

        step() returns the result with done=True. A failed result is returned with done=False
        and the next step() raises, so that Tune retries the trial on a fresh worker.
        """

        def setup(self, config: dict):
            # Relative paths in a grid mean what they mean on the driver (where that directory
            # exists: on the driver's machine, or a shared filesystem).
            if os.path.isdir(config["cwd"]) and os.getcwd() != config["cwd"]:
                os.chdir(config["cwd"])
            self._config = config
            self._failure: str | None = None
            self._baseline_mb: float | None = None

        def reset_config(self, new_config: dict) -> bool:
            self._config = new_config   # memory was released at the end of the last step()
            self._failure = None
            return True

        def step(self) -> dict:
            if self._failure:
                raise RuntimeError(self._failure)
            from harness.context import TrialContext
            from harness.trial import run_trial

            config = self._config
            _prepare_worker(config)
            spec = TrialSpec.from_json(config["spec"])
            ctx = TrialContext(raw_dir=config["raw_dir"], **({"cache_dir": config["cache_dir"]}
                                                             if config["cache_dir"] else {}))
            result = run_trial(spec, ctx)
            del spec, ctx
            memory = release_accelerator_memory()
            if memory:
                result.extra.update(memory)
                held = memory["gpu_allocated_mb"]
                if self._baseline_mb is None:
                    self._baseline_mb = held        # what the worker-level caches keep
                elif held - self._baseline_mb > config["gpu_leak_mb"]:
                    result.extra["gpu_leak_mb"] = held - self._baseline_mb
            payload = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
            if result.status == "complete":
                return {"harness_payload": payload, "done": True}
            last = (result.error or "failed").strip().splitlines()[-1:] or ["failed"]
            self._failure = f"trial failed (stored with its error): {last[0]}"
            return {"harness_payload": payload, "done": False}

        def cleanup(self):
            release_accelerator_memory()

    return HarnessTrainable


# -- the driver side ---------------------------------------------------------------------------
@functools.cache
def _searcher_class():
    from ray.tune.search import Searcher

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

    return PhasedQueue


def _silent_reporter():
    from ray.tune import ProgressReporter

    class Silent(ProgressReporter):
        def should_report(self, trials, done=False):
            return False

        def report(self, trials, done, *sys_info):
            pass

    return Silent()


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


class StoreWriter:
    """Writes results to the store on a background thread, in arrival order, one transaction
    per trial, so Tune's event loop starts the next trial while the last result is written
    (a DuckDB write costs 50-100 ms here). A busy store (someone querying) is retried.
    A driver crash can lose only results still queued: those trials simply run again on resume.
    """

    def __init__(self, store, run_id: str):
        import queue
        import threading

        self.store, self.run_id = store, run_id
        self.queue: "queue.Queue[TrialResult | None]" = queue.Queue()
        self.unwritten: list[TrialResult] = []
        self.errors: list[str] = []
        self.deadline: float | None = None
        self.thread = threading.Thread(target=self._loop, name="harness-store-writer", daemon=True)
        self.thread.start()

    def put(self, result: TrialResult) -> None:
        self.queue.put(result)

    def _loop(self) -> None:
        while True:
            result = self.queue.get()
            if result is None:
                return
            while True:
                try:
                    self.store.write_result(result, run_id=self.run_id)
                    break
                except HarnessError as exc:   # busy: the store already waited ~10 s
                    if self.deadline is not None and time.monotonic() > self.deadline:
                        self.unwritten.append(result)
                        self.errors.append(str(exc))
                        break
                    time.sleep(1.0)
                except Exception as exc:  # noqa: BLE001 - keep the rest of the grid going
                    self.unwritten.append(result)
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                    log.error("could not store %s: %s", result.trial_id[:12], exc)
                    break

    def close(self, timeout_s: float = 60.0) -> list[TrialResult]:
        """Write everything queued (giving up on a busy store after `timeout_s`)."""
        self.deadline = time.monotonic() + timeout_s
        self.queue.put(None)
        self.thread.join(timeout_s + 15)
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not None:
                self.unwritten.append(item)
        return self.unwritten


@functools.cache
def _recorder_class():
    from ray import tune

    class Recorder(tune.Callback):
        """Writes each finished trial to the store (one transaction) and tells the observer."""

        def __init__(self, specs: dict[str, TrialSpec], store, run_id: str, max_retries: int,
                     observer: Observer | None):
            self.specs, self.store, self.run_id = specs, store, run_id
            self.max_retries, self.observer = max_retries, observer
            self.reported: set[str] = set()     # tune trial ids whose attempt reported a result
            self.started_at: dict[str, float] = {}
            self.writer = StoreWriter(store, run_id)
            self.results: dict[str, TrialResult] = {}
            self.leaks: list[tuple[str, float]] = []

        def __getstate__(self):   # Tune pickles its callbacks into tuner.pkl: drop live parts
            return {**self.__dict__, "observer": None, "writer": None}

        def _spec(self, trial) -> TrialSpec:
            return self.specs[trial.config["spec_id"]]

        def _store(self, result: TrialResult, final: bool) -> None:
            self.results[result.trial_id] = result
            self.writer.put(result)
            if "gpu_leak_mb" in result.extra:
                self.leaks.append((self.specs[result.trial_id].label(), result.extra["gpu_leak_mb"]))
            if self.observer:
                self.observer.finished(result, final)

        def on_trial_start(self, iteration, trials, trial, **info):
            self.started_at[trial.trial_id] = time.time()
            self.reported.discard(trial.trial_id)
            if self.observer:
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

    return Recorder


@dataclass
class RunOutcome:
    results: dict[str, TrialResult] = field(default_factory=dict)   # last attempt per trial_id
    leaks: list[tuple[str, float]] = field(default_factory=list)
    tune_s: float = 0.0

    @property
    def failed(self) -> list[TrialResult]:
        return [r for r in self.results.values() if r.status != "complete"]


# -- Ray session -------------------------------------------------------------------------------
def _configure_env() -> None:
    for key, value in _TUNE_ENV.items():
        os.environ[key] = value


def _quiet_ray_loggers() -> None:
    """Our progress view is the console: Ray's loggers only for the truly fatal, and the
    driver's echo of worker-death notices off (the store keeps each trial's error)."""
    for name in ("ray", "ray.tune", "ray.train", "ray.air"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    with contextlib.suppress(Exception):
        import ray._private.worker as ray_worker

        ray_worker._worker_logs_enabled = False


def _local_auth() -> None:
    """Token auth for a local Ray without writing ~/.ray: a random token in this process's env.

    Only when the user has set nothing: RAY_AUTH_MODE / RAY_AUTH_TOKEN(_PATH) are respected.
    Child processes (Ray's own, our workers) inherit it; nothing else can connect.
    """
    if any(os.environ.get(k) for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        return
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    if "ray._raylet" in sys.modules:   # Ray caches its config at import: make it see the change
        with contextlib.suppress(Exception):
            from ray._raylet import AuthenticationTokenLoader, Config

            Config.initialize("")
            AuthenticationTokenLoader.instance().reset_cache()


def _check_reachable(address: str, timeout_s: float = 10.0) -> None:
    """Fail fast on a HOST:PORT nobody listens on (ray.init would retry for minutes)."""
    import socket

    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return   # "auto", "ray://...": Ray resolves and reports those itself
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise HarnessError(f"cannot join the Ray cluster at {address!r}: nothing answers there "
                           f"({exc.strerror or exc}); start it with `ray start --head` or fix --address") from exc


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale_temp_dirs(run_root: Path) -> None:
    """Delete Ray temp dirs that earlier, killed drivers of this run directory left in /tmp."""
    record = run_root / "ray_temp_dirs.txt"
    if not record.exists():
        return
    keep = []
    for line in record.read_text().split():
        path = Path(line)
        pid = path.name.split("-")[1] if path.name.count("-") >= 2 else ""
        if pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            keep.append(line)
    record.write_text("".join(f"{k}\n" for k in keep))


@contextlib.contextmanager
def ray_session(options: TuneOptions, storage: Path):
    """Ray for this run: the caller's if already initialised, a cluster's with `address`, else a
    local one with a short, private temp dir, deleted at the end after its logs are copied to
    `info["logs_dir"]` (the caller sets it once the run directory is known)."""
    _configure_env()
    info = {"init_s": 0.0, "owned": False, "temp_dir": None, "logs_dir": None}
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        _quiet_ray_loggers()
        yield info
        return
    if not options.address:
        _local_auth()                  # before Ray is imported, where possible
    import ray

    _quiet_ray_loggers()
    started = time.perf_counter()
    if options.address:
        _check_reachable(options.address)
        try:
            # Workers on other nodes get the raylet's environment, not ours: pass Tune's knobs
            # (RAY_CHDIR_TO_TRIAL_DIR above all) as the job's runtime environment.
            ray.init(address=options.address, log_to_driver=False, logging_level=logging.ERROR,
                     runtime_env={"env_vars": dict(_TUNE_ENV)})
        except Exception as exc:  # noqa: BLE001 - connection problems are the user's to fix
            raise HarnessError(f"cannot join the Ray cluster at {options.address!r}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        info.update(owned=True, init_s=time.perf_counter() - started)
        try:
            yield info
        finally:
            ray.shutdown()
        return
    storage = Path(storage)
    storage.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temp_dirs(storage)
    temp_dir = Path(tempfile.mkdtemp(prefix=f"rh-{os.getpid()}-", dir="/tmp"))
    with open(storage / "ray_temp_dirs.txt", "a") as fh:
        fh.write(f"{temp_dir}\n")
    try:
        ray.init(num_cpus=options.num_cpus, num_gpus=options.num_gpus, _temp_dir=str(temp_dir),
                 include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 object_store_memory=512 * 2**20)
        info.update(owned=True, init_s=time.perf_counter() - started, temp_dir=temp_dir)
        yield info
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        logs = temp_dir / "session_latest" / "logs"
        with contextlib.suppress(Exception):
            if logs.is_dir() and info["logs_dir"]:
                shutil.copytree(logs, info["logs_dir"], dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("*.sock", "events"))
        shutil.rmtree(temp_dir, ignore_errors=True)
        with contextlib.suppress(Exception):
            record = storage / "ray_temp_dirs.txt"
            lines = [ln for ln in record.read_text().split() if ln != str(temp_dir)]
            record.write_text("".join(f"{ln}\n" for ln in lines))


def resolve_resources(specs: list[TrialSpec], options: TuneOptions, strict: bool) -> dict[str, tuple]:
    """spec id -> (cpus, gpus) with "auto" resolved, checked against the cluster's nodes."""
    import ray

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
               resources: dict[str, tuple], observer: Observer | None = None) -> RunOutcome:
    """Run `specs` as Tune trials in the active Ray session; store every result as it arrives.

    `resources` comes from `resolve_resources` (spec id -> (cpus, gpus)).
    """
    from ray import tune

    outcome = RunOutcome()
    if not specs:
        return outcome
    registry = {name: METHODS.target(name) for name in sorted({s.method for s in specs})}
    common = {"imports": list(options.imports), "registry": registry, "raw_dir": options.raw_dir,
              "cache_dir": options.cache_dir, "gpu_leak_mb": options.gpu_leak_mb, "cwd": os.getcwd()}
    configs = [{"spec_id": s.trial_id, "spec": s.canonical_json(), "resources": resources[s.trial_id],
                "label": s.label(), **common} for s in launch_order(specs)]
    recorder = _recorder_class()({s.trial_id: s for s in specs}, store, run_id,
                                 options.max_retries, observer)
    os.environ["TUNE_MAX_PENDING_TRIALS_PG"] = str(min(len(specs), 256))
    tuner = tune.Tuner(
        tune.with_resources(_trainable_class(), _trial_resources),
        tune_config=tune.TuneConfig(
            search_alg=_searcher_class()(configs, dependencies(specs)), num_samples=len(specs),
            max_concurrent_trials=options.max_concurrent_trials, reuse_actors=options.reuse_actors,
            trial_name_creator=_trial_name, trial_dirname_creator=_trial_dirname),
        run_config=tune.RunConfig(
            name=run_id, storage_path=str(Path(options.storage_path).resolve()), verbose=0,
            progress_reporter=_silent_reporter(), callbacks=[recorder], log_to_file=False,
            failure_config=tune.FailureConfig(max_failures=options.max_retries),
            checkpoint_config=tune.CheckpointConfig(checkpoint_at_end=False, checkpoint_frequency=0)))
    started = time.perf_counter()
    try:
        tuner.fit()
    finally:
        unwritten = recorder.writer.close()
        outcome.tune_s = time.perf_counter() - started
        outcome.results = recorder.results
        outcome.leaks = recorder.leaks
    if unwritten:
        raise HarnessError(f"{len(unwritten)} finished trial(s) could not be written to {store.path} "
                           f"({recorder.writer.errors[-1]}); run the grid again to redo them")
    return outcome


def _trial_name(trial) -> str:
    return trial.config.get("label", trial.trial_id)


def _trial_dirname(trial) -> str:
    return f"{trial.config['spec_id'][:12]}-{trial.trial_id}"
