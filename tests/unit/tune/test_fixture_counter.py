"""The `fail_until` attempt counter of tests/fixtures/methods.py counts every attempt exactly once
when trials run concurrently (it once lost a race and failed a test under load)."""
import multiprocessing as mp

from harness.core.spec import TrialSpec


def _attempts(counter: str, n: int) -> int:
    import tests.fixtures.methods as methods

    spec = TrialSpec(method="test-once", params={"fail_until": [counter, 0]})
    for _ in range(n):
        methods.flaky(spec, None)      # raises on a torn read without the lock
    return n


def test_concurrent_attempts_are_all_counted(tmp_path):
    counter = tmp_path / "attempts"
    with mp.get_context("spawn").Pool(4) as pool:
        done = pool.starmap(_attempts, [(str(counter), 150)] * 4)
    assert sum(done) == 600
    assert counter.read_text() == "600"
