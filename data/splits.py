"""What the Movie and Book builders share: TALLRec's in-order 8:1:1 split and the frame layout."""
from __future__ import annotations

import pandas as pd

SPLITS = ("train", "valid", "test")


def split_8_1_1(items: list) -> dict[str, list]:
    """train / valid / test = the first 80%, the next 10%, the rest, in order (TALLRec's cut)."""
    n = len(items)
    return {"train": items[:int(n * 0.8)], "valid": items[int(n * 0.8):int(n * 0.9)],
            "test": items[int(n * 0.9):]}


def records_frame(records: list[tuple], instruction: str, inputs: list[str], outputs: list[str], *,
                  titles: list[tuple[list[str], str]], timestamps: list[tuple[list[int], int]] | None = None
                  ) -> pd.DataFrame:
    """Records (user, history ids, history labels, target, label, ...) as a builder's frame, with
    each record's (history titles, target title) and, where the data has them, (history
    timestamps, target timestamp); without them the lists are empty and the target's is null."""
    stamps = timestamps if timestamps is not None else [([], None)] * len(records)
    return pd.DataFrame({
        "user_id": [r[0] for r in records],
        "history_item_ids": [r[1] for r in records],
        "history_labels": [r[2] for r in records],
        "target_item_id": [r[3] for r in records],
        "label": pd.array([r[4] for r in records], dtype="int64"),
        "instruction": instruction,
        "input": inputs,
        "output": outputs,
        "history_titles": [t[0] for t in titles],
        "history_timestamps": [list(s[0]) for s in stamps],
        "target_title": [t[1] for t in titles],
        "target_timestamp": pd.array([s[1] for s in stamps], dtype="Int64"),
    })
