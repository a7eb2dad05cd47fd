"""Which user each sample belongs to: the `user_id` column of the canonical sample tables.

`harness store users` hands `sample_users` to harness.run.users to give predictions stored
before user ids were recorded their users, from their sample ids.
"""
from __future__ import annotations

import pandas as pd


def sample_users(domain: str, split: str, book_label_alignment: str = "correct",
                 raw_variants: tuple = (), raw_dir=None, cache_dir=None) -> pd.DataFrame:
    """sample_id -> user_id (both str) for every sample of one split table (a frame view of
    ``data.samples.user_ids``)."""
    from data.samples import user_ids

    users = user_ids(domain, split, raw_dir=raw_dir, cache_dir=cache_dir,
                     book_label_alignment=book_label_alignment, raw_variants=tuple(raw_variants))
    return pd.DataFrame({"sample_id": [str(s) for s in users], "user_id": [str(u) for u in users.values()]})
