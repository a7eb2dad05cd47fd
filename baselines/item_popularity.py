"""`item-popularity`: an item's like-rate in the training samples, smoothed toward the prior.

Counts every labelled item the K training samples contain (history items with their labels and
the target with its label). score = (likes + a * prior) / (seen + a), with prior the overall
like-rate and a = params.smoothing (default 1): unseen items get the prior. Ties are broken by a
tiny seeded jitter so the AUC is not an artefact of row order.
"""
from __future__ import annotations

from collections import Counter

import numpy as np

from harness.core.result import MethodOutput
from data.trial import as_predictions, eval_samples, train_samples


def like_rates(train) -> tuple[Counter, Counter, float]:
    likes, seen = Counter(), Counter()
    for domain, items, labels, target, label in zip(
            train["domain"], train["history_item_ids"], train["history_labels"],
            train["target_item_id"], train["label"]):
        for item, liked in zip(list(items) + [target], list(labels) + [label]):
            seen[(domain, item)] += 1   # keyed by domain: a movie id and an ISBN never collide
            likes[(domain, item)] += int(liked)
    total = sum(seen.values())
    prior = sum(likes.values()) / total if total else 0.5
    return likes, seen, prior


def run(spec, ctx) -> MethodOutput:
    smoothing = float(spec.params.get("smoothing", 1.0))
    train = train_samples(spec, ctx)
    likes, seen, prior = like_rates(train)
    rng = np.random.default_rng(spec.seed)
    predictions = {}
    for domain, frame in eval_samples(spec, ctx).items():
        scores = [(likes[(domain, t)] + smoothing * prior) / (seen[(domain, t)] + smoothing)
                  for t in frame["target_item_id"]]
        jitter = rng.random(len(frame)) * 1e-9
        predictions[domain] = as_predictions(frame, np.asarray(scores) + jitter)
    return MethodOutput(predictions=predictions, split=spec.eval.split,
                        extra={"items_seen": len(seen), "prior": prior})
