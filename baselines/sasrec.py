"""`sasrec`: SASRec (Kang & McAuley, ICDM 2018, "Self-Attentive Sequential Recommendation"), in
TALLRec's protocol (baselines/_seqrec.py).

History embeddings (item + like/dislike label, scaled by sqrt(d)) plus learned positional
embeddings go through causal self-attention blocks (pre-LayerNorm, point-wise feed-forward,
residuals); the final LayerNorm'd state at the last position is h, and the target is scored
<h, q_target> + b_target. Left open and chosen here: 2 blocks, 1 head, d = `embedding_dim`
(64), dropout 0.2 (SASRec's MovieLens setting).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from baselines._seqrec import Arch, Dims, SeqRecModel, run_seqrec

N_BLOCKS = 2
N_HEADS = 1
DROPOUT = 0.2


class SASRec(SeqRecModel):
    def __init__(self, dims: Dims):
        super().__init__(dims, out_dim=dims.embedding_dim)
        d = self.input_dim
        self.position = nn.Embedding(dims.history_len, d)
        self.dropout = nn.Dropout(DROPOUT)
        layer = nn.TransformerEncoderLayer(d, N_HEADS, dim_feedforward=d, dropout=DROPOUT,
                                           activation="relu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, N_BLOCKS, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(d)
        mask = torch.triu(torch.full((dims.history_len, dims.history_len), float("-inf")), 1)
        self.register_buffer("causal", mask, persistent=False)

    def backbone(self, x):
        length = x.shape[1]
        pos = self.position(torch.arange(length, device=x.device))
        x = self.dropout(x * math.sqrt(x.shape[-1]) + pos)
        y = self.blocks(x, mask=self.causal[:length, :length], is_causal=True)
        return self.final_norm(y[:, -1])


ARCH = Arch("sasrec", SASRec)


def run(spec, ctx):
    return run_seqrec(spec, ctx, ARCH)
