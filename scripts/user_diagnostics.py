"""Where a pooled AUC comes from: between users or within them, against the history's like-rate.

    python scripts/user_diagnostics.py --db results.duckdb --grid cpu-paper [--domain movie] \
        [--out docs/results/cpu-smollm2/user_diagnostics]

TALLRec's metric pools every test sample of a domain into one ROC AUC. Movie's test split is the
last 1,000 samples in user order: 16 users, each with many windows. A score that only knows how
much a user likes things in general (the fraction of liked items among the 10 in the prompt)
ranks those pooled samples well without knowing anything about the target item. This script
puts that reference beside every stored trial (per method, variant, train mix, K; mean over
seeds) on the same test samples:
* pooled AUC (what the report shows);
* within-user AUC: the mean over users of each user's own AUC (does the model rank one user's
  liked targets above that user's disliked ones?);
* the correlation of the trial's scores with the like-rate.
Movie only by default: Book's test split has one sample per user, so within-user AUC is undefined.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def within_user_auc(frame) -> float:
    from sklearn.metrics import roc_auc_score

    per_user = [roc_auc_score(g.label, g.score) for _, g in frame.groupby("user_id") if g.label.nunique() == 2]
    return float(np.mean(per_user)) if per_user else float("nan")


def analyse(preds, split_frame, null_draws: int = 200) -> dict:
    from sklearn.metrics import roc_auc_score

    from baselines.history_like_rate import like_rate

    rows = split_frame[["sample_id", "user_id", "history_labels"]].copy()
    rows["like_rate"] = rows["history_labels"].apply(like_rate)   # the reference method's own score
    p = preds.merge(rows[["sample_id", "user_id", "like_rate"]], on="sample_id", how="inner")
    if p.empty:
        raise SystemExit("error: the stored predictions match no sample of this split")
    ref = p.drop_duplicates("sample_id").sort_values("sample_id", ignore_index=True)   # draws independent of trial order
    # what chance alone gives: within-user AUC of uniform random scores (few samples per user
    # make it noisy, so a method's within-user AUC means little inside this band)
    rng = np.random.default_rng(0)
    null = [within_user_auc(ref.assign(score=rng.random(len(ref)))) for _ in range(null_draws)]
    out = {"samples": int(len(ref)), "users": int(ref.user_id.nunique()),
           "chance_within_user_95": [float(x) for x in np.percentile(null, [2.5, 97.5])],
           "like_rate": {"pooled": float(roc_auc_score(ref.label, ref.like_rate)),
                         "within_user": within_user_auc(ref.assign(score=ref.like_rate))},
           "trials": []}
    for key, g in p.groupby(["method", "variant", "train_mix", "k"], dropna=False):
        with np.errstate(invalid="ignore", divide="ignore"):   # constant scores: no correlation (nan)
            per_seed = [(roc_auc_score(s.label, s.score), within_user_auc(s), np.corrcoef(s.score, s.like_rate)[0, 1])
                        for _, s in g.groupby("trial_id")]
        pooled, within, corr = (float(np.mean(x)) for x in zip(*per_seed))
        out["trials"].append({"method": key[0], "variant": key[1], "train_mix": key[2], "k": int(key[3]),
                              "seeds": len(per_seed), "pooled": pooled, "within_user": within,
                              "corr_like_rate": corr})
    return out


def markdown(r: dict, domain: str, split: str = "test") -> str:
    lines = [f"{domain} {split}: {r['samples']} samples from {r['users']} users. Reference: the history's "
             f"like-rate as the score: pooled AUC {r['like_rate']['pooled'] * 100:.1f}, within-user "
             f"{r['like_rate']['within_user'] * 100:.1f}. Uniform random scores give a within-user AUC in "
             f"[{r['chance_within_user_95'][0] * 100:.1f}, {r['chance_within_user_95'][1] * 100:.1f}] "
             "(95% of 200 draws).", "",
             "| method | variant | trained on | K | seeds | pooled AUC x 100 | within-user AUC x 100 | corr(score, like-rate) |",
             "|:--|:--|:--|--:|--:|--:|--:|--:|"]
    for x in r["trials"]:
        lines.append(f"| {x['method']} | {x['variant'] or ''} | {x['train_mix'] or '-'} | {x['k']} | {x['seeds']} | "
                     f"{x['pooled'] * 100:.1f} | {x['within_user'] * 100:.1f} | {x['corr_like_rate']:+.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="results.duckdb")
    ap.add_argument("--grid", help="only the runs of this grid name")
    ap.add_argument("--domain", default="movie")
    ap.add_argument("--split", default="test")
    ap.add_argument("--raw-dir", default=os.environ.get("HARNESS_RAW_DIR"))
    ap.add_argument("--out", help="write <out>.json and <out>.md")
    args = ap.parse_args(argv)
    from data.samples import load_split
    from harness.core.errors import HarnessError
    from harness.report.scope import ReportScope
    from harness.report.sql import scoped_connection

    try:   # the trials the report reads for this grid (the whole store without one)
        with scoped_connection(args.db, ReportScope(grid=args.grid, all=args.grid is None)) as con:
            preds = con.execute(
                "SELECT t.trial_id, t.method, coalesce(t.variant, '') AS variant, "
                "coalesce(t.train_mix, '-') AS train_mix, t.k, p.sample_id, p.label, p.score "
                "FROM predictions p JOIN trials t USING (trial_id) "
                "WHERE t.status = 'complete' AND p.eval_domain = ?", [args.domain]).df()
    except HarnessError as exc:   # no store, a damaged or busy one, an unknown grid name
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if preds.empty:
        print(f"error: no {args.domain} predictions in {args.db}", file=sys.stderr)
        return 2
    result = analyse(preds, load_split(args.domain, args.split, raw_dir=args.raw_dir))
    md = markdown(result, args.domain, args.split)
    print(md)
    if args.out:
        Path(args.out + ".json").write_text(json.dumps(result, indent=2))
        Path(args.out + ".md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
