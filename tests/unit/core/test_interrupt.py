"""harness.core.interrupt: the one worker-thread wait behind the store's queries and reports."""
import threading
import time

import pytest

from harness.core.interrupt import TimedOut, run_interruptible


def test_returns_the_value_and_reraises_the_error():
    assert run_interruptible(lambda: 42, None, lambda: None, 1.0) == 42
    with pytest.raises(ZeroDivisionError):
        run_interruptible(lambda: 1 / 0, None, lambda: None, 1.0)


def test_a_deadline_interrupts_the_work_and_times_out():
    stop = threading.Event()
    started = time.monotonic()
    with pytest.raises(TimedOut):
        run_interruptible(lambda: stop.wait(30), 0.2, stop.set, 1.0)
    assert stop.is_set() and time.monotonic() - started < 5


def test_work_that_ignores_the_interrupt_still_returns_within_the_grace():
    started = time.monotonic()
    with pytest.raises(TimedOut):
        run_interruptible(lambda: time.sleep(30), 0.1, lambda: None, 0.3)
    assert time.monotonic() - started < 5
