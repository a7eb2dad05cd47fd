"""K-shot training samples, chosen exactly as TALLRec's ``finetune_rec.py`` chooses them.

TALLRec loads the train JSON with HF ``datasets`` and keeps
``train_data["train"].shuffle(seed=seed).select(range(K))``. The permutation ``shuffle`` draws
depends only on the seed and the number of rows, so shuffling a dataset of the train split's row
positions with the same seed picks the same rows as TALLRec's script on the same train file,
and the first K of one permutation make K=16 a prefix of K=64 for the same seed.
"""
from __future__ import annotations

import threading

import pandas as pd

from data.datasets import plugin
from data.samples import load_split
from harness.core.datasets import mix_domains
from harness.core.errors import HarnessError

_ORDERS: dict[tuple[int, int], list[int]] = {}
_LOCK = threading.Lock()


def shuffled_positions(n: int, seed: int) -> list[int]:
    """Row positions of an n-row dataset in the order ``datasets``' ``shuffle(seed=seed)`` gives."""
    with _LOCK:
        if (n, seed) not in _ORDERS:
            import datasets

            ds = datasets.Dataset.from_dict({"position": list(range(n))})
            _ORDERS[(n, seed)] = list(ds.shuffle(seed=seed)["position"])
        return _ORDERS[(n, seed)]


def _check_k(k, n: int, domain: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int):
        raise HarnessError(f"K must be an integer, got {k!r}")
    if not 1 <= k <= n:
        raise HarnessError(f"K={k} is outside 1..{n:,}: the {domain} train split has {n:,} samples")
    return k


def kshot_ids(domain: str, k: int, seed: int, *, raw_dir=None, cache_dir=None,
              book_label_alignment: str = "correct", raw_variants=(), datasets=None) -> list[str]:
    """sample_ids of the first K rows of the seeded shuffle of ``domain``'s train split."""
    train = load_split(domain, "train", raw_dir=raw_dir, cache_dir=cache_dir,
                       book_label_alignment=book_label_alignment, raw_variants=raw_variants, datasets=datasets)
    _check_k(k, len(train), domain)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise HarnessError(f"seed must be a non-negative integer, got {seed!r}")
    ids = train["sample_id"].tolist()
    return [ids[i] for i in shuffled_positions(len(train), seed)[:k]]


def kshot_samples(train_mix: str, k: int, seed: int, *, raw_dir=None, cache_dir=None,
                  book_label_alignment: str = "correct", raw_variants=(), datasets=None) -> pd.DataFrame:
    """The K-shot rows (canonical columns) in shuffle order; ``both`` = K movie rows, then K book
    rows; any other train_mix is one dataset (registered, or declared in ``datasets``)."""
    if not isinstance(train_mix, str) or not train_mix:
        raise HarnessError(f"train_mix must be a dataset name or both, got {train_mix!r}")
    domains = mix_domains(train_mix)
    for domain in domains:
        plugin(domain, datasets)          # an unknown name: one line listing the known ones
    frames = []
    for domain in domains:
        kwargs = {"raw_dir": raw_dir, "cache_dir": cache_dir, "book_label_alignment": book_label_alignment,
                  "raw_variants": raw_variants, "datasets": datasets}
        ids = kshot_ids(domain, k, seed, **kwargs)
        train = load_split(domain, "train", **kwargs)
        positions = [int(sample_id.rsplit(":", 1)[1]) for sample_id in ids]
        frames.append(train.iloc[positions])
    return pd.concat(frames, ignore_index=True)
