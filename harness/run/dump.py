"""A results store as a folder of Parquet files, one per table, and back.

A dump is small enough to commit (zstd Parquet; predictions sorted, so a re-dump of the same
store gives the same rows in the same order) and any Parquet reader opens it. Loading never runs
SQL found in the folder (DuckDB's IMPORT DATABASE would run its schema.sql and load.sql) and
trusts nothing in it: the manifest is checked against a schema, each file must be a regular file
(a FIFO would hang the read), the Parquet files are opened by exact path (DuckDB's read_parquet
would treat `backup [1]` as a glob) and their columns are bound to the harness's own schema by
name, never by position; each trial row must be the trial its config hashes to. A load writes
only a new store file, and removes it again if anything fails.
"""
from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Annotated, Dict

import duckdb
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError

from harness.core.errors import one_line
from harness.run.store import SCHEMA_VERSION, Store, StoreError, connect, damaged, is_damage

TABLES = {"runs": "run_id", "trials": "trial_id", "metrics": "trial_id, eval_domain, split",
          "predictions": "trial_id, eval_domain, sample_id",
          "search_trials": "run_id, cell, tune_trial"}
# Tables newer than the first dumps: a dump (or a store) without one loads (dumps) with none.
OPTIONAL_TABLES = {"search_trials"}
MANIFEST = "store.json"
MAX_MANIFEST_BYTES = 1 << 20   # a real manifest is ~200 bytes


