"""`last-liked`: a new method, in one file. Scores a sample by whether the user liked the last
item of the history in its prompt (1.0 liked, 0.0 not, 0.5 no history): zero-shot, no training.

docs/extending.md walks through it; examples/method/grid.yaml runs it:

    harness run examples/method/grid.yaml --db examples.duckdb && harness report --db examples.duckdb
"""
from __future__ import annotations

from data.trial import as_predictions, eval_samples
from harness.core.methods import METHODS, MethodInfo
from harness.core.result import MethodOutput

# What grid expansion needs: no variants; zero-shot (K = 0, no train_mix); no config block hashed.
INFO = MethodInfo(zero_shot=True, blocks=())


def run(spec, ctx) -> MethodOutput:
    """One frame per evaluated domain: sample_id, label, score and user_id (as_predictions)."""
    predictions = {}
    for domain, frame in eval_samples(spec, ctx).items():
        scores = [float(h[-1]) if len(h) else 0.5 for h in frame["history_labels"]]
        predictions[domain] = as_predictions(frame, scores)
    return MethodOutput(predictions=predictions, split=spec.eval.split)


# The YAML name -> this module. A grid's `imports: [examples.method.last_liked]` runs this line
# in the driver and in every Ray worker before any trial.
METHODS.register("last-liked", __name__)
