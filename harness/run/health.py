"""A store's health: a check that reads every block, a rolling backup, and restoring from it.

DuckDB keeps a checksum on every block and verifies it when the block is read, so a scan of
every column of every table finds a damaged data block; a rolled-back insert into the keyed
tables makes DuckDB load their indexes too. `prepare_for_run` does both before a run writes, then
copies the (now known good) file to `<store>.bak`, so a damaged store can be set back to it.
"""
from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from harness.run.store import (SANDBOX, Store, StoreError, backup_path, connect, damaged,
                               is_damage, one_line)

# Rows no trial can have (trial ids are sha256 hex): inserted, then rolled back.
_PROBE = ("INSERT INTO trials (trial_id, status) VALUES ('~check', 'check')",
          "INSERT INTO metrics (trial_id, eval_domain, split) VALUES ('~check', '~', '~')")


@dataclass
class Health:
    path: Path
    tables: int = 0
    rows: int = 0
    check_s: float = 0.0
    backup: Path | None = None
    backup_s: float = 0.0


def scan(path: Path, wait_s: float = 10.0, on_open=None) -> Health:
    """Read every value of every table (read-only); a damaged block raises `damaged(...)`.
    `on_open(con)` is told the connection, so a caller can interrupt a long check."""
    started = time.perf_counter()
    health = Health(Path(path))
    con = connect(Path(path), read_only=True, wait_s=wait_s, config=SANDBOX)
    try:
        if on_open is not None:
            on_open(con)
        names = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() "
            "AND NOT temporary").fetchall()]
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            # hash() of every column forces each block to be read and its checksum verified
            health.rows += con.execute(f"SELECT count(*), sum(hash(COLUMNS(*))) FROM {quoted}").fetchone()[0]
        health.tables = len(names)
    except duckdb.Error as exc:
        if is_damage(exc):
            raise damaged(Path(path), exc) from None
        raise StoreError(f"cannot check {path}: {one_line(exc)}") from None
    finally:
        con.close()
    health.check_s = time.perf_counter() - started
    return health


def prepare_for_run(store: Store) -> Health:
    """Before a run writes: refuse a damaged store (one line naming its backup); otherwise take the
    rolling backup. A store that does not exist yet is created (and its folder checked)."""
    if not store.path.exists():
        store.init()
        return Health(store.path)
    health = scan(store.path, store.wait_s)
    started = time.perf_counter()
    with store.writer() as con:       # holds DuckDB's write lock: no one writes during the copy
        try:
            con.execute("BEGIN TRANSACTION")
            for sql in _PROBE:
                con.execute(sql)
            con.execute("ROLLBACK")
            con.execute("CHECKPOINT")  # a WAL replayed on open goes into the file we copy
        except duckdb.Error as exc:
            if is_damage(exc):
                raise damaged(store.path, exc) from None
            raise StoreError(f"cannot check {store.path}: {one_line(exc)}") from None
        health.backup = _copy(store.path, backup_path(store.path))
    health.backup_s = time.perf_counter() - started
    return health


def _copy(source: Path, target: Path) -> Path:
    """Copy then rename, so a crash mid-copy leaves the previous backup whole."""
    partial = target.with_name(target.name + ".partial")
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    except OSError as exc:
        partial.unlink(missing_ok=True)
        raise StoreError(f"cannot write the backup {target}: {exc.strerror or exc}") from None
    return target


def restore(path: str | Path, force: bool = False) -> tuple[Path, Path | None]:
    """Set the store back to its backup. The file it replaces is kept beside it, renamed, with
    its WAL; returns (backup used, where the replaced file went)."""
    path = Path(path)
    bak = backup_path(path)
    if not bak.is_file():
        raise StoreError(f"no backup of {path} to restore ({bak} is taken at each run start)")
    scan(bak)   # never restore a backup that is itself damaged
    if path.exists():
        try:
            scan(path)          # also refuses a store another process is writing (busy)
        except StoreError as exc:
            if "damaged" not in str(exc):
                raise
        else:
            if not force:
                raise StoreError(f"{path} passes its check; restoring would set it back to {bak} "
                                 "(pass --force to do it anyway)")
    kept = None
    if path.exists():
        kept = path.with_name(f"{path.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, kept)
        wal = Path(f"{path}.wal")
        if wal.exists():   # a WAL belongs to the file it was written for, never to the backup
            os.replace(wal, Path(f"{kept}.wal"))
    _copy(bak, path)
    return bak, kept
