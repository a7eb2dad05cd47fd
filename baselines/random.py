"""`random`: seeded uniform scores. The floor every method must beat (AUC about 0.5)."""
from __future__ import annotations

import numpy as np

from harness.core.result import MethodOutput
from data.trial import as_predictions, eval_samples


def run(spec, ctx) -> MethodOutput:
    rng = np.random.default_rng(spec.seed)
    predictions = {domain: as_predictions(frame, rng.random(len(frame)))
                   for domain, frame in eval_samples(spec, ctx).items()}
    return MethodOutput(predictions=predictions, split=spec.eval.split)
