"""`gru-bert`: GRU4Rec with frozen text features (TALLRec, Section 4.1), in TALLRec's protocol.

Each history position is [item embedding + label embedding ; text embedding of the item], the
text embedding being a frozen encoder's [CLS] vector of the item's text (`baseline.encoder`:
`minilm` by default; the paper used bert-base-uncased); see baselines/_text.py. The target is
scored with a projection of [its output id embedding ; its text embedding], so an item never
seen in training is still scored through its text. GRU: `text_num_layers` (4) layers of
`text_hidden_size` (1024) units, as the paper; both are `baseline` params (docs/baselines.md
gives the CPU cost of the paper size).
"""
from __future__ import annotations

from baselines._seqrec import Arch, run_seqrec
from baselines.gru4rec import GRU4Rec

ARCH = Arch("gru-bert", GRU4Rec, text=True, text_sized=True)


def run(spec, ctx):
    return run_seqrec(spec, ctx, ARCH)
