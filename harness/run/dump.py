"""A results store as a folder of Parquet files, one per table, and back.

A dump is small enough to commit (zstd Parquet; predictions sorted, so a re-dump of the same
store gives the same rows in the same order) and any Parquet reader opens it. Loading never runs
SQL found in the folder (DuckDB's IMPORT DATABASE would run its schema.sql and load.sql): the
harness creates its own schema and inserts each table's rows, then checks the counts against the
folder's manifest. A load writes only a new store file, and removes it again if anything fails.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import duckdb

from harness.core.errors import one_line
from harness.run.store import SCHEMA_VERSION, Store, StoreError, connect

TABLES = {"runs": "run_id", "trials": "trial_id", "metrics": "trial_id, eval_domain, split",
          "predictions": "trial_id, eval_domain, sample_id"}
MANIFEST = "store.json"


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def dump(db: str | Path, out_dir: str | Path) -> dict:
    """Write every table of `db` to `out_dir/<table>.parquet` plus a manifest; returns it."""
    db, out_dir = Path(db), Path(out_dir)
    if not db.is_file():
        raise StoreError(f"no results store at {db}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise StoreError(f"{out_dir} exists and is not an empty folder; name a new one")
    out_dir.mkdir(parents=True, exist_ok=True)
    con = connect(db, read_only=True, wait_s=10.0)
    try:
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        rows = {}
        for table, order in TABLES.items():
            con.execute(f"COPY (SELECT * FROM {table} ORDER BY {order}) TO "
                        f"{_quote(out_dir / (table + '.parquet'))} (FORMAT parquet, COMPRESSION zstd)")
            rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    finally:
        con.close()
    manifest = {"schema_version": version, "rows": rows, "source": db.name,
                "written_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def load(in_dir: str | Path, db: str | Path) -> dict:
    """Build a new store `db` from a dump folder; returns the folder's manifest."""
    in_dir, db = Path(in_dir), Path(db)
    try:
        manifest = json.loads((in_dir / MANIFEST).read_text())
        version, expected = int(manifest["schema_version"]), dict(manifest["rows"])
    except (OSError, ValueError, KeyError, TypeError):
        raise StoreError(f"{in_dir} is not a store dump (no readable {MANIFEST}; "
                         "make one with `harness store dump DIR`)") from None
    if version > SCHEMA_VERSION:
        raise StoreError(f"{in_dir} holds schema version {version}, newer than this harness "
                         f"({SCHEMA_VERSION}); upgrade tallrec-harness")
    missing = [t for t in TABLES if not (in_dir / f"{t}.parquet").is_file()]
    if missing:
        raise StoreError(f"{in_dir} lacks {', '.join(t + '.parquet' for t in missing)}")
    if db.exists():
        raise StoreError(f"{db} already exists; load a dump into a new file (nothing was changed)")
    store = Store(db)
    try:
        with store.writer() as con:
            con.execute("BEGIN")
            for table in TABLES:
                # BY NAME: a dump of an older schema lacks the columns added since (NULL here)
                con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)",
                            [str(in_dir / f"{table}.parquet")])
                got = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                if got != expected.get(table):
                    raise StoreError(f"{in_dir}/{table}.parquet holds {got} rows, its manifest "
                                     f"says {expected.get(table)}")
            con.execute("COMMIT")
    except duckdb.Error as exc:
        _remove(db)
        raise StoreError(f"cannot load {in_dir}: {one_line(exc)}") from None
    except BaseException:
        _remove(db)
        raise
    return manifest


def _remove(db: Path) -> None:
    """The half-built store this load created (and its write-ahead log)."""
    db.unlink(missing_ok=True)
    db.with_name(db.name + ".wal").unlink(missing_ok=True)
