"""What the validation-only trials of a store reached: search trials and search diagnostics.

    python scripts/valid_trials.py --db runs/diag-k256.duckdb [--db runs/cpu-paper-v2.duckdb] \
        [--k 256] [--train-mix movie] [--out docs/results/cpu-smollm2-v2/search-diagnostic]

Every complete trial whose rows were scored on the `valid` split (a `harness search` trial, or a
grid with `eval.split: valid`), one line each: its learning rate and steps, the validation AUC
after every pass (what early stopping read), the pass it kept, and the kept adapter's AUC and
UAUC on its validation rows, the UAUC computed by the search's own objective
(harness.core.objective: pooled AUC where each user has one row). No test row is read: this
compares protocols the way the search did, so a choice can be checked without touching test.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def load(db: str):
    """(trials, predictions) of the complete trials of `db` with rows on the valid split."""
    from harness.report.metric import user_column
    from harness.report.scope import ReportScope
    from harness.report.sql import scoped_connection

    with scoped_connection(db, ReportScope(all=True)) as con:
        trials = con.execute(
            "SELECT r.trial_id, r.run_id, r.method, coalesce(r.variant, '') AS variant, r.train_mix, r.k, "
            "r.seed, r.eval_domain, r.auc, CAST(t.config AS VARCHAR) AS config, CAST(t.extra AS VARCHAR) AS extra "
            "FROM results r JOIN trials t USING (trial_id) WHERE r.split = 'valid'").df()
        preds = con.execute(
            f"SELECT p.trial_id, p.eval_domain, p.sample_id, p.label, p.score, {user_column(con)} "
            "FROM predictions p JOIN trials t USING (trial_id) WHERE t.status = 'complete'").df()
    return trials, preds


def rows_of(trials, preds) -> list[dict]:
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
        })
    return out


def markdown(rows: list[dict]) -> str:
    lines = ["Validation-only trials (no test row read). AUC and UAUC x 100 on each trial's own validation "
             "rows, of the adapter early stopping kept (the best pass by AUC); UAUC by the search's objective "
             "(harness.core.objective).", "",
             "| store | method | train mix | K | seed | lr | steps run (kept) | valid AUC per pass (step: AUC) "
             "| rows | AUC | UAUC |", "|:--|:--|:--|--:|--:|--:|:--|:--|--:|--:|--:|"]
    for r in sorted(rows, key=lambda r: (r["train_mix"], r["k"], r["learning_rate"] or 0, r["db"])):
        passes = ", ".join(f"{p['step']}: {100 * p['auc']:.1f}" for p in r["passes"]) or "-"
        lr = f"{r['learning_rate']:.3g}" if r["learning_rate"] is not None else "-"
        uauc = f"{100 * r['uauc']:.1f}" if r["uauc"] is not None else "-"
        lines.append(f"| {r['db']} | {r['method']} {r['variant']} | {r['train_mix']} | {r['k']} | {r['seed']} "
                     f"| {lr} | {r['steps_run']} ({r['best_step']}) | {passes} | {r['rows']} "
                     f"| {100 * r['auc']:.1f} | {uauc} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", action="append", required=True, help="a results store (repeatable)")
    ap.add_argument("--k", type=int, help="only this K")
    ap.add_argument("--train-mix", help="only this train mix")
    ap.add_argument("--out", help="write OUT.md and OUT.json too")
    args = ap.parse_args(argv)
    rows = []
    for db in args.db:
        if not Path(db).is_file():
            print(f"error: no results store at {db}", file=sys.stderr)
            return 2
        for r in rows_of(*load(db)):
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
