"""How rec-tuning forms and runs its micro-batches (models/training.py, bench/train_speed.py).

* `PadCollator`: pads to the longest example of the micro-batch (a multiple of `multiple`),
  labels with -100. `side="left"` is TALLRec's finetune_rec.py (tokenizer.padding_side = "left"
  and DataCollatorForSeq2Seq, no position ids): its last pad position then predicts the first real
  token, one extra loss term per padded example that right padding does not have.
* `length_grouped_batches`: a seeded permutation cut into windows, each window sorted by length
  and cut into micro-batches, the micro-batches shuffled: less padding, random batch order.
* `shared_prefix_loss`: runs the token prefix that every example of a right-padded micro-batch
  shares once (batch 1) and the rest against its expanded key/value cache; same loss and
  gradient as the plain forward when LoRA dropout is off (with it on, the prefix shares one
  dropout mask across the micro-batch).
"""
from __future__ import annotations

import math
import random


class PadCollator:
    """Padding to the longest example (a multiple of `multiple`), labels padded with -100. The
    shared tokenizer is never mutated (its padding side stays as loaded)."""

    def __init__(self, pad_id: int, multiple: int = 8, side: str = "right"):
        if side not in ("right", "left"):
            raise ValueError(f"padding side must be right or left, got {side!r}")
        self.pad_id, self.multiple, self.side = pad_id, multiple, side

    def __call__(self, batch: list[dict]):
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        width = int(math.ceil(width / self.multiple) * self.multiple)
        n = len(batch)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), -100, dtype=torch.long)
        for i, b in enumerate(batch):
            k = len(b["input_ids"])
            cols = slice(0, k) if self.side == "right" else slice(width - k, width)
            ids[i, cols] = torch.tensor(b["input_ids"])
            mask[i, cols] = 1
            labels[i, cols] = torch.tensor(b["labels"])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def random_batches(n: int, micro: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i:i + micro] for i in range(0, n, micro)]


def length_grouped_batches(lengths: list[int], micro: int, rng: random.Random,
                           window: int = 64) -> list[list[int]]:
    """Micro-batches of similar lengths: random windows of `window` micro-batches, sorted by
    length inside each window, then every micro-batch shuffled (so no long-to-short order)."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    size = max(micro, window * micro)
    batches = []
    for start in range(0, len(order), size):
        chunk = sorted(order[start:start + size], key=lambda i: lengths[i])
        batches += [chunk[i:i + micro] for i in range(0, len(chunk), micro)]
    full, partial = [b for b in batches if len(b) == micro], [b for b in batches if len(b) < micro]
    rng.shuffle(full)
    return full + partial   # a short batch last: the flattened order re-batches to the same sets


def shared_prefix_len(input_ids, attention_mask) -> int:
    """Tokens every row of a right-padded batch shares from position 0 (all real tokens), less one
    so each row keeps at least one token of its own."""
    import torch

    if input_ids.shape[0] < 2:
        return 0
    same = (input_ids == input_ids[:1]).all(0) & attention_mask.bool().all(0)
    n = int(torch.cumprod(same.long(), 0).sum())
    return max(0, min(n, int(attention_mask.sum(1).min()) - 1))


def shared_prefix_loss(model, batch: dict, min_prefix: int = 16, num_items_in_batch=None):
    """The causal-LM loss of a right-padded batch, computing the shared prefix once: the mean over
    its label tokens, or their sum over `num_items_in_batch` (the Trainer's accumulation-aware
    scaling). Falls back to the plain forward when the prefix is shorter than `min_prefix`."""
    import torch
    import torch.nn.functional as F

    ids, mask, labels = batch["input_ids"], batch["attention_mask"], batch["labels"]
    p = shared_prefix_len(ids, mask)
    if p < min_prefix:
        extra = {} if num_items_in_batch is None else {"num_items_in_batch": num_items_in_batch}
        return model(**batch, **extra).loss
    n, width = ids.shape
    from models.scoring import _cache_kwarg

    pre = model(input_ids=ids[:1, :p], use_cache=True)
    cache = getattr(pre, "cache", None) or pre.past_key_values   # renamed in transformers 5.24
    for layer in cache.layers:     # one prefix, n rows: views, gradients flow back to the prefix
        layer.keys = layer.keys.expand(n, -1, -1, -1)
        layer.values = layer.values.expand(n, -1, -1, -1)
    positions = torch.arange(p, width).unsqueeze(0).expand(n, -1)
    rest = model(input_ids=ids[:, p:], attention_mask=mask, position_ids=positions,
                 use_cache=True, **{_cache_kwarg(model): cache})
    logits = torch.cat([pre.logits.expand(n, -1, -1), rest.logits], dim=1)
    total = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(),
                            labels[:, 1:].reshape(-1).to(logits.device), ignore_index=-100, reduction="sum")
    count = (labels[:, 1:] != -100).sum() if num_items_in_batch is None else num_items_in_batch
    return total / count
