"""User ids for predictions stored without them (stores written before schema version 2).

A sample id names a row of a domain's canonical split table (`movie:test:00012`), and that row
names its user; so the user of every stored prediction follows from its sample id and the data
options of its trial (book label alignment, accepted raw variants), without re-running anything.
The lookup that reads the sample tables is passed in (`harness store users` passes the data
plugin's), because this floor does not import the plugins.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Callable

import pandas as pd

from harness.core.spec import TrialSpec
from harness.run.store import Store, StoreError

# (domain, split, book_label_alignment, raw_variants) -> frame with columns sample_id, user_id
UserLookup = Callable[[str, str, str, tuple], pd.DataFrame]


def missing_user_groups(con) -> dict[tuple, list[str]]:
    """Trials whose predictions lack user ids, grouped by the sample table that names them."""
    rows = con.execute("SELECT DISTINCT p.trial_id, p.eval_domain, t.config FROM predictions p "
                       "JOIN trials t USING (trial_id) WHERE p.user_id IS NULL").fetchall()
    groups: dict[tuple, list[str]] = defaultdict(list)
    for trial_id, domain, config in rows:
        spec = TrialSpec.from_json(config)
        groups[(domain, spec.eval.split, spec.data.book_label_alignment,
                tuple(spec.data.raw_variants))].append(trial_id)
    return dict(groups)


def backfill_user_ids(db: str | Path, lookup: UserLookup) -> dict:
    """Fill predictions.user_id where it is NULL, in one transaction; returns counts
    {"trials": n, "rows": n, "unmatched": n} (unmatched: sample ids the tables do not hold)."""
    store = Store(db)
    if not store.path.is_file():
        raise StoreError(f"no results store at {store.path}")
    with store.writer() as con:
        groups = missing_user_groups(con)
        maps = {key: lookup(*key) for key in groups}    # read every table before writing
        before = con.execute("SELECT count(*) FROM predictions WHERE user_id IS NULL").fetchone()[0]
        con.execute("BEGIN TRANSACTION")
        try:
            for key, trial_ids in groups.items():
                domain = key[0]
                users = maps[key][["sample_id", "user_id"]].astype(str)
                con.register("_users_in", users)
                con.register("_trials_in", pd.DataFrame({"trial_id": trial_ids}))
                con.execute("UPDATE predictions SET user_id = u.user_id FROM _users_in u "
                            "WHERE predictions.sample_id = u.sample_id AND predictions.eval_domain = ? "
                            "AND predictions.user_id IS NULL "
                            "AND predictions.trial_id IN (SELECT trial_id FROM _trials_in)", [domain])
                con.unregister("_users_in")
                con.unregister("_trials_in")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        after = con.execute("SELECT count(*) FROM predictions WHERE user_id IS NULL").fetchone()[0]
    return {"trials": len({t for ids in groups.values() for t in ids}), "rows": before - after,
            "unmatched": after}
