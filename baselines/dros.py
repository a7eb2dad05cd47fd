"""`dros`: DROS (Yang et al., SIGIR 2023, "A Generic Learning Framework for Sequential
Recommendation with Distribution Shifts") on the GRU4Rec backbone, in TALLRec's protocol.

The model is `gru4rec`'s; the objective adds DROS's distributionally robust term to the MSE:
alpha * log sum_j exp(ps_j * (s_j - y_j)^2 / beta) over every item j of the training vocabulary,
with ps_j = ((count_j + 1) / total) ** 0.05 the nominal (popularity) distribution of training
targets, y_j = 0 for every item but the target, whose y is its like/dislike label (DROS's
implicit-feedback code treats the target as a 1; TALLRec's samples have explicit labels).
alpha = 0.1 and beta = 1.0 as in DROS's released code; they are not searched.
"""
from __future__ import annotations

from baselines._seqrec import Arch, run_seqrec
from baselines.gru4rec import GRU4Rec

ARCH = Arch("dros", GRU4Rec, dro=True)


def run(spec, ctx):
    return run_seqrec(spec, ctx, ARCH)
