"""run_trial(spec) -> TrialResult: the one trial function. It knows nothing about Ray.

It looks the method up in the registry, runs it, computes every AUC from the returned per-sample
scores (scikit-learn), and turns any exception into a `failed` result with its traceback, so one
broken trial never stops a grid.
"""
from __future__ import annotations

import time
import traceback

from harness.core import provenance
from harness.core.context import TrialContext
from harness.core.methods import method_runner
from harness.core.metrics import metrics_from_predictions
from harness.core.result import MethodOutput, TrialResult
from harness.core.spec import TrialSpec


def _check_output(spec: TrialSpec, out: MethodOutput) -> None:
    if not isinstance(out, MethodOutput):
        raise TypeError(f"method {spec.method!r} returned {type(out).__name__}, not MethodOutput")
    missing = set(spec.eval.domains) - set(out.predictions)
    if missing:
        raise ValueError(f"method {spec.method!r} returned no scores for {sorted(missing)}")
    for domain, frame in out.predictions.items():
        lacking = {"sample_id", "label", "score"} - set(frame.columns)
        if lacking:
            raise ValueError(f"predictions for {domain} lack columns {sorted(lacking)}")


def _prediction_frame(frame):
    """The stored columns; user_id None where the method gives none (older plugins)."""
    out = frame[["sample_id", "label", "score"]].reset_index(drop=True)
    out["user_id"] = frame["user_id"].astype(str).to_numpy() if "user_id" in frame.columns else None
    return out


def run_trial(spec: TrialSpec, ctx: TrialContext | None = None) -> TrialResult:
    ctx = ctx or TrialContext()
    sha, dirty = provenance.git_state()
    result = TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(), status="failed",
                         started_at=time.time(), host=provenance.host(),
                         versions=provenance.versions(), git_sha=sha, git_dirty=dirty)
    try:
        out = method_runner(spec.method)(spec, ctx)
        _check_output(spec, out)
        predictions = {d: _prediction_frame(out.predictions[d]) for d in spec.eval.domains}
        result.metrics = metrics_from_predictions(predictions, out.split)
        result.predictions = predictions
        result.timings = dict(out.timings)
        result.extra = {**ctx.provenance, **out.extra}
        result.status = "complete"
    except BaseException as exc:  # noqa: BLE001 - a trial's failure is data, not a crash
        if isinstance(exc, KeyboardInterrupt):
            raise
        result.error = "".join(traceback.format_exception(exc)).strip()[-8000:]
    result.finished_at = time.time()
    result.device = provenance.device()
    return result
