"""Stanford Alpaca, the instruction data of TALLRec's first (AT, "alpaca tuning") stage.

``load_alpaca`` reads ``alpaca/alpaca_data.json`` (the official 52,002 records) when it is
present, else the verbatim subset ``alpaca/alpaca_data_first1727.json`` (its first 1,727
records: enough for tests and small runs). ``frame.attrs["source"]`` names the file read.
Prompts use the same Alpaca template as the recommendation samples (``data.prompts``).
"""
from __future__ import annotations

import json

import pandas as pd

from data.sources import ALPACA_FULL, raw_file
from harness.core.errors import HarnessError
from data.prompts import render_prompt


def load_alpaca(raw_dir=None, max_records: int | None = None, *, cache_dir=None, accept=None) -> pd.DataFrame:
    """Columns sample_id (``alpaca:000123``, the record's position in the file), instruction,
    input, output; the first ``max_records`` records (all when None or more than there are).
    ``accept``: variant tokens to accept (``DataSpec.raw_variants``), see ``data.manifest``."""
    if max_records is not None and (isinstance(max_records, bool) or not isinstance(max_records, int)
                                    or max_records < 0):
        raise HarnessError(f"max_records must be a non-negative integer or None, got {max_records!r}")
    path = raw_file("alpaca", ALPACA_FULL, raw_dir, cache_dir=cache_dir, accept=accept)
    records = json.loads(path.read_text(encoding="utf-8"))
    if max_records is not None:
        records = records[:max_records]
    frame = pd.DataFrame({
        "sample_id": [f"alpaca:{i:06d}" for i in range(len(records))],
        "instruction": [r["instruction"] for r in records],
        "input": [r["input"] for r in records],
        "output": [r["output"] for r in records],
    })
    frame.attrs["source"] = str(path)
    return frame


def alpaca_prompt_texts(frame: pd.DataFrame, template: str = "alpaca") -> list[str]:
    """Prompt plus answer for every row: the texts the AT stage trains on."""
    return [render_prompt(i, x, template) + o
            for i, x, o in zip(frame["instruction"], frame["input"], frame["output"])]
