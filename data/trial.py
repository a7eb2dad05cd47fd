"""The samples a trial trains, validates and is evaluated on, all from the canonical tables.

Every method reads its data through these three functions, so LLM trials and baselines with the
same (train_mix, K, seed) see exactly the same rows.
"""
from __future__ import annotations

import pandas as pd

from harness.core.context import TrialContext
from harness.core.spec import TrialSpec


def _declared(spec: TrialSpec) -> dict:
    """`datasets=` for the data functions, only where the trial reads a declared dataset (so
    stand-ins with the older signature, tests/helpers/llm.py and bench/gpu, keep working)."""
    return {"datasets": spec.data.datasets} if spec.data.datasets else {}


def _data_kwargs(spec: TrialSpec, ctx: TrialContext) -> dict:
    return {"raw_dir": ctx.raw_dir, "cache_dir": ctx.cache_dir / "data",
            "book_label_alignment": spec.data.book_label_alignment,
            "raw_variants": spec.data.raw_variants, **_declared(spec)}


def data_provenance(spec: TrialSpec, ctx: TrialContext) -> dict:
    """What to store with the trial (MethodOutput.extra): the content fingerprint of every raw
    dataset the trial reads, and which of them are accepted variants. Cheap: the hashes are
    memoised in process, and the trial's own reads already computed them."""
    from data.samples import raw_provenance

    domains = sorted(set(spec.train_domains) | set(spec.eval.domains))
    return raw_provenance(domains, ctx.raw_dir, ctx.cache_dir / "data", spec.data.raw_variants, **_declared(spec))


def train_samples(spec: TrialSpec, ctx: TrialContext) -> pd.DataFrame:
    """The K-shot training rows (K per domain for train_mix `both`)."""
    from data.sampling import kshot_samples

    if spec.train_mix is None or spec.k < 1:
        raise ValueError(f"{spec.label()}: a trained method needs train_mix and K >= 1")
    return kshot_samples(spec.train_mix, spec.k, spec.seed, **_data_kwargs(spec, ctx))


def capped(frame: pd.DataFrame, n: int | None, subset: str = "first") -> pd.DataFrame:
    """At most `n` rows of a split: its first n, or n spread evenly over it (`DataSpec.subset`)."""
    if not n or n >= len(frame):
        return frame
    if subset == "spread":
        rows = [i * len(frame) // n for i in range(n)]   # distinct, evenly spaced, first row kept
        return frame.iloc[rows].reset_index(drop=True)
    return frame.head(n)


def valid_samples(spec: TrialSpec, ctx: TrialContext, max_per_domain: int | None = None) -> pd.DataFrame:
    """Validation rows of the training domains (at most N of each), for early stopping."""
    from data.samples import load_split

    frames = [capped(load_split(d, "valid", **_data_kwargs(spec, ctx)), max_per_domain, spec.data.subset)
              for d in spec.train_domains]
    return pd.concat(frames, ignore_index=True)


def eval_samples(spec: TrialSpec, ctx: TrialContext) -> dict[str, pd.DataFrame]:
    """Per evaluated domain, the eval split (capped to max_samples rows, `DataSpec.subset`)."""
    from data.samples import load_split

    ctx.provenance.update(data_provenance(spec, ctx))   # stored with the trial's result
    out = {}
    for domain in spec.eval.domains:
        frame = load_split(domain, spec.eval.split, **_data_kwargs(spec, ctx))
        out[domain] = capped(frame, spec.eval.max_samples, spec.data.subset)
    return out


def as_predictions(frame: pd.DataFrame, scores) -> pd.DataFrame:
    """The frame a method returns for one domain: sample_id, label, score, and the sample's
    user_id (stored with the prediction: per-user metrics and user-level intervals need it)."""
    return pd.DataFrame({"sample_id": frame["sample_id"].to_numpy(),
                         "label": frame["label"].astype(int).to_numpy(),
                         "score": pd.Series(scores, dtype=float).to_numpy(),
                         "user_id": frame["user_id"].astype(str).to_numpy()})
