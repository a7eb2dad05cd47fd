"""Files read back from a run folder are checked, never trusted: a journal entry must be a regular
file of bounded size, parse as JSON, match the result schema, carry the id of its own spec (the
sha256 of the spec's canonical JSON), belong to its run's plan and hold the AUCs its predictions
give. Anything else raises `BadFile`, whose message names the file and says what is wrong: the
caller skips the file with that one warning.
"""
from __future__ import annotations

import json
import math
import os
import re
import stat
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.core.result import DomainMetric, TrialResult

TRIAL_ID = re.compile(r"[0-9a-f]{64}")
ENTRY_NAME = re.compile(r"([0-9a-f]{64})-([0-9]{1,20})\.json")
MAX_ENTRY_BYTES = 512 * 2**20    # a trial's predictions: a few MB even for the full test sets
MAX_SMALL_BYTES = 64 * 2**20     # plan.json (one id per trial), run_end.json, progress.json


class BadFile(ValueError):
    """A file read back from disk that is skipped: the message is the one warning line."""


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """A file's bytes without trusting it: no symlink followed, no FIFO or device opened for a
    blocking read (O_NONBLOCK, then fstat must say regular file), bounded size."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise BadFile(f"{path}: cannot open ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise BadFile(f"{path}: not a regular file")
        if info.st_size > max_bytes:
            raise BadFile(f"{path}: {info.st_size} bytes, more than the {max_bytes} allowed")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return fh.read(max_bytes + 1)
    except OSError as exc:
        raise BadFile(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)


def read_json(path: Path, max_bytes: int = MAX_SMALL_BYTES) -> Any:
    """Parse a JSON file read by `read_bytes`; nesting too deep is a BadFile, not a crash."""
    raw = read_bytes(path, max_bytes)
    try:
        return json.loads(raw.decode("utf-8"))
    except RecursionError:
        raise BadFile(f"{path}: JSON nested too deep") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadFile(f"{path}: not valid JSON ({str(exc)[:80]})") from None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=True)


class _Metric(_Strict):
    eval_domain: str
    split: str
    auc: float | None = Field(default=None, ge=0.0, le=1.0)
    n: int = Field(ge=0)
    n_pos: int = Field(ge=0)


class _Predictions(_Strict):
    sample_id: list[str | int]
    label: list[Literal[0, 1]]
    score: list[float]
    user_id: list[str | int | None] | None = None    # written since store schema 2


class _Entry(_Strict):
    """The JSON of `journal.encode(TrialResult)`."""
    trial_id: str = Field(pattern=TRIAL_ID.pattern)
    spec_json: str = Field(max_length=1_000_000)
    status: Literal["complete", "failed"]
    error: str | None = None
    metrics: list[_Metric] = []
    predictions: dict[str, _Predictions] = {}
    timings: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    started_at: float = 0.0
    finished_at: float = 0.0
    host: str = ""
    device: str = ""
    versions: dict[str, Any] = {}
    git_sha: str | None = None
    git_dirty: bool | None = None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "entry"
    return f"{where}: {err.get('msg', 'invalid')}"


def result_from(data: Any, path: Path, plan_ids: set[str] | None) -> TrialResult:
    """A TrialResult from a journal entry's parsed JSON, or BadFile saying why not."""
    try:
        entry = _Entry.model_validate(data)
    except ValidationError as exc:
        raise BadFile(f"{path}: not a journal entry ({_first_error(exc)})") from None
    from harness.core.spec import TrialSpec

    try:
        spec_id = TrialSpec.from_json(entry.spec_json).trial_id
    except (ValueError, TypeError) as exc:
        raise BadFile(f"{path}: its spec is not a trial spec ({str(exc).splitlines()[0][:80]})") from None
    if spec_id != entry.trial_id:
        raise BadFile(f"{path}: trial id {entry.trial_id[:12]} is not its spec's hash ({spec_id[:12]})")
    if plan_ids is not None and entry.trial_id not in plan_ids:
        raise BadFile(f"{path}: trial {entry.trial_id[:12]} is not in its run's plan")
    for domain, p in entry.predictions.items():
        if not len(p.sample_id) == len(p.label) == len(p.score) == len(p.user_id or p.label):
            raise BadFile(f"{path}: predictions for {domain!r} have columns of unequal length")
    result = TrialResult(**{**entry.model_dump(exclude={"metrics", "predictions"}),
                            "metrics": [DomainMetric(**m.model_dump()) for m in entry.metrics],
                            "predictions": {d: pd.DataFrame(p.model_dump(exclude_none=True))
                                            for d, p in entry.predictions.items()}})
    _check_metrics(result, path)
    return result


def _check_metrics(result: TrialResult, path: Path) -> None:
    """The stored AUCs are recomputed from the entry's own predictions: they must agree."""
    from harness.core.metrics import metrics_from_predictions

    if not result.metrics and not result.predictions:
        return
    splits = {m.split for m in result.metrics}
    if len(splits) != 1 or {m.eval_domain for m in result.metrics} != set(result.predictions):
        raise BadFile(f"{path}: its metrics do not match its predictions")
    try:
        expected = metrics_from_predictions(result.predictions, splits.pop())
    except ValueError as exc:
        raise BadFile(f"{path}: {exc}") from None
    got = sorted(result.metrics, key=lambda m: m.eval_domain)
    for e, g in zip(expected, got):
        same_auc = (e.auc is None and g.auc is None) or (
            e.auc is not None and g.auc is not None and math.isclose(e.auc, g.auc, abs_tol=1e-9))
        if not same_auc or (e.n, e.n_pos) != (g.n, g.n_pos):
            raise BadFile(f"{path}: {g.eval_domain} AUC {g.auc} is not what its predictions give "
                          f"({e.auc})")


RUN_STATUSES = ("finished", "failed", "interrupted", "error")


def run_end_status(data: Any, path: Path) -> str:
    if not isinstance(data, dict) or data.get("status") not in RUN_STATUSES:
        raise BadFile(f"{path}: not a run end record (want {{\"status\": one of {', '.join(RUN_STATUSES)}}})")
    return data["status"]


class RunPlan(BaseModel):
    """The part of plan.json that ingest relies on (the file holds more)."""
    model_config = ConfigDict(extra="ignore")
    run_id: str = Field(pattern=r"\d{8}-\d{6}-[0-9a-f]{6}")
    db: str
    trial_ids: list[str]
    to_run: list[str] | None = None
    name: str | None = None
    grid_json: str | None = None
    started_at: float | None = None
    host: str | None = None
    git_sha: str | None = None


def read_plan(run_dir: Path) -> RunPlan:
    data = read_json(run_dir / "plan.json")
    try:
        plan = RunPlan.model_validate(data)
    except ValidationError as exc:
        raise BadFile(f"{run_dir / 'plan.json'}: not a run plan ({_first_error(exc)})") from None
    if plan.run_id != run_dir.name:
        raise BadFile(f"{run_dir / 'plan.json'}: names run {plan.run_id}, not its folder's {run_dir.name}")
    return plan
