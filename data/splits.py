"""What the Movie and Book builders share: TALLRec's in-order 8:1:1 split and the frame layout."""
from __future__ import annotations

import pandas as pd

SPLITS = ("train", "valid", "test")


def split_8_1_1(items: list) -> dict[str, list]:
    """train / valid / test = the first 80%, the next 10%, the rest, in order (TALLRec's cut)."""
    n = len(items)
    return {"train": items[:int(n * 0.8)], "valid": items[int(n * 0.8):int(n * 0.9)],
            "test": items[int(n * 0.9):]}


def records_frame(records: list[tuple], instruction: str, inputs: list[str],
                  outputs: list[str]) -> pd.DataFrame:
    """Records (user, history ids, history labels, target, label, ...) as a builder's frame."""
    return pd.DataFrame({
        "user_id": [r[0] for r in records],
        "history_item_ids": [r[1] for r in records],
        "history_labels": [r[2] for r in records],
        "target_item_id": [r[3] for r in records],
        "label": pd.array([r[4] for r in records], dtype="int64"),
        "instruction": instruction,
        "input": inputs,
        "output": outputs,
    })
