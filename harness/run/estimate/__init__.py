"""`harness estimate`: a grid's wall time and device-hours, predicted from the per-phase costs of
past trials in a store, by a list-scheduling simulation of how `harness run` hands trials to Tune.

- `source`: the stored trials (a `.duckdb` store or a Parquet dump), read in place.
- `work`: what a trial has to do, from its spec (training examples, validation and test rows,
  Alpaca records, model).
- `costs`: each trial's predicted seconds: the stored trial itself, other seeds, or a stored
  cell scaled phase by phase; the GPU cost model where no GPU trial is stored.
- `gpu_model` + `assumptions.yaml`: model sizes and the FLOPs / throughput model, all stated.
- `schedule`: the simulation (launch order, first-phase waits, pending cap, FIFO, packing).
- `measured`: what the stored run took (busy wall, run spans, trial-hours).
- `makespan`: `estimate(...)`, tying them together for one or more device counts.
"""
from harness.run.estimate.makespan import Estimate, Scenario, estimate

__all__ = ["Estimate", "Scenario", "estimate"]
