"""The DuckDB results store. Only the driver writes; readers open it read-only between writes.

One trial's rows (trials, metrics, predictions) go in one transaction: all or nothing. Storing a
trial that is already complete changes nothing; a failed trial is replaced by a later attempt.
The file is opened only for the duration of each write, so `harness query` and the duckdb CLI
can read while a run is going.
"""
from __future__ import annotations

import contextlib
import json
import time
import uuid
from pathlib import Path

import duckdb
import pandas as pd

from harness.core.errors import BusyError, HarnessError, one_line
from harness.core.interrupt import TimedOut, run_interruptible
from harness.core.result import TrialResult
from harness.core.spec import TrialSpec

SCHEMA_VERSION = 2   # 2: predictions.user_id
DEFAULT_DB = "results.duckdb"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id VARCHAR PRIMARY KEY, name VARCHAR, grid_json VARCHAR, started_at TIMESTAMP,
    finished_at TIMESTAMP, host VARCHAR, git_sha VARCHAR, status VARCHAR
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id VARCHAR PRIMARY KEY, run_id VARCHAR, method VARCHAR, variant VARCHAR,
    train_mix VARCHAR, k INTEGER, seed INTEGER, model VARCHAR, config JSON, status VARCHAR NOT NULL,
    error VARCHAR, attempts INTEGER DEFAULT 1, started_at TIMESTAMP, finished_at TIMESTAMP,
    wall_s DOUBLE, timings JSON, extra JSON, host VARCHAR, device VARCHAR, versions JSON,
    git_sha VARCHAR, git_dirty BOOLEAN
);
CREATE TABLE IF NOT EXISTS metrics (
    trial_id VARCHAR, eval_domain VARCHAR, split VARCHAR, auc DOUBLE, n INTEGER, n_pos INTEGER,
    PRIMARY KEY (trial_id, eval_domain, split)
);
CREATE TABLE IF NOT EXISTS predictions (
    trial_id VARCHAR, eval_domain VARCHAR, sample_id VARCHAR, label TINYINT, score DOUBLE,
    user_id VARCHAR
);
CREATE TABLE IF NOT EXISTS search_trials (
    run_id VARCHAR, cell VARCHAR, tune_trial VARCHAR, trial_id VARCHAR, settings JSON,
    metric VARCHAR, mode VARCHAR, objective DOUBLE, status VARCHAR, passes INTEGER, history JSON,
    chosen BOOLEAN, PRIMARY KEY (run_id, cell, tune_trial)
);
CREATE OR REPLACE VIEW results AS
SELECT t.method, t.variant, t.train_mix, t.k, t.seed, m.eval_domain, m.split, m.auc, m.n, m.n_pos,
       t.model, t.wall_s, t.trial_id, t.run_id, t.device, t.finished_at
FROM trials t JOIN metrics m USING (trial_id)
WHERE t.status = 'complete';
"""


def _upgrade(con, version: int) -> None:
    """Bring an older store up to SCHEMA_VERSION, adding columns only (nothing stored changes).
    Version 2 adds predictions.user_id, NULL for stored rows until `harness store users`
    derives it from the sample ids."""
    con.execute("ALTER TABLE predictions ADD COLUMN IF NOT EXISTS user_id VARCHAR")
    con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])


class StoreError(HarnessError):
    """A store problem the user can act on (busy file, newer schema, bad SQL, damaged file)."""


class StoreBusy(StoreError, BusyError):
    """Another process holds the store's lock."""


# Readers (`harness query`, reports, status) see the store and nothing else: DuckDB's own switch
# turns off every file, network and extension access (ATTACH, COPY, read_csv, glob, INSTALL) and
# the lock refuses the SET that would turn it back on.
SANDBOX = {"enable_external_access": False, "lock_configuration": True}

# What DuckDB says when the file itself is bad (checksums, truncation, garbage header, bad WAL).
_DAMAGE = ("corrupt database file", "could not read enough bytes", "not a valid duckdb database",
           "failure while replaying wal", "does not match stored checksum")


# What DuckDB says when the disk refuses a write (kept as the real error in a StoreError).
_DISK_FULL = ("No space left on device", "Disk quota exceeded", "Read-only file system")


def backup_path(path: str | Path) -> Path:
    """The rolling copy taken at each run start, once the store has passed its check."""
    return Path(f"{path}.bak")


def is_damage(exc: BaseException) -> bool:
    return any(d in str(exc).lower() for d in _DAMAGE)


def damaged(path: Path, exc: BaseException) -> StoreError:
    bak = backup_path(path)
    if bak.is_file():
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(bak.stat().st_mtime))
        fix = f"restore the copy taken at the last run start ({bak}, {when}) with `harness store restore --db {path}`"
    else:
        fix = f"no backup exists ({bak} is taken at each run start)"
    return StoreError(f"{path} is damaged ({one_line(exc)[:160]}); {fix}")


