"""The run journal: every finished trial's result, durable on local disk until the store has it.

The driver writes `<run dir>/journal/<trial_id>-<ns>.json` (temp file, fsync, atomic rename)
BEFORE it tries the store and deletes it once the store's transaction has committed, so a driver
crash, a kill or a store held busy by a long reader never costs a recomputation. The driver holds
an flock on `journal/.lock` while it lives; `ingest` (run by `harness run` and `harness status`)
stores the journals whose driver is gone. JSON, not pickle: loading a journal runs no code.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from harness.core.errors import BusyError
from harness.core.result import DomainMetric, TrialResult

RUN_END = "run_end.json"      # a run's end status, when the store was busy at its end


def encode(result: TrialResult) -> str:
    data = asdict(result)
    data["predictions"] = {d: f.to_dict(orient="list") for d, f in result.predictions.items()}
    return json.dumps(data, default=str)


def decode(text: str) -> TrialResult:
    data = json.loads(text)
    data["metrics"] = [DomainMetric(**m) for m in data.get("metrics", [])]
    data["predictions"] = {d: pd.DataFrame(cols) for d, cols in data.get("predictions", {}).items()}
    return TrialResult(**data)


def _durable_write(path: Path, text: str) -> None:
    """Write `text` to `path` so that a crash leaves either nothing or all of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    with contextlib.suppress(OSError):      # the rename itself durable (POSIX directories)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class Journal:
    """One run's journal directory. `write` / `remove` are what the driver's writer calls."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self._lock_fh = None

    # -- the driver's side -------------------------------------------------------------------
    def write(self, result: TrialResult) -> Path:
        # The time stamp orders attempts of one trial (a failure, then its retry's success).
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / f"{result.trial_id}-{time.time_ns()}.json"
        _durable_write(path, encode(result))
        return path

    @staticmethod
    def remove(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()

    def end_run(self, status: str) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _durable_write(self.dir / RUN_END, json.dumps({"status": status}))

    def hold(self) -> bool:
        """Take the journal's lock (kept until `release` or this process ends). False if another
        live process holds it (that driver stores its own journal)."""
        try:
            import fcntl
        except ImportError:   # not POSIX: no ingest of a journal someone may still be writing
            return False
        self.dir.mkdir(parents=True, exist_ok=True)
        fh = open(self.dir / ".lock", "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            return False
        self._lock_fh = fh
        return True

    def release(self) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()     # closing drops the flock
            self._lock_fh = None

    # -- reading -----------------------------------------------------------------------------
    def entries(self) -> list[Path]:
        """Journaled results, oldest first."""
        if not self.dir.is_dir():
            return []
        files = [p for p in self.dir.glob("*-*.json") if not p.name.startswith(".")]
        return sorted(files, key=lambda p: int(p.stem.rpartition("-")[2] or 0))

    def pending(self) -> bool:
        return bool(self.entries()) or (self.dir / RUN_END).exists()


@dataclass
class Ingested:
    """What `ingest` did: results stored, results left (busy store, bad file), their reasons."""
    stored: int = 0
    left: int = 0
    busy: int = 0          # of `left`: the store was busy (a later ingest stores them)
    errors: list[str] = field(default_factory=list)


def ingest(store, run_id: str, directory: Path, out: Ingested | None = None) -> Ingested:
    """Store one run's journaled results (and its end status) if its driver is gone.

    A result stays journaled if the store cannot take it (busy: a later ingest retries).
    """
    from harness.run.store import StoreError

    out = out or Ingested()
    journal = Journal(directory)
    if not journal.pending() or not journal.hold():
        return out
    try:
        for path in journal.entries():
            try:
                result = decode(path.read_text(encoding="utf-8"))
            except (OSError, ValueError, TypeError) as exc:
                out.left += 1
                out.errors.append(f"{path}: unreadable journal entry ({type(exc).__name__}: {exc})")
                continue
            try:
                store.write_result(result, run_id=run_id)
            except Exception as exc:  # noqa: BLE001 - busy or refused: it stays journaled
                out.left += 1
                out.busy += isinstance(exc, BusyError)
                out.errors.append(str(exc).splitlines()[0])
                continue
            journal.remove(path)
            out.stored += 1
        end = directory / RUN_END
        if end.exists() and not journal.entries():
            with contextlib.suppress(StoreError, ValueError, OSError):
                store.end_run(run_id, json.loads(end.read_text())["status"])
                journal.remove(end)
    finally:
        journal.release()
    return out
