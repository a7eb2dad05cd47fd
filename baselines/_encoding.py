"""Samples -> tensors for the sequential baselines: one item vocabulary keyed by (domain, item id),
histories padded to 10 with the user's last item, optional frozen text vectors per item."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd
import torch

HISTORY_LEN = 10
UNKNOWN = 0            # vocabulary index of the shared unknown item
NO_TEXT = 0            # text-table row of "no text" (a zero vector)


def item_key(domain, item_id) -> tuple[str, str]:
    return (str(domain), str(item_id))


def sample_keys(frame: pd.DataFrame) -> Iterable[tuple[str, str]]:
    """Every (domain, item_id) a sample frame mentions: history items and targets."""
    for domain, items, target in zip(frame["domain"], frame["history_item_ids"],
                                     frame["target_item_id"]):
        for item in list(items):
            yield item_key(domain, item)
        yield item_key(domain, target)


class ItemVocab:
    """Item ids seen in training -> 1..n (sorted keys, so deterministic); anything else -> 0."""

    def __init__(self, keys: Iterable[tuple[str, str]]):
        self.keys = sorted(set(keys))
        self._index = {k: i + 1 for i, k in enumerate(self.keys)}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "ItemVocab":
        return cls(sample_keys(frame))

    def __len__(self) -> int:           # including the unknown item
        return len(self.keys) + 1

    def index(self, key: tuple[str, str]) -> int:
        return self._index.get(key, UNKNOWN)


@dataclass
class TextTable:
    """Frozen text embeddings: row 0 = zeros (no text), then one row per (domain, item_id)."""
    keys: list[tuple[str, str]]
    matrix: torch.Tensor                   # [len(keys) + 1, dim], float32
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.matrix.shape[0] != len(self.keys) + 1:
            raise ValueError("text table: matrix needs one row per key plus the zero row")
        self._index = {k: i + 1 for i, k in enumerate(self.keys)}

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def index(self, key: tuple[str, str]) -> int:
        return self._index.get(key, NO_TEXT)

    @classmethod
    def from_vectors(cls, vectors: dict[tuple[str, str], np.ndarray]) -> "TextTable":
        keys = sorted(vectors)
        dim = len(next(iter(vectors.values()))) if vectors else 1
        rows = [np.zeros(dim, dtype=np.float32)] + [np.asarray(vectors[k], np.float32) for k in keys]
        return cls(keys, torch.from_numpy(np.stack(rows)))


@dataclass
class Encoded:
    """A sample frame as tensors (one row per sample)."""
    hist: torch.Tensor                  # [N, L] vocab indices
    hist_labels: torch.Tensor           # [N, L] 0/1
    target: torch.Tensor                # [N] vocab indices
    labels: torch.Tensor                # [N] float 0/1
    hist_text: torch.Tensor | None = None    # [N, L] text-table rows
    target_text: torch.Tensor | None = None  # [N]

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def _map(self, fn) -> "Encoded":
        return Encoded(*(None if t is None else fn(t) for t in
                         (self.hist, self.hist_labels, self.target, self.labels,
                          self.hist_text, self.target_text)))

    def subset(self, index: torch.Tensor | slice) -> "Encoded":
        return self._map(lambda t: t[index])

    def to(self, device) -> "Encoded":
        return self._map(lambda t: t.to(device))


def pad_history(items, labels, length: int = HISTORY_LEN) -> tuple[list, list[int]]:
    """Keep the last `length` (item, label) pairs; pad on the right with the last one.

    An empty history becomes `length` unknown items (None) with label 0.
    """
    items, labels = list(items)[-length:], [int(x) for x in list(labels)[-length:]]
    if len(items) != len(labels):
        raise ValueError(f"history has {len(items)} items but {len(labels)} labels")
    if not items:
        return [None] * length, [0] * length
    pad = length - len(items)
    return items + [items[-1]] * pad, labels + [labels[-1]] * pad


def encode(frame: pd.DataFrame, vocab: ItemVocab, text: TextTable | None = None,
           length: int = HISTORY_LEN) -> Encoded:
    n = len(frame)
    hist = np.zeros((n, length), dtype=np.int64)
    hist_labels = np.zeros((n, length), dtype=np.int64)
    target = np.zeros(n, dtype=np.int64)
    hist_text = np.zeros((n, length), dtype=np.int64) if text is not None else None
    target_text = np.zeros(n, dtype=np.int64) if text is not None else None
    rows = zip(frame["domain"], frame["history_item_ids"], frame["history_labels"],
               frame["target_item_id"])
    for r, (domain, items, labels, tgt) in enumerate(rows):
        items, labels = pad_history(items, labels, length)
        keys = [None if i is None else item_key(domain, i) for i in items]
        hist[r] = [UNKNOWN if k is None else vocab.index(k) for k in keys]
        hist_labels[r] = labels
        target[r] = vocab.index(item_key(domain, tgt))
        if text is not None:
            hist_text[r] = [NO_TEXT if k is None else text.index(k) for k in keys]
            target_text[r] = text.index(item_key(domain, tgt))
    y = frame["label"].astype(int).to_numpy() if "label" in frame else np.zeros(n, dtype=int)
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0/1")
    as_t = (lambda a: None if a is None else torch.from_numpy(a))
    return Encoded(as_t(hist), as_t(hist_labels), as_t(target),
                   torch.from_numpy(y.astype(np.float32)), as_t(hist_text), as_t(target_text))