def connect(path: Path, read_only: bool, wait_s: float, config: dict | None = None
            ) -> duckdb.DuckDBPyConnection:
    """Open the file, retrying briefly while another process holds its lock. Plain access for the
    store's own maintenance (dump, health); user SQL goes through `Store.reader` (sandboxed)."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.Error as exc:
            if is_damage(exc):
                raise damaged(path, exc) from None
            busy = "could not set lock" in str(exc).lower() or "conflicting lock" in str(exc).lower()
            if not busy:
                raise StoreError(f"cannot open {path}: {one_line(exc)}") from None
            if time.monotonic() >= deadline:
                raise StoreBusy(f"{path} is busy (another process has it open: a run writing, or "
                                "a reader such as a notebook or `duckdb -readonly`)") from None
            time.sleep(0.2)


def execute(con, sql: str, timeout_s: float | None = None, path: Path | None = None) -> pd.DataFrame:
    """Run SQL to a frame, stopped by Ctrl-C or at `timeout_s` (harness.core.interrupt)."""
    try:
        return run_interruptible(lambda: con.execute(sql).df(), timeout_s, con.interrupt, 10.0,
                                 name="store-query")
    except TimedOut:
        raise StoreError(f"the query ran past its {timeout_s:g} s timeout and was stopped") from None
    except duckdb.Error as error:
        if path is not None and is_damage(error):
            raise damaged(path, error) from None
        raise StoreError(f"SQL error: {one_line(error)}") from None


class Store:
    def __init__(self, path: str | Path = DEFAULT_DB, wait_s: float = 10.0):
        self.path = Path(path)
        self.wait_s = wait_s
        self._migrated = False   # the DDL runs once per Store, not on every write (50-90 ms)
        self.deadline: float | None = None   # a command's overall limit (time.monotonic)

    def wait_for_lock_s(self) -> float:
        """How long to wait for the file's lock: `wait_s`, cut short by `deadline`."""
        if self.deadline is None:
            return self.wait_s
        return max(0.0, min(self.wait_s, self.deadline - time.monotonic()))

    # -- connections -------------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self):
        """The one read-write connection (schema migrated on first use), for the harness's own
        writes: results, loads, backups."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store's folder {self.path.parent}: "
                             f"{exc.strerror or exc}") from None
        con = connect(self.path, read_only=False, wait_s=self.wait_for_lock_s())
        try:
            if not self._migrated:
                self._migrate(con)
                self._migrated = True
            yield con
        except duckdb.Error as exc:
            if is_damage(exc):   # found mid-write: say so, not a checksum traceback
                raise damaged(self.path, exc) from None
            if any(m in str(exc) for m in _DISK_FULL):
                raise StoreError(f"cannot write {self.path}: {one_line(exc)[:240]}") from exc
            raise
        finally:
            con.close()

    @contextlib.contextmanager
    def reader(self):
        if not self.path.exists():
            raise StoreError(f"no results store at {self.path} (run `harness run GRID` first, "
                             "or pass --db PATH)")
        if not self.path.is_file():
            raise StoreError(f"{self.path} is not a results store (it is a folder or a device)")
        con = connect(self.path, read_only=True, wait_s=self.wait_for_lock_s(), config=SANDBOX)
        try:
            yield con
        except duckdb.Error as exc:
            if is_damage(exc):
                raise damaged(self.path, exc) from None
            raise
        finally:
            with contextlib.suppress(duckdb.Error):   # still busy after an interrupt: let it go
                con.close()

    def _migrate(self, con) -> None:
        con.execute(_SCHEMA)
        row = con.execute("SELECT max(version) FROM schema_version").fetchone()
        if row[0] is None:
            con.execute("INSERT INTO schema_version VALUES (?)", [SCHEMA_VERSION])
        elif row[0] > SCHEMA_VERSION:
            raise StoreError(f"{self.path} has schema version {row[0]}, newer than this harness "
                             f"({SCHEMA_VERSION}); upgrade tallrec-harness")
        elif row[0] < SCHEMA_VERSION:
            _upgrade(con, row[0])

    def init(self) -> None:
        with self.writer():
            pass

    # -- runs --------------------------------------------------------------------------------
    def begin_run(self, name: str, grid: dict | None = None, host: str = "", git_sha: str | None = None,
                  run_id: str | None = None) -> str:
        run_id = run_id or f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
        with self.writer() as con:
            con.execute("INSERT INTO runs VALUES (?, ?, ?, now(), NULL, ?, ?, 'running')",
                        [run_id, name, json.dumps(grid) if grid is not None else None, host, git_sha])
        return run_id

    def record_run(self, run_id: str, name: str, grid_json: str | None, started_at: float | None,
                   host: str = "", git_sha: str | None = None) -> bool:
        """Insert a run's row unless the store has it (a run that started while the store was
        busy, or one missing from a restored store). True if it was inserted."""
        with self.writer() as con:
            if con.execute("SELECT 1 FROM runs WHERE run_id = ?", [run_id]).fetchone():
                return False
            con.execute("INSERT INTO runs (run_id, name, grid_json, started_at, host, git_sha, status) "
                        "VALUES (?, ?, ?, to_timestamp(?), ?, ?, 'running')",
                        [run_id, name, grid_json, started_at or time.time(), host, git_sha])
        return True

    def end_run(self, run_id: str, status: str = "finished") -> None:
        with self.writer() as con:
            con.execute("UPDATE runs SET finished_at = now(), status = ? WHERE run_id = ?", [status, run_id])

    # -- trials ------------------------------------------------------------------------------
    def write_result(self, result: TrialResult, run_id: str | None = None) -> bool:
        """Store one trial in one transaction. Returns False if it was already complete."""
        spec = TrialSpec.from_json(result.spec_json)
        with self.writer() as con:
            prior = con.execute("SELECT status, attempts FROM trials WHERE trial_id = ?",
                                [result.trial_id]).fetchone()
            if prior is not None and prior[0] == "complete":
                return False
            attempts = (prior[1] or 0) + 1 if prior else 1
            con.execute("BEGIN TRANSACTION")
            try:
                for table in ("predictions", "metrics", "trials"):
                    con.execute(f"DELETE FROM {table} WHERE trial_id = ?", [result.trial_id])
                self._insert_trial(con, result, spec, run_id, attempts)
                self._insert_rows(con, result)
                con.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a full disk) has already ended the transaction: the ROLLBACK's
                # "no transaction is active" must not hide the real error.
                with contextlib.suppress(duckdb.Error):
                    con.execute("ROLLBACK")
                raise
        return True

    @staticmethod
    def _insert_trial(con, r: TrialResult, spec: TrialSpec, run_id, attempts) -> None:
        model = None
        if spec.model:
            model = spec.model.get("name") or spec.model.get("path")
        con.execute(
            "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, to_timestamp(?), "
            "to_timestamp(?), ?, ?, ?, ?, ?, ?, ?, ?)",
            [r.trial_id, run_id, spec.method, spec.variant, spec.train_mix, spec.k, spec.seed, model,
             r.spec_json, r.status, r.error, attempts, r.started_at, r.finished_at, r.wall_s,
             json.dumps(r.timings), json.dumps(r.extra, default=str), r.host, r.device,
             json.dumps(r.versions), r.git_sha, r.git_dirty])

    @staticmethod
    def _insert_rows(con, r: TrialResult) -> None:
        if r.metrics:
            metrics = pd.DataFrame([{"trial_id": r.trial_id, "eval_domain": m.eval_domain,
                                     "split": m.split, "auc": m.auc, "n": m.n, "n_pos": m.n_pos}
                                    for m in r.metrics])
            con.register("metrics_in", metrics)
            con.execute("INSERT INTO metrics SELECT trial_id, eval_domain, split, auc, n, n_pos FROM metrics_in")
            con.unregister("metrics_in")
        frames = [f.assign(trial_id=r.trial_id, eval_domain=d) for d, f in r.predictions.items()]
        if frames:
            preds = pd.concat(frames, ignore_index=True)
            preds["sample_id"] = preds["sample_id"].astype(str)
            preds["label"] = preds["label"].astype("int8")
            preds["score"] = preds["score"].astype(float)
            if "user_id" not in preds.columns:
                preds["user_id"] = None
            preds["user_id"] = preds["user_id"].astype(object).where(preds["user_id"].notna(), None)
            con.register("preds_in", preds)
            con.execute("INSERT INTO predictions SELECT trial_id, eval_domain, sample_id, label, score, "
                        "user_id::VARCHAR FROM preds_in")
            con.unregister("preds_in")

    # -- reads -------------------------------------------------------------------------------
    def trial_status(self) -> dict[str, str]:
        """trial_id -> status for every stored trial ({} if the file does not exist yet)."""
        if not self.path.exists():
            return {}
        with self.reader() as con:
            return dict(con.execute("SELECT trial_id, status FROM trials").fetchall())

    def completed_ids(self) -> set[str]:
        return {t for t, s in self.trial_status().items() if s == "complete"}

    def query(self, sql: str, timeout_s: float | None = None) -> pd.DataFrame:
        """Run read-only SQL that sees only the store; a SQL error becomes a one-line StoreError,
        and a query still running after `timeout_s` (default: until `deadline`) is interrupted."""
        if timeout_s is None and self.deadline is not None:
            timeout_s = max(0.001, self.deadline - time.monotonic())
        with self.reader() as con:
            return execute(con, sql, timeout_s, self.path)
