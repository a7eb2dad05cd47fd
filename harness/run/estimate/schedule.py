"""A list-scheduling simulation of how `harness run` hands trials to Ray Tune (pure; unit-tested).

It follows `harness.tune.driver`: trials are offered in `phases.launch_order`; a trial that waits
on first-phase trials (`phases.dependencies`) is offered only once they end, behind the trials
already pending; Tune keeps at most `max_pending` trials pending (TUNE_MAX_PENDING_TRIALS_PG, set
by the driver to min(trials, 256)) and starts pending trials first-come first-served, skipping one
that does not fit the free resources (Tune's FIFO scheduler). CPUs form one pool; a fractional
GPU trial must fit inside one GPU (Ray does not split a fraction across devices), a trial of n >= 1
GPUs takes n whole free GPUs. Every trial's duration is taken as given (no contention model).
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

_EPS = 1e-9


@dataclass(frozen=True)
class Job:
    id: str
    seconds: float
    cpus: float
    gpus: float = 0.0
    deps: frozenset[str] = frozenset()


@dataclass
class Schedule:
    start: dict[str, float] = field(default_factory=dict)
    end: dict[str, float] = field(default_factory=dict)
    makespan_s: float = 0.0
    peak_running: int = 0


class _Pool:
    """Free CPUs (one pool) and the free fraction of each GPU."""

    def __init__(self, cpus: float, gpus: int):
        self.cpus = float(cpus)
        self.gpus = [1.0] * int(gpus)

    def _gpu_slots(self, need: float) -> list[int] | None:
        if need <= _EPS:
            return []
        if need < 1:
            # best fit: the fullest GPU that still holds the fraction (keeps whole GPUs free)
            fits = [i for i, free in enumerate(self.gpus) if free + _EPS >= need]
            return [min(fits, key=lambda i: self.gpus[i])] if fits else None
        whole = [i for i, free in enumerate(self.gpus) if free >= 1 - _EPS]
        n = math.ceil(need - _EPS)
        return whole[:n] if len(whole) >= n else None

    def take(self, job: Job) -> list[int] | None:
        if job.cpus > self.cpus + _EPS:
            return None
        slots = self._gpu_slots(job.gpus)
        if slots is None:
            return None
        self.cpus -= job.cpus
        share = job.gpus if job.gpus < 1 else 1.0
        for i in slots:
            self.gpus[i] -= share
        return slots

    def give(self, job: Job, slots: list[int]) -> None:
        self.cpus += job.cpus
        share = job.gpus if job.gpus < 1 else 1.0
        for i in slots:
            self.gpus[i] += share


def fits_at_all(job: Job, cpus: float, gpus: int) -> bool:
    return _Pool(cpus, gpus).take(job) is not None


def simulate(jobs: list[Job], cpus: float, gpus: int = 0, max_pending: int = 256,
             max_running: int | None = None) -> Schedule:
    """Start and end time of every job, in seconds from the run's start. `jobs` in launch order;
    `max_running`: the grid's ray.max_concurrent_trials."""
    for job in jobs:
        if not fits_at_all(job, cpus, gpus):
            raise ValueError(f"trial {job.id} needs {job.cpus:g} CPU and {job.gpus:g} GPU, "
                             f"more than the {cpus:g} CPU / {gpus} GPU given")
    known = {j.id for j in jobs}
    queue = [j for j in jobs]
    pending: list[Job] = []
    pool = _Pool(cpus, gpus)
    running: list[tuple[float, int, Job, list[int]]] = []   # heap of (end, seq, job, gpu slots)
    ended: set[str] = set()
    out, now, seq = Schedule(), 0.0, 0
    offered = (-1, -1)
    while queue or pending or running:
        started = True
        while started:   # Tune steps in milliseconds: offer and start until nothing changes
            started = False
            # the searcher: offer every trial whose first-phase trials have ended, in launch order
            if (len(ended), len(pending)) != offered:   # nothing changed: nothing new to offer
                keep = []
                for job in queue:
                    if len(pending) < max_pending and (job.deps & known) <= ended:
                        pending.append(job)
                    else:
                        keep.append(job)
                queue = keep
                offered = (len(ended), len(pending))
            # the scheduler: first come, first served, skipping what does not fit now
            for job in list(pending):
                if max_running is not None and len(running) >= max_running:
                    break
                slots = pool.take(job)
                if slots is not None:
                    pending.remove(job)
                    out.start[job.id] = now
                    heapq.heappush(running, (now + job.seconds, seq, job, slots))
                    seq, started = seq + 1, True
        out.peak_running = max(out.peak_running, len(running))
        if not running:
            if queue or pending:   # cannot happen with the harness's dependencies: say so
                raise ValueError(f"{len(queue) + len(pending)} trial(s) can never start "
                                 "(they wait on trials that never end)")
            break
        now = running[0][0]
        while running and running[0][0] <= now + _EPS:
            end, _, job, slots = heapq.heappop(running)
            pool.give(job, slots)
            ended.add(job.id)
            out.end[job.id] = end
    out.makespan_s = max(out.end.values(), default=0.0)
    return out