class Manifest(BaseModel):
    """What `dump` writes to store.json (extra keys, e.g. `source`, `written_at`, are kept)."""
    model_config = ConfigDict(extra="allow")
    schema_version: StrictInt = Field(ge=1)
    rows: Dict[str, Annotated[StrictInt, Field(ge=0)]]


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def open_regular(path: Path, what: str):
    """Open `path` for reading only if it is a regular file (checked on the open descriptor:
    O_NONBLOCK so a FIFO cannot block the open itself)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise StoreError(f"{what}: {path} not found") from None
    except OSError as exc:
        raise StoreError(f"{what}: cannot open {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise StoreError(f"{what}: {path} is not a regular file")
    return os.fdopen(fd, "rb")


def dump(db: str | Path, out_dir: str | Path) -> dict:
    """Write every table of `db` to `out_dir/<table>.parquet` plus a manifest; returns it."""
    db, out_dir = Path(db), Path(out_dir)
    if not db.is_file():
        raise StoreError(f"no results store at {db}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise StoreError(f"{out_dir} exists and is not an empty folder; name a new one")
    created = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:   # a dangling symlink, /proc/x, a read-only filesystem
        raise StoreError(f"cannot create the dump folder {out_dir}: {exc.strerror or exc}") from None
    con = None
    try:
        con = connect(db, read_only=True, wait_s=10.0)
        version = con.execute("SELECT max(version) FROM schema_version").fetchone()[0]
        rows = {}
        present = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        for table, order in TABLES.items():
            if table in OPTIONAL_TABLES and table not in present:
                continue
            con.execute(f"COPY (SELECT * FROM {table} ORDER BY {order}) TO "
                        f"{_quote(out_dir / (table + '.parquet'))} (FORMAT parquet, COMPRESSION zstd)")
            rows[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except BaseException as exc:
        _remove_dump(out_dir, created)   # no half dump that a later load would trust
        if isinstance(exc, duckdb.Error):
            if is_damage(exc):
                raise damaged(db, exc) from None
            raise StoreError(f"cannot dump {db}: {one_line(exc)}") from None
        raise
    finally:
        if con is not None:
            con.close()
    manifest = {"schema_version": version, "rows": rows, "source": db.name,
                "written_at": time.strftime("%Y-%m-%d %H:%M:%S")}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def read_manifest(in_dir: Path) -> dict:
    """The folder's manifest, checked against `Manifest`; one-line StoreError otherwise."""
    bad = f"{in_dir} is not a store dump"
    hint = "make one with `harness store dump DIR`"
    if not (in_dir / MANIFEST).exists():
        raise StoreError(f"{bad} (no {MANIFEST}; {hint})")
    with open_regular(in_dir / MANIFEST, bad) as fh:
        text = fh.read(MAX_MANIFEST_BYTES + 1)
    if len(text) > MAX_MANIFEST_BYTES:
        raise StoreError(f"{bad} ({MANIFEST} is over {MAX_MANIFEST_BYTES} bytes)")
    try:
        data = json.loads(text)
    except RecursionError:
        raise StoreError(f"{bad} ({MANIFEST} is nested too deeply)") from None
    except ValueError as exc:   # JSONDecodeError and UnicodeDecodeError
        raise StoreError(f"{bad} ({MANIFEST} is not JSON: {one_line(exc)[:120]}; {hint})") from None
    try:
        manifest = Manifest.model_validate(data)
    except (ValidationError, RecursionError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": "nested too deeply"}
        where = ".".join(map(str, first["loc"])) or "the top level"
        raise StoreError(f"{bad} ({MANIFEST}: {where}: {first['msg']})") from None
    missing = [t for t in TABLES if t not in manifest.rows and t not in OPTIONAL_TABLES]
    if missing:
        raise StoreError(f"{bad} ({MANIFEST}: rows lacks {', '.join(missing)})")
    return manifest.model_dump()


def load(in_dir: str | Path, db: str | Path) -> dict:
    """Build a new store `db` from a dump folder; returns the folder's manifest."""
    in_dir, db = Path(in_dir), Path(db)
    manifest = read_manifest(in_dir)
    version, expected = manifest["schema_version"], manifest["rows"]
    if version > SCHEMA_VERSION:
        raise StoreError(f"{in_dir} holds schema version {version}, newer than this harness "
                         f"({SCHEMA_VERSION}); upgrade tallrec-harness")
    tables = [t for t in TABLES if t in expected]
    missing = [t for t in tables if not (in_dir / f"{t}.parquet").exists()]
    if missing:
        raise StoreError(f"{in_dir} lacks {', '.join(t + '.parquet' for t in missing)}")
    if db.exists() or db.is_symlink():   # a dangling link would create a file where it points
        raise StoreError(f"{db} already exists; load a dump into a new file (nothing was changed)")
    store = Store(db)
    try:
        with store.writer() as con:
            con.execute("BEGIN")
            for table in tables:
                got = _insert(con, table, in_dir / f"{table}.parquet")
                if got != expected[table]:
                    raise StoreError(f"{in_dir}/{table}.parquet holds {got} rows, its manifest "
                                     f"says {expected[table]}")
            _check_belonging(con, in_dir)
            con.execute("COMMIT")
    except duckdb.Error as exc:
        _remove(db)
        raise StoreError(f"cannot load {in_dir}: {one_line(exc)}") from None
    except BaseException:
        _remove(db)
        raise
    return manifest


# Columns added by store schema upgrades after version 1 (harness.run.store._upgrade).
ADDED_SINCE_V1 = {"predictions": {"user_id"}}


def _insert(con, table: str, path: Path) -> int:
    """Insert one Parquet file into `table`, its columns bound by name; returns the row count."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    with open_regular(path, "cannot load the dump") as fh:
        try:
            parquet = pq.ParquetFile(fh)
        except (pa.ArrowException, OSError) as exc:
            raise StoreError(f"cannot load {path}: not a Parquet file ({one_line(exc)[:120]})") from None
        names = parquet.schema_arrow.names
        columns = [r[0] for r in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() "
            "AND schema_name = 'main' AND table_name = ? ORDER BY column_index", [table]).fetchall()]
        # A dump of an older schema lacks the columns added since: those load as NULL.
        missing = set(columns) - set(names) - ADDED_SINCE_V1.get(table, set())
        if set(names) - set(columns) or missing:
            extra = sorted(set(names) - set(columns)) or "none"
            lacks = sorted(missing) or "none"
            raise StoreError(f"cannot load {path}: its columns are not those of `{table}` "
                             f"(unknown: {extra}; missing: {lacks})")
        batches = pa.RecordBatchReader.from_batches(parquet.schema_arrow, parquet.iter_batches(1 << 16))
        con.register("_dump_in", batches)
        try:
            column_list = ", ".join('"' + c.replace('"', '""') + '"' for c in columns if c in names)
            con.execute(f"INSERT INTO {table} BY NAME SELECT {column_list} FROM _dump_in")
        except pa.ArrowException as exc:
            raise StoreError(f"cannot load {path}: {one_line(exc)[:160]}") from None
        finally:
            con.unregister("_dump_in")
    return con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def _check_belonging(con, in_dir: Path) -> None:
    """Every trial row is the trial its spec hashes to (a forged id would make `harness run`
    skip that trial as done), and every metrics / predictions row belongs to a trial row."""
    from pydantic import ValidationError as SpecError

    from harness.core.spec import TrialSpec

    for trial_id, config in con.execute("SELECT trial_id, config FROM trials").fetchall():
        try:
            ok = TrialSpec.from_json(config).trial_id == trial_id
        except (SpecError, ValueError, TypeError):
            ok = False
        if not ok:
            raise StoreError(f"cannot load {in_dir}: trials.parquet row {str(trial_id)[:16]!r} is not "
                             "the trial its config describes (its id is not the spec's sha256)")
    for table in ("metrics", "predictions"):
        orphan = con.execute(f"SELECT trial_id FROM {table} WHERE trial_id NOT IN "
                             "(SELECT trial_id FROM trials) LIMIT 1").fetchone()
        if orphan:
            raise StoreError(f"cannot load {in_dir}: {table}.parquet has rows of trial "
                             f"{str(orphan[0])[:16]!r}, which trials.parquet does not hold")


def _remove(db: Path) -> None:
    """The half-built store this load created (and its write-ahead log)."""
    db.unlink(missing_ok=True)
    db.with_name(db.name + ".wal").unlink(missing_ok=True)


def _remove_dump(out_dir: Path, created: bool) -> None:
    """The files a failed dump wrote (only its own names), and the folder if it made it."""
    for name in [*(f"{t}.parquet" for t in TABLES), MANIFEST]:
        (out_dir / name).unlink(missing_ok=True)
    if created:
        try:
            out_dir.rmdir()
        except OSError:
            pass
