"""`caser`: Caser (Tang & Wang, WSDM 2018, "Personalized Top-N Sequential Recommendation via
Convolutional Sequence Embedding"), in TALLRec's protocol (baselines/_seqrec.py).

The 10 x d matrix of history embeddings (item + like/dislike label) goes through 16 horizontal
filters of each height {2, 3, 4} (ReLU, max-pooled over time) and one vertical filter (a
weighted sum over the 10 positions); their concatenation, after dropout, goes through a fully
connected layer with ReLU to `hidden_size` units: h. The target is scored <h, q_target> +
b_target. Left open and chosen here: dropout 0.5 (Caser's default); no user embedding P_u
(TALLRec's test users are not the training users, so a per-user vector could not be learned).
"""
from __future__ import annotations

import torch
from torch import nn

from baselines._seqrec import Arch, Dims, SeqRecModel, run_seqrec

HEIGHTS = (2, 3, 4)
N_HORIZONTAL = 16
N_VERTICAL = 1
DROPOUT = 0.5


class Caser(SeqRecModel):
    def __init__(self, dims: Dims):
        super().__init__(dims, out_dim=dims.hidden_size)
        d, length = self.input_dim, dims.history_len
        self.vertical = nn.Conv2d(1, N_VERTICAL, (length, 1))
        self.horizontal = nn.ModuleList(
            nn.Conv2d(1, N_HORIZONTAL, (h, d)) for h in HEIGHTS if h <= length)
        self.dropout = nn.Dropout(DROPOUT)
        self.fc = nn.Linear(N_VERTICAL * d + N_HORIZONTAL * len(self.horizontal), dims.hidden_size)

    def backbone(self, x):
        x = x.unsqueeze(1)                                      # [B, 1, L, d]
        out_v = self.vertical(x).flatten(1)                     # [B, n_v * d]
        out_h = [torch.relu(conv(x).squeeze(3)).max(dim=2).values for conv in self.horizontal]
        z = self.dropout(torch.cat([out_v, *out_h], dim=1))
        return torch.relu(self.fc(z))


ARCH = Arch("caser", Caser)


def run(spec, ctx):
    return run_seqrec(spec, ctx, ARCH)
