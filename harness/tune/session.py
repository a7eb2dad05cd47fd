"""The Ray session of a run: a local Ray with a short private temp dir and token auth (its logs
copied to the run directory, the dir deleted at the end), or a cluster joined by address.

Ray is imported inside `ray_session`, after the local auth token is set (Ray reads it at import).
"""
from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.core.errors import HarnessError
from harness.tune.options import _TUNE_ENV, TuneOptions


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


_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


@contextlib.contextmanager
def _loopback_only():
    """A local Ray listens on 127.0.0.1 only (GCS, raylet, workers, object manager), not on
    every interface. Ray does this on macOS/Windows; on Linux its node IP comes from the network
    unless `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` (read at import, hence the constant patched too;
    child processes inherit the variable). Left alone when the user has set it."""
    if _LOOPBACK_ENV in os.environ:
        yield
        return
    os.environ[_LOOPBACK_ENV] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    before = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        os.environ.pop(_LOOPBACK_ENV, None)
        if constants is not None:
            constants.ENABLE_RAY_CLUSTER = before


def _answers(host: str, port: int, timeout_s: float) -> OSError | None:
    import socket

    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
        return None
    except OSError as exc:
        return exc


def _check_reachable(address: str, timeout_s: float = 10.0) -> bool:
    """Fail fast on a HOST:PORT nobody listens on (ray.init would retry for minutes), testing
    what Ray will really dial: Ray replaces a loopback host (127.0.0.1, localhost) by this
    node's network IP. Returns True where only the loopback address answers (a head started
    with `ray start --head` bound to loopback): then the driver must join as a loopback node."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():
        return False   # "auto", "ray://...": Ray resolves and reports those itself
    dialled = host
    with contextlib.suppress(Exception):
        from ray._private.services import resolve_ip_for_localhost

        dialled = resolve_ip_for_localhost(host)
    failure = _answers(dialled, int(port), timeout_s)
    if failure is not None and dialled != host and _answers(host, int(port), timeout_s) is None:
        return True
    if failure is not None:
        raise HarnessError(f"cannot join the Ray cluster at {address!r}: nothing answers there "
                           f"({failure.strerror or failure}); start it with `ray start --head` or fix --address")
    return False


def _sweep_stale_temp_dirs(run_root: Path) -> None:
    """Ray temp dirs (and their Ray processes) that earlier, killed drivers of this run
    directory left behind (`harness.tune.cleanup`)."""
    from harness.tune.cleanup import sweep_stale

    sweep_stale(run_root)


@contextlib.contextmanager
def ray_session(options: TuneOptions, storage: Path):
    """Ray for this run: the caller's if already initialised, a cluster's with `address`, else a
    local one with a short, private temp dir, deleted at the end after its logs are copied to
    `info["logs_dir"]` (the caller sets it once the run directory is known)."""
    _configure_env()
    info = {"init_s": 0.0, "owned": False, "temp_dir": None, "logs_dir": None}
    # RAY_ADDRESS names a cluster to join, as for Ray itself (a local start cannot coexist with
    # it: ray.init would join it anyway and refuse the local-only arguments)
    address = options.address or os.environ.get("RAY_ADDRESS") or None
    if "ray" in sys.modules and sys.modules["ray"].is_initialized():
        _quiet_ray_loggers()
        yield info
        return
    if not address:
        _local_auth()                  # before Ray is imported, where possible
    import ray

    _quiet_ray_loggers()
    started = time.perf_counter()
    if address:
        loopback = _loopback_only() if _check_reachable(address) else contextlib.nullcontext()
        loopback.__enter__()
        try:
            # Workers on other nodes get the raylet's environment, not ours: pass Tune's knobs
            # (RAY_CHDIR_TO_TRIAL_DIR above all) as the job's runtime environment.
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR,
                     runtime_env={"env_vars": dict(_TUNE_ENV)})
        except Exception as exc:  # noqa: BLE001 - connection problems are the user's to fix
            loopback.__exit__(None, None, None)
            raise HarnessError(f"cannot join the Ray cluster at {address!r}: "
                               f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from exc
        info.update(owned=True, init_s=time.perf_counter() - started)
        try:
            yield info
        finally:
            ray.shutdown()
            loopback.__exit__(None, None, None)
        return
    storage = Path(storage)
    storage.mkdir(parents=True, exist_ok=True)
    _sweep_stale_temp_dirs(storage)
    temp_dir = Path(tempfile.mkdtemp(prefix=f"rh-{os.getpid()}-", dir="/tmp"))
    with open(storage / "ray_temp_dirs.txt", "a") as fh:
        fh.write(f"{temp_dir}\n")
    loopback = _loopback_only()
    loopback.__enter__()
    try:
        ray.init(num_cpus=options.num_cpus, num_gpus=options.num_gpus, _temp_dir=str(temp_dir),
                 include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR,
                 object_store_memory=512 * 2**20)
        info.update(owned=True, init_s=time.perf_counter() - started, temp_dir=temp_dir)
        yield info
    finally:
        with contextlib.suppress(Exception):
            ray.shutdown()
        loopback.__exit__(None, None, None)
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
