"""The makespan simulation on hand-made cost tables: phases, FIFO with packing, GPU fractions."""
import pytest

from harness.run.estimate.schedule import Job, simulate


def test_two_cpus_run_two_trials_at_once():
    jobs = [Job(f"t{i}", 10.0, cpus=1) for i in range(4)]
    out = simulate(jobs, cpus=2)
    assert out.makespan_s == 20.0
    assert out.peak_running == 2
    assert [out.start[f"t{i}"] for i in range(4)] == [0.0, 0.0, 10.0, 10.0]


def test_a_trial_waits_for_its_first_phase_trial_while_others_fill_the_slots():
    at = Job("AT", 10.0, cpus=1)
    full = Job("full", 5.0, cpus=1, deps=frozenset({"AT"}))
    small = [Job(f"b{i}", 1.0, cpus=1) for i in range(3)]
    out = simulate([at, full, *small], cpus=2)
    assert out.start["full"] == 10.0          # a slot was free from t=1, but AT ends at 10
    assert [out.start[f"b{i}"] for i in range(3)] == [0.0, 1.0, 2.0]
    assert out.makespan_s == 15.0


def test_a_trial_offered_after_its_dependency_goes_behind_the_pending_ones():
    # Tune holds every offered trial as pending; `full` is offered only when AT ends, so the
    # trials already pending start before it (FIFO), as in harness.tune.driver
    at = Job("AT", 2.0, cpus=1)
    full = Job("full", 1.0, cpus=1, deps=frozenset({"AT"}))
    rest = [Job(f"r{i}", 3.0, cpus=1) for i in range(2)]
    out = simulate([at, full, *rest], cpus=1)
    assert out.start["full"] == 8.0 and out.makespan_s == 9.0


def test_packing_skips_a_trial_that_does_not_fit_and_starts_one_that_does():
    big = Job("big", 4.0, cpus=2)
    small = Job("small", 1.0, cpus=1)
    first = Job("first", 4.0, cpus=1)
    out = simulate([first, big, small], cpus=2)
    assert out.start["small"] == 0.0 and out.start["big"] == 4.0
    assert out.makespan_s == 8.0


def test_gpu_fractions_share_one_device_and_whole_gpus_do_not():
    quarters = [Job(f"q{i}", 4.0, cpus=1, gpus=0.25) for i in range(4)]
    out = simulate(quarters, cpus=8, gpus=1)
    assert set(out.start.values()) == {0.0} and out.makespan_s == 4.0
    mixed = [Job("half", 4.0, cpus=1, gpus=0.5), Job("one", 2.0, cpus=1, gpus=1)]
    out = simulate(mixed, cpus=8, gpus=1)
    assert out.start["one"] == 4.0 and out.makespan_s == 6.0


def test_a_two_gpu_trial_needs_two_whole_free_gpus():
    jobs = [Job("q", 3.0, cpus=1, gpus=0.25), Job("pair", 1.0, cpus=1, gpus=2), Job("one", 1.0, cpus=1, gpus=1)]
    out = simulate(jobs, cpus=8, gpus=2)
    assert out.start["one"] == 0.0            # the free whole GPU, beside the fraction
    assert out.start["pair"] == 3.0           # both GPUs whole only once the fraction ends
    assert out.makespan_s == 4.0


def test_n_devices_pack_n_trials_and_the_makespan_follows():
    jobs = [Job(f"t{i}", 10.0, cpus=4, gpus=1) for i in range(16)]
    assert simulate(jobs, cpus=64, gpus=8).makespan_s == 20.0
    assert simulate(jobs, cpus=64, gpus=16).makespan_s == 10.0
    assert simulate(jobs, cpus=8, gpus=16).makespan_s == 80.0   # CPUs bind: 2 at once


def test_max_running_and_max_pending():
    jobs = [Job(f"t{i}", 1.0, cpus=1) for i in range(4)]
    assert simulate(jobs, cpus=4, max_running=1).makespan_s == 4.0
    out = simulate(jobs, cpus=4, max_pending=1)
    # the pending cap orders the offers; Tune refills it as trials start, so all four start at 0
    assert out.makespan_s == 1.0 and out.peak_running == 4


def test_a_trial_larger_than_the_cluster_is_refused():
    with pytest.raises(ValueError, match="needs 1 CPU and 2 GPU"):
        simulate([Job("x", 1.0, cpus=1, gpus=2)], cpus=4, gpus=1)
