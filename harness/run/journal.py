"""The run journal: every finished trial's result, durable on local disk until the store has it.

The driver writes `<run dir>/journal/<trial_id>-<ns>.json` (temp file, fsync, atomic rename)
BEFORE it tries the store and deletes it once the store's transaction has committed, so a driver
crash, a kill or a store held busy by a long reader never costs a recomputation. The driver holds
an flock on `journal/.lock` while it lives; `ingest` (run by `harness run` and `harness status`)
stores the journals whose driver is gone. JSON, not pickle: loading a journal runs no code.

Nothing read back is trusted (`harness.run.validate`): an entry is stored only if it passes the
result schema, carries its own spec's hash and belongs to its run's plan; any other file in the
journal (a stray name, a FIFO, a folder, a forged or torn entry) is skipped with one warning
naming it, and never stored.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.core.errors import BusyError
from harness.core.result import TrialResult
from harness.run.validate import (ENTRY_NAME, MAX_ENTRY_BYTES, BadFile, read_json, result_from,
                                  run_end_status)

RUN_END = "run_end.json"      # a run's end status, when the store was busy at its end


def encode(result: TrialResult) -> str:
    data = asdict(result)
    data["predictions"] = {d: f.to_dict(orient="list") for d, f in result.predictions.items()}
    return json.dumps(data, default=str)


def decode(text: str) -> TrialResult:
    """A result from its journal text, checked as an entry read back from disk is."""
    return result_from(json.loads(text), Path("<journal entry>"), None)


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
        lock = self.dir / ".lock"
        if lock.is_symlink() or (lock.exists() and not lock.is_file()):
            raise BadFile(f"{lock}: not a regular file; this journal is skipped until it is one")
        fh = open(lock, "a+")
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
    def entries(self, strays: list[str] | None = None) -> list[Path]:
        """Journaled results (`<trial id>-<ns>.json`), oldest first. Any other name (save the
        lock, the end record and hidden temp files) goes to `strays`, never read."""
        if not self.dir.is_dir():
            return []
        found = []
        for path in self.dir.iterdir():
            match = ENTRY_NAME.fullmatch(path.name)
            if match:
                found.append((int(match.group(2)), path.name, path))
            elif strays is not None and path.name not in (RUN_END, ".lock") \
                    and not path.name.startswith("."):
                strays.append(f"{path}: not a journal entry (want <trial id>-<ns>.json); skipped")
        return [p for _, _, p in sorted(found)]

    def pending(self) -> bool:
        return bool(self.entries()) or os.path.lexists(self.dir / RUN_END)


@dataclass
class Ingested:
    """What `ingest` did: results stored, results left (busy store, store error), their reasons,
    and files skipped (one warning each)."""
    stored: int = 0
    left: int = 0
    busy: int = 0          # of `left`: the store was busy (a later ingest stores them)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    waiting: dict[str, str] = field(default_factory=dict)   # trial id -> status, journaled, busy


def load_entry(path: Path, plan_ids: set[str] | None) -> TrialResult:
    """A journal entry checked against the result schema, its spec and its run's plan."""
    return result_from(read_json(path, MAX_ENTRY_BYTES), path, plan_ids)


def ingest(store, run_id: str, directory: Path, out: Ingested | None = None, plan=None) -> Ingested:
    """Store one run's journaled results (and its end status) if its driver is gone.

    `plan` (validate.RunPlan, from the run's plan.json) restricts entries to its trials and gives
    the run's row, inserted first if the store lacks it (a restored store). A busy store stops
    the writes (one wait, not one per entry); the rest stay journaled and are listed in `waiting`.
    """
    out = out or Ingested()
    journal = Journal(directory)
    if not journal.pending():
        return out
    try:
        if not journal.hold():
            return out
    except (BadFile, OSError) as exc:
        out.warnings.append(str(exc) if isinstance(exc, BadFile) else f"{directory}: {exc}")
        return out
    busy = False
    plan_ids = None if plan is None else set(plan.to_run or plan.trial_ids)
    try:
        if plan is not None:
            busy = _write(out, lambda: store.record_run(
                run_id, plan.name or "", plan.grid_json, plan.started_at, plan.host or "",
                plan.git_sha)) == "busy"
        strays: list[str] = []
        left = out.left      # a result of this run still journaled keeps its run "running"
        for path in journal.entries(strays):
            try:
                result = load_entry(path, plan_ids)
            except BadFile as exc:
                out.warnings.append(f"{exc}; skipped")
                continue
            if busy:
                out.left += 1
                out.busy += 1
                out.waiting[result.trial_id] = result.status
                continue
            outcome = _write(out, lambda: store.write_result(result, run_id=run_id))
            busy = outcome == "busy"
            if outcome == "stored":
                journal.remove(path)
                out.stored += 1
                continue
            out.left += 1
            if busy:
                out.busy += 1
                out.waiting[result.trial_id] = result.status
        out.warnings.extend(strays)
        if not busy and out.left == left:   # skipped (bad) files do not hold the end back
            _ingest_end(store, run_id, directory / RUN_END, journal, out)
    finally:
        journal.release()
    return out


def _write(out: Ingested, write) -> str:
    """Run one store write: "stored", "busy" (the store is held), or "error" (recorded)."""
    try:
        write()
    except BusyError as exc:
        out.errors.append(str(exc).splitlines()[0])
        return "busy"
    except Exception as exc:  # noqa: BLE001 - refused (damaged store, bad row): it stays journaled
        out.errors.append((str(exc).splitlines() or [type(exc).__name__])[0])
        return "error"
    return "stored"


def _ingest_end(store, run_id: str, end: Path, journal: Journal, out: Ingested) -> None:
    from harness.run.store import StoreError

    if not os.path.lexists(end):
        return
    try:
        status = run_end_status(read_json(end), end)
    except BadFile as exc:
        out.warnings.append(f"{exc}; skipped")
        return
    try:
        store.end_run(run_id, status)
    except StoreError as exc:
        out.errors.append(str(exc).splitlines()[0])
        return
    journal.remove(end)


def ingest_journals(store):
    """Store the journaled results of every run of `store` whose driver is gone (a killed
    driver, or a store that stayed busy to the end): `harness run` and `harness status` call it.
    Run folders come from trusted local configuration only (`rundirs`), and a folder counts
    only if its plan.json names this store."""
    from harness.run.rundirs import run_dirs
    from harness.run.validate import BadFile, read_plan

    out = Ingested()
    if not store.path.exists():
        return out
    here = store.path.resolve()
    for run_dir in run_dirs(store.path):
        if not Journal(run_dir / "journal").pending():
            continue
        try:
            plan = read_plan(run_dir)
        except BadFile as exc:
            out.warnings.append(f"{exc}; its journal is skipped")
            continue
        if Path(plan.db) == here:
            ingest(store, plan.run_id, run_dir / "journal", out, plan=plan)
    return out
