"""The driver's store writer: results are written on a background thread, in arrival order."""
from __future__ import annotations

import contextlib
import errno
import logging
import queue
import signal
import threading
import time
from pathlib import Path
from typing import Callable, Protocol

from harness.core.errors import BusyError, HarnessError
from harness.core.result import TrialResult

log = logging.getLogger(__name__)
WAITING = "waiting for the store lock (someone has it open); finished results are journaled..."
_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


class DiskFull(HarnessError):
    """A result could not be journaled because its disk is full (or read-only): the run stops,
    since every later result would be at risk too."""


class JournalLike(Protocol):
    """The run's durable journal (harness.run.journal.Journal): tune never imports run."""
    def write(self, result: TrialResult) -> Path: ...
    def remove(self, path: Path) -> None: ...


def _busy(exc: Exception) -> bool:
    return isinstance(exc, BusyError)


class StoreWriter:
    """Writes results to the store on a background thread, in arrival order, one transaction
    per trial, so Tune's event loop starts the next trial while the last result is written
    (a DuckDB write costs 50-100 ms here).

    With a journal, `put` first writes the result durably to it (the caller's thread) and the
    entry is deleted only once the store has committed it: nothing computed is lost to a crash.
    A busy store (someone reading it) is waited for as long as the run lives, with `note(WAITING)`;
    `close` stops waiting after its timeout and leaves the rest journaled. `before_first` (the
    run's row, when the store was busy as the run started) is written before the first result.
    """

    def __init__(self, store, run_id: str, journal: JournalLike | None = None,
                 note: Callable[[str], None] | None = None, before_first: Callable | None = None):
        self.store, self.run_id, self.journal = store, run_id, journal
        self.before_first = before_first
        self.note = note or (lambda text: None)
        self.queue: "queue.Queue[tuple | None]" = queue.Queue()
        self.unwritten: list[TrialResult] = []   # not in the store (still journaled, if any)
        self.errors: list[str] = []
        self.written = 0
        self.deadline: float | None = None
        self.gave_up = False
        self.thread = threading.Thread(target=self._loop, name="harness-store-writer", daemon=True)
        self.thread.start()

    def put(self, result: TrialResult) -> None:
        entry = None
        if self.journal is not None:
            try:
                entry = self.journal.write(result)
            except OSError as exc:
                self.queue.put((result, None))    # the store may still take this one
                if exc.errno in _DISK:   # ... but the run stops: nothing later could be kept
                    folder = getattr(self.journal, "dir", None)
                    where = f" in {folder}" if folder else ""
                    raise DiskFull(f"cannot journal trial {result.trial_id[:12]}{where}: "
                                   f"{exc.strerror or exc}") from exc
                log.error("could not journal %s: %s", result.trial_id[:12], exc)
                return
        self.queue.put((result, entry))

    def _give_up(self) -> bool:
        return self.deadline is not None and time.monotonic() > self.deadline

    def _loop(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            result, entry = item
            if self.gave_up:   # the store stayed busy past close's timeout: leave it journaled
                self.unwritten.append(result)
                continue
            waiting = False
            while True:
                try:
                    if self.before_first is not None:
                        self.before_first()
                        self.before_first = None
                    self.store.write_result(result, run_id=self.run_id)
                    self.written += 1
                    if entry is not None:
                        self.journal.remove(entry)
                    break
                except Exception as exc:  # noqa: BLE001 - keep the rest of the grid going
                    if _busy(exc) and not self._give_up():
                        if not waiting:
                            waiting = True
                            self.note(WAITING)
                        time.sleep(1.0)   # the store already waited ~10 s
                        continue
                    self.gave_up = _busy(exc)
                    self.unwritten.append(result)
                    self.errors.append(str(exc).splitlines()[0] if _busy(exc)
                                       else f"{type(exc).__name__}: {exc}")
                    if not _busy(exc):
                        log.error("could not store %s: %s", result.trial_id[:12], exc)
                    break
            if waiting:
                self.note("")

    def close(self, timeout_s: float = 300.0) -> list[TrialResult]:
        """Write everything queued, waiting for a busy store up to `timeout_s` more; what is
        not written by then stays journaled (returned)."""
        self.deadline = time.monotonic() + timeout_s
        self.queue.put(None)
        with _ctrl_c_raises():   # Ctrl-C ends the wait at once; the rest stays journaled
            self.thread.join(timeout_s + 30)
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if item is not None:
                self.unwritten.append(item[0])
        return self.unwritten


@contextlib.contextmanager
def _ctrl_c_raises():
    """Python's own SIGINT handler while the run waits for the store: Ray and Tune install their
    own, which swallow a Ctrl-C once Tune has stopped."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
