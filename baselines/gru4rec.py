"""`gru4rec`: GRU4Rec (Hidasi et al., ICLR 2016, "Session-based Recommendations with Recurrent
Neural Networks"), in TALLRec's protocol (baselines/_seqrec.py).

A GRU reads the 10 (item + like/dislike) embeddings of the history; its last hidden state h
scores the target as <h, q_target> + b_target. Choices the papers leave open, as made here:
one GRU layer of `hidden_size` units (64), no dropout, no session-parallel mini-batches or
ranking loss (TALLRec trains every baseline pointwise with MSE on the 0/1 label).
"""
from __future__ import annotations

from torch import nn

from baselines._seqrec import Arch, Dims, SeqRecModel, run_seqrec


class GRU4Rec(SeqRecModel):
    def __init__(self, dims: Dims):
        super().__init__(dims, out_dim=dims.hidden_size)
        self.gru = nn.GRU(self.input_dim, dims.hidden_size, num_layers=dims.num_layers,
                          batch_first=True)

    def backbone(self, x):
        _, h = self.gru(x)          # h: [num_layers, B, hidden]
        return h[-1]


ARCH = Arch("gru4rec", GRU4Rec)


def run(spec, ctx):
    return run_seqrec(spec, ctx, ARCH)
