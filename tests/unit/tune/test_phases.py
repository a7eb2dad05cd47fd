"""What the scheduler derives from the expanded grid (no Ray): phases, launch order, progress."""
import time

import pytest
from rich.console import Console

import tests.fixtures.methods  # noqa: F401
from harness.grid import expand, parse_grid
from harness.run.progress import RunProgress, render_view
from harness.core.result import DomainMetric, TrialResult
from harness.tune.phases import dependencies, launch_order


def specs_of(raw_grid):
    return expand(parse_grid({"name": "t", "grid": raw_grid}))


def test_consumers_wait_for_the_first_phase_trial_of_their_seed():
    specs = specs_of({"method": ["test-staged", "test-instant"], "k": [4, 8], "seed": [0, 1],
                      "train_mix": ["movie"]})
    deps = dependencies(specs)
    build = {s.seed: s.trial_id for s in specs if s.variant == "build"}
    for s in specs:
        if s.variant == "use":
            assert deps[s.trial_id] == {build[s.seed]}
        else:
            assert deps[s.trial_id] == set()


def test_a_consumer_with_another_block_value_does_not_wait():
    g = parse_grid({"grid": {"method": ["test-staged"], "k": [4], "seed": [0], "train_mix": ["movie"]}})
    build, use = expand(g)
    changed = use.model_copy(update={"params": {**use.params, "at": {**use.params["at"], "epochs": 9}}})
    assert dependencies([build, changed])[changed.trial_id] == set()


def test_tallrec_full_and_icl_alpaca_lora_wait_for_at_rt_does_not():
    pytest.importorskip("peft")
    specs = specs_of({"method": ["tallrec", "icl"], "k": [16], "seed": [0, 1], "train_mix": ["movie"]})
    deps = dependencies(specs)
    at = {s.seed: s.trial_id for s in specs if s.variant == "AT"}
    for s in specs:
        if s.variant in ("full", "alpaca-lora"):
            assert deps[s.trial_id] == {at[s.seed]}, s.label()
        else:
            assert deps[s.trial_id] == set(), s.label()


def test_launch_order_puts_first_phase_first_and_interleaves_llm_with_others():
    specs = specs_of({"method": ["test-instant", "test-staged"], "k": [4], "seed": [0, 1],
                      "train_mix": ["movie"]})
    order = [(s.method, s.variant) for s in launch_order(specs)]
    assert order[:2] == [("test-staged", "build")] * 2
    assert order[2:] == [("test-staged", "use"), ("test-instant", None)] * 2
    assert sorted(s.trial_id for s in launch_order(specs)) == sorted(s.trial_id for s in specs)


def _result(spec, status="complete", wall=2.0):
    now = time.time()
    metrics = [DomainMetric("movie", "test", 0.75, 20, 10)] if status == "complete" else []
    return TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(), status=status,
                       error=None if status == "complete" else "Traceback\nValueError: boom",
                       metrics=metrics, started_at=now - wall, finished_at=now)


def test_progress_counts_eta_and_render():
    specs = specs_of({"method": ["test-instant"], "k": [4], "seed": [0, 1, 2, 3],
                      "train_mix": ["movie"]})
    console = Console(record=True, width=100, file=open("/dev/null", "w"))
    progress = RunProgress(specs, title="t", console=console, live=False)
    assert progress.eta() is None
    for s in specs[:2]:
        progress.started(s)
    progress.finished(_result(specs[0]), final=True)
    progress.finished(_result(specs[1], "failed"), final=False)       # will be retried
    view = progress.view()
    assert (view.done, view.failed, view.retrying, view.queued, len(view.running)) == (1, 0, 1, 2, 0)
    assert view.eta_s == pytest.approx(3 * 2.0 / 2, rel=0.05)          # 3 left x 2 s / 2 slots seen
    progress.finished(_result(specs[1], "failed"), final=True)
    assert progress.view().failed == 1
    rec = Console(record=True, width=100, file=open("/dev/null", "w"))
    rec.print(render_view(progress.view()))
    out = rec.export_text()
    assert "done 1" in out and "failed 1" in out and "queued 2" in out and "movie 0.750" in out
    printed = console.export_text()
    assert "[1/4] done test-instant/movie@K4/s0  movie 0.750" in printed
    assert "failed, will retry test-instant/movie@K4/s1  ValueError: boom" in printed
