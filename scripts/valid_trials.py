"""What the validation-only trials of a store reached: search trials and search diagnostics.

    python scripts/valid_trials.py --db runs/diag-k256.duckdb [--db runs/cpu-paper-v2.duckdb] \
        [--k 256] [--train-mix movie] [--out docs/results/cpu-smollm2-v2/search-diagnostic]

Every complete trial whose rows were scored on the `valid` split (a `harness search` trial, or a
grid with `eval.split: valid`), one line each: its learning rate and steps, the validation AUC
after every pass (what early stopping read), the pass it kept, and the kept adapter's AUC and
UAUC on its validation rows, the UAUC computed by the search's own objective
(harness.core.objective: pooled AUC where each user has one row), and the correlation of its
scores with the like-rate of each prompt's history (how much of its ranking is "this user likes
most things": scripts/user_diagnostics.py). No test row is read: this compares protocols the way
the search did, so a choice can be checked without touching test.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from paper_reading import load as load_split_metrics  # noqa: E402  (the readings' store query)


def load(db: str):
    """(trials, predictions) of the complete trials of `db` with rows on the valid split."""
    return load_split_metrics(db, None, split="valid")


def like_rates(domains, raw_dir: str | None) -> dict[str, dict]:
    """Per domain, sample_id -> the history-like-rate reference's score of that valid sample."""
    from baselines.history_like_rate import like_rate
    from data.samples import load_split

    out = {}
    for domain in domains:
        split = load_split(domain, "valid", raw_dir=raw_dir)
        out[domain] = dict(zip(split["sample_id"], split["history_labels"].apply(like_rate)))
    return out


def rows_of(trials, preds, rates: dict[str, dict] | None = None) -> list[dict]:
    import numpy as np

    from harness.core.objective import objective_value

    out = []
    for row in trials.itertuples():
        cfg, extra = json.loads(row.config or "{}"), json.loads(row.extra or "{}")
        training = (cfg.get("params") or cfg).get("training") or {}
        frame = preds[(preds.trial_id == row.trial_id) & (preds.eval_domain == row.eval_domain)]
        out.append({
            "db": None, "run_id": row.run_id, "method": row.method, "variant": row.variant,
            "train_mix": row.train_mix, "k": int(row.k), "seed": int(row.seed), "domain": row.eval_domain,
            "learning_rate": training.get("learning_rate"), "steps_rule": training.get("steps"),
            "steps_run": extra.get("global_step"), "best_step": extra.get("best_step"),
            "passes": [{"step": p["step"], "auc": p["auc"]} for p in extra.get("valid_history", [])],
            "rows": int(len(frame)), "auc": float(row.auc),
            "uauc": objective_value("uauc", frame) if len(frame) else None,
            "corr_like_rate": None,
        })
        rate = frame["sample_id"].map((rates or {}).get(row.eval_domain, {}))
        if len(frame) and rate.notna().all() and frame["score"].std() > 0:
            out[-1]["corr_like_rate"] = float(np.corrcoef(frame["score"], rate)[0, 1])
    return out


def markdown(rows: list[dict]) -> str:
    lines = ["Validation-only trials (no test row read). AUC and UAUC x 100 on each trial's own validation "
             "rows, of the adapter early stopping kept (the best pass by AUC); UAUC by the search's objective "
             "(harness.core.objective); corr: of the scores with the like-rate of each prompt's history.", "",
             "| store | method | train mix | K | seed | lr | steps run (kept) | valid AUC per pass (step: AUC) "
             "| rows | AUC | UAUC | corr(score, like-rate) |", "|:--|:--|:--|--:|--:|--:|:--|:--|--:|--:|--:|--:|"]
    for r in sorted(rows, key=lambda r: (r["train_mix"], r["k"], r["learning_rate"] or 0, r["db"])):
        passes = ", ".join(f"{p['step']}: {100 * p['auc']:.1f}" for p in r["passes"]) or "-"
        lr = f"{r['learning_rate']:.3g}" if r["learning_rate"] is not None else "-"
        uauc = f"{100 * r['uauc']:.1f}" if r["uauc"] is not None else "-"
        corr = f"{r['corr_like_rate']:+.2f}" if r["corr_like_rate"] is not None else "-"
        lines.append(f"| {r['db']} | {r['method']} {r['variant']} | {r['train_mix']} | {r['k']} | {r['seed']} "
                     f"| {lr} | {r['steps_run']} ({r['best_step']}) | {passes} | {r['rows']} "
                     f"| {100 * r['auc']:.1f} | {uauc} | {corr} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    from harness.core.errors import HarnessError

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", action="append", required=True, help="a results store (repeatable)")
    ap.add_argument("--k", type=int, help="only this K")
    ap.add_argument("--train-mix", help="only this train mix")
    ap.add_argument("--raw-dir", default=os.environ.get("HARNESS_RAW_DIR"),
                    help="raw datasets, for the like-rate column (default: $HARNESS_RAW_DIR, then the cache)")
    ap.add_argument("--out", help="write OUT.md and OUT.json too")
    args = ap.parse_args(argv)
    rows = []
    for db in args.db:
        if not Path(db).is_file():
            print(f"error: no results store at {db}", file=sys.stderr)
            return 2
        try:
            trials, preds = load(db)
        except HarnessError as exc:        # a damaged or busy store, not a results store
            print(f"error: {exc}", file=sys.stderr)
            return 2
        rates = like_rates(sorted(set(trials.eval_domain)), args.raw_dir)
        for r in rows_of(trials, preds, rates):
            rows.append({**r, "db": Path(db).name})
    rows = [r for r in rows if (args.k is None or r["k"] == args.k)
            and (args.train_mix is None or r["train_mix"] == args.train_mix)]
    if not rows:
        print("error: no complete trial scored on the valid split matches", file=sys.stderr)
        return 2
    text = markdown(rows)
    print(text, end="")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(f"{args.out}.md").write_text(text)
        Path(f"{args.out}.json").write_text(json.dumps(rows, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
