"""`dros-bert`: DROS with frozen text features: `gru-bert`'s model (4 x 1024 GRU over
[id + label ; text] embeddings) trained with `dros`'s robust objective. See gru_bert.py and
dros.py; the protocol is baselines/_seqrec.py.
"""
from __future__ import annotations

from baselines._seqrec import Arch, run_seqrec
from baselines.gru4rec import GRU4Rec

ARCH = Arch("dros-bert", GRU4Rec, text=True, dro=True, text_sized=True)


def run(spec, ctx):
    return run_seqrec(spec, ctx, ARCH)
