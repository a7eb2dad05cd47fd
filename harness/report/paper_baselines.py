"""The six sequential baselines of the paper's Table 3, in its column order.

One list for every reader of a paper run: the synthetic demo store, scripts/paper_reading.py,
and (as SQL) the `is_baseline` macro of queries/paper_macros.sql, which a test checks against it.
"""
PAPER_BASELINES = ("gru4rec", "caser", "sasrec", "dros", "gru-bert", "dros-bert")
