"""The method groups of a paper report, each one list.

PAPER_BASELINES: the six sequential baselines of the paper's Table 3, in its column order. Read by
the synthetic demo store, scripts/paper_reading.py and (as SQL) the `is_baseline` macro of
queries/paper_macros.sql.
REFERENCE_METHODS: the reference points beside Table 3 that are not in the paper (no LLM, or no
learning from the K samples); as SQL, the `is_reference` macro used by queries/references.sql.
tests/unit/report/test_paper_baselines.py checks both macros against these lists.
"""
PAPER_BASELINES = ("gru4rec", "caser", "sasrec", "dros", "gru-bert", "dros-bert")
REFERENCE_METHODS = ("random", "item-popularity", "history-like-rate")
