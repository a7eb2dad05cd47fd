"""The samples a trial trains, validates and is evaluated on, all from the canonical tables.

Every method reads its data through these three functions, so LLM trials and baselines with the
same (train_mix, K, seed) see exactly the same rows.
"""
from __future__ import annotations

import pandas as pd

from harness.context import TrialContext
from harness.spec import TrialSpec


def _data_kwargs(spec: TrialSpec, ctx: TrialContext) -> dict:
    return {"raw_dir": ctx.raw_dir, "cache_dir": ctx.cache_dir / "data",
            "book_label_alignment": spec.data.book_label_alignment}


def train_samples(spec: TrialSpec, ctx: TrialContext) -> pd.DataFrame:
    """The K-shot training rows (K per domain for train_mix `both`)."""
    from data.sampling import kshot_samples

    if spec.train_mix is None or spec.k < 1:
        raise ValueError(f"{spec.label()}: a trained method needs train_mix and K >= 1")
    return kshot_samples(spec.train_mix, spec.k, spec.seed, **_data_kwargs(spec, ctx))


def valid_samples(spec: TrialSpec, ctx: TrialContext, max_per_domain: int | None = None) -> pd.DataFrame:
    """Validation rows of the training domains (first N of each), for early stopping."""
    from data.samples import load_split

    frames = [load_split(d, "valid", **_data_kwargs(spec, ctx)) for d in spec.train_domains]
    if max_per_domain:
        frames = [f.head(max_per_domain) for f in frames]
    return pd.concat(frames, ignore_index=True)


def eval_samples(spec: TrialSpec, ctx: TrialContext) -> dict[str, pd.DataFrame]:
    """Per evaluated domain, the eval split (capped to its first max_samples rows)."""
    from data.samples import load_split

    out = {}
    for domain in spec.eval.domains:
        frame = load_split(domain, spec.eval.split, **_data_kwargs(spec, ctx))
        out[domain] = frame.head(spec.eval.max_samples) if spec.eval.max_samples else frame
    return out


def as_predictions(frame: pd.DataFrame, scores) -> pd.DataFrame:
    """The frame a method returns for one domain: sample_id, label, score."""
    return pd.DataFrame({"sample_id": frame["sample_id"].to_numpy(),
                         "label": frame["label"].astype(int).to_numpy(),
                         "score": pd.Series(scores, dtype=float).to_numpy()})
