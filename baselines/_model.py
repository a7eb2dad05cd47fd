"""The model base every sequential baseline shares (item + label embeddings in, `<h, q> + b` out)
and DROS's distributionally robust loss term."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from baselines._encoding import HISTORY_LEN, UNKNOWN, Encoded

SCORE_CHUNK = 1024     # rows per forward pass when scoring


@dataclass(frozen=True)
class Dims:
    """What a model's constructor needs to know about the data and the config."""
    n_items: int                               # vocabulary size, unknown included
    embedding_dim: int = 64
    hidden_size: int = 64
    history_len: int = HISTORY_LEN
    num_layers: int = 1                        # GRU layers (the -BERT variants: 4)
    text: torch.Tensor | None = None           # frozen text table [T, D]
    vocab_text: torch.Tensor | None = None     # [n_items] text row of every vocabulary item


class SeqRecModel(nn.Module):
    """Base of every baseline: embeds (item, label) histories, scores a target item.

    A subclass builds its backbone in __init__ (input width `self.input_dim`) and implements
    `backbone(x: [B, L, input_dim]) -> [B, out_dim]`.
    """

    def __init__(self, dims: Dims, out_dim: int):
        super().__init__()
        self.dims, self.out_dim = dims, out_dim
        self.item_in = nn.Embedding(dims.n_items, dims.embedding_dim)
        self.label_in = nn.Embedding(2, dims.embedding_dim)
        self.item_out = nn.Embedding(dims.n_items, out_dim)
        self.item_bias = nn.Embedding(dims.n_items, 1)
        self.global_bias = nn.Parameter(torch.zeros(()))
        nn.init.normal_(self.item_in.weight, std=0.1)
        nn.init.normal_(self.label_in.weight, std=0.1)
        nn.init.normal_(self.item_out.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)
        with torch.no_grad():
            # The shared unknown item starts as "no information": an unknown history item adds
            # only its label embedding, an unknown target scores the global bias (-BERT: plus
            # what its text says). K-shot training never shows it, so it stays that way.
            self.item_in.weight[UNKNOWN].zero_()
            self.item_out.weight[UNKNOWN].zero_()
        self.uses_text = dims.text is not None
        text_dim = 0
        if self.uses_text:
            # Frozen, and not part of state_dict(): only the trainable weights are checkpointed.
            self.register_buffer("text", dims.text.float(), persistent=False)
            vocab_text = (dims.vocab_text if dims.vocab_text is not None
                          else torch.zeros(dims.n_items, dtype=torch.long))
            self.register_buffer("vocab_text", vocab_text.long(), persistent=False)
            text_dim = int(dims.text.shape[1])
            self.out_proj = nn.Linear(out_dim + text_dim, out_dim)
        self.input_dim = dims.embedding_dim + text_dim

    def tokens(self, b: Encoded) -> torch.Tensor:
        x = self.item_in(b.hist) + self.label_in(b.hist_labels)
        if self.uses_text:
            x = torch.cat([x, self.text[b.hist_text]], dim=-1)
        return x

    def backbone(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def item_vectors(self, ids: torch.Tensor, text_rows: torch.Tensor | None) -> torch.Tensor:
        q = self.item_out(ids)
        if self.uses_text:
            q = self.out_proj(torch.cat([q, self.text[text_rows]], dim=-1))
        return q

    def forward(self, b: Encoded, return_hidden: bool = False):
        h = self.backbone(self.tokens(b))
        q = self.item_vectors(b.target, b.target_text)
        scores = (h * q).sum(-1) + self.item_bias(b.target).squeeze(-1) + self.global_bias
        return (scores, h) if return_hidden else scores

    def all_item_scores(self, h: torch.Tensor) -> torch.Tensor:
        """Scores of every known item (vocabulary 1..n-1) for each state: [B, n_items - 1]."""
        ids = torch.arange(1, self.dims.n_items, device=h.device)
        q = self.item_vectors(ids, self.vocab_text[ids] if self.uses_text else None)
        return h @ q.T + self.item_bias.weight[1:, 0] + self.global_bias


@dataclass(frozen=True)
class DroConfig:
    """DROS (Yang et al., SIGIR 2023): weight of the robust term and its temperature."""
    alpha: float = 0.1
    beta: float = 1.0
    propensity_power: float = 0.05


def propensity(train: Encoded, n_items: int, power: float = 0.05) -> torch.Tensor:
    """DROS's nominal distribution: ((target count + 1) / total) ** power, items 1..n-1."""
    counts = torch.bincount(train.target, minlength=n_items)[1:].double() + 1.0
    return (counts / counts.sum()).pow(power).float()


def dro_term(all_scores: torch.Tensor, target: torch.Tensor, labels: torch.Tensor,
             ps: torch.Tensor, beta: float) -> torch.Tensor:
    """log( sum_j exp(ps_j * s_j^2 / beta), with the target's term using its label ), averaged.

    DROS's implicit-feedback objective treats every catalogue item as a 0 and the target as a 1;
    here the target keeps its explicit label (a disliked target is pushed toward 0 like the rest).
    Computed with a max shift, so large scores cannot overflow.
    """
    a = ps * all_scores.pow(2) / beta                         # [B, V-1]
    known = target > UNKNOWN
    col = (target - 1).clamp(min=0).unsqueeze(1)
    s_t = all_scores.gather(1, col).squeeze(1)
    ps_t = ps[col.squeeze(1)]
    b = ps_t * s_t.pow(2) / beta                              # the target's "toward 0" term
    c = ps_t * (s_t - labels).pow(2) / beta                   # ... replaced by "toward label"
    m = torch.maximum(a.max(dim=1).values, c).detach()
    inner = torch.exp(a - m.unsqueeze(1)).sum(1)
    inner = inner + known.float() * (torch.exp(c - m) - torch.exp(b - m))
    return (torch.log(inner.clamp_min(1e-24)) + m).mean()


@dataclass(frozen=True)
class Arch:
    """One baseline: its YAML name, how to build it, and which protocol options it uses."""
    name: str
    build: Callable[[Dims], SeqRecModel]
    text: bool = False           # the -BERT variants
    dro: bool = False            # DROS objective
    text_sized: bool = False     # GRU sized by TextModelConfig (4 x 1024) instead of hidden_size


def score(model: SeqRecModel, data: Encoded, device, chunk: int = SCORE_CHUNK) -> np.ndarray:
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), chunk):
            out.append(model(data.subset(slice(start, start + chunk)).to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)
