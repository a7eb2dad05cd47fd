"""The past trials an estimate learns from: read from a results store (`.duckdb`) or from a store
dumped as Parquet (`harness store dump DIR`), read in place (nothing is written, no store built).

Only complete trials count; each row keeps what the store records per trial: spec (the `config`
JSON), device, start and end, wall seconds, per-phase `timings` and `extra` (rows, tokens, steps).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from harness.core.errors import one_line
from harness.run.dump import MANIFEST, _quote
from harness.run.store import Store, StoreError, execute

_TRIALS = ("SELECT trial_id, run_id, method, variant, train_mix, k, seed, model, config, device, "
           "started_at, finished_at, wall_s, timings, extra FROM trials WHERE status = 'complete'")
_RUNS = "SELECT run_id, name, started_at, finished_at, status FROM runs"


@dataclass
class StoredCosts:
    path: Path
    trials: pd.DataFrame     # one row per complete trial; timings / extra as dicts
    runs: pd.DataFrame


def _as_dict(value) -> dict:
    if isinstance(value, dict):
        return value
    try:
        out = json.loads(value) if value else {}
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _from_duckdb(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    with Store(path).reader() as con:
        return execute(con, _TRIALS, path=path), execute(con, _RUNS, path=path)


def _from_dump(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    if not (path / MANIFEST).is_file() or not (path / "trials.parquet").is_file() \
            or not (path / "runs.parquet").is_file():
        raise StoreError(f"{path} is not a store dump (it needs {MANIFEST}, trials.parquet and "
                         "runs.parquet; make one with `harness store dump DIR`)")
    con = duckdb.connect()   # in memory: reads the two files, writes nothing
    try:
        for table in ("trials", "runs"):
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet({_quote(path / (table + '.parquet'))})")
        return con.execute(_TRIALS).df(), con.execute(_RUNS).df()
    except duckdb.Error as exc:
        raise StoreError(f"cannot read the store dump {path}: {one_line(exc)[:200]}") from None
    finally:
        con.close()


def load_costs(path: str | Path) -> StoredCosts:
    """A `.duckdb` store or a Parquet dump folder; one-line StoreError for anything else."""
    path = Path(path)
    if not path.exists():
        raise StoreError(f"--costs: no results store or store dump at {path}")
    trials, runs = _from_dump(path) if path.is_dir() else _from_duckdb(path)
    trials = trials.copy()
    trials["timings"] = trials["timings"].map(_as_dict)
    trials["extra"] = trials["extra"].map(_as_dict)
    return StoredCosts(path, trials, runs)
