"""Work that Ctrl-C and a deadline can stop. DuckDB holds the calling thread inside C while a
query runs, so neither Ctrl-C nor a timer would reach it: the work runs in a daemon thread, and
the calling thread waits, calling `interrupt()` (e.g. `connection.interrupt`) at the deadline or
on Ctrl-C. Used by the store's queries and by `harness report`."""
from __future__ import annotations

import threading
import time
from typing import Any, Callable


class TimedOut(Exception):
    """The work ran past its deadline and was interrupted."""


def run_interruptible(work: Callable[[], Any], timeout_s: float | None, interrupt: Callable[[], None],
                      grace_s: float, name: str = "interruptible") -> Any:
    """`work()`'s result or exception; TimedOut at `timeout_s`; KeyboardInterrupt re-raised. On
    either stop `interrupt()` is called and this returns within `grace_s`, even when the worker
    is still inside a step that cannot be interrupted."""
    box: dict = {}
    done = threading.Event()   # not Thread.join: a join cut short by Ctrl-C can lie afterwards

    def run():
        try:
            box["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=name, daemon=True).start()
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    try:
        while not done.wait(0.05):
            if deadline is not None and time.monotonic() >= deadline:
                interrupt()
                done.wait(grace_s)
                raise TimedOut()
    except KeyboardInterrupt:
        interrupt()
        done.wait(grace_s)
        raise
    if "error" in box:
        raise box["error"]
    return box["value"]
