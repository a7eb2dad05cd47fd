"""Methods beside the paper's in Table 3 and Figure 3(b), without writing a report spec.

A method a grid registers (`imports:`) has a name the paper report does not know. The SQL macro
`is_added_method(m)` is true for the methods chosen here (`harness report --methods`), and the
paper's Table 3 and Figure 3(b) queries take them as columns and lines with the same metric,
scale, bold and t-test marks as the paper's: `auto` (the default) takes every method in the
report's scope that the paper report does not already place (not TALLRec, ICL, the six
baselines or the reference points), `none` none, or a list of names.
"""
from __future__ import annotations

import pandas as pd

from harness.core.errors import HarnessError
from harness.report.paper_baselines import PAPER_BASELINES, REFERENCE_METHODS

PLACED = frozenset({"tallrec", "icl", *PAPER_BASELINES, *REFERENCE_METHODS})


def parse_methods(text: str | None) -> list[str] | None:
    """`--methods`: None for auto, [] for none, else the names."""
    if text is None or text.strip() == "auto":
        return None
    if text.strip() == "none":
        return []
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise HarnessError("--methods: give auto, none or method names separated by commas")
    return names


def apply_added_methods(con, methods: list[str] | None = None) -> list[str]:
    """Create the temp macro `is_added_method`; returns the methods it admits."""
    stored = [m for (m,) in con.execute("SELECT DISTINCT method FROM results ORDER BY 1").fetchall()]
    if methods is None:
        chosen = [m for m in stored if m not in PLACED]
    else:
        unknown = [m for m in methods if m not in stored]
        if unknown:
            raise HarnessError(f"--methods: no complete trial of {', '.join(map(repr, unknown))} in the "
                               f"report's scope (it holds {', '.join(stored) or 'none'})")
        chosen = [m for m in methods if m not in PLACED]
    con.register("_added_in", pd.DataFrame({"method": pd.Series(chosen, dtype=str)}))
    con.execute("CREATE OR REPLACE TEMP TABLE _report_added_methods AS SELECT method::VARCHAR AS method "
                "FROM _added_in")
    con.unregister("_added_in")
    con.execute("CREATE OR REPLACE TEMP MACRO is_added_method(m) AS "
                "m IN (SELECT method FROM temp.main._report_added_methods)")
    return chosen
