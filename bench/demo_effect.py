"""Does rec-tuning visibly lift the LLM? Paired bootstrap of AUC differences from a results store.

    python -m bench.demo_effect [--db results.duckdb] [--domain movie] [--against tallrec/RT]
                                [--resamples 2000]

For every other complete trial scored on the same test samples of `--domain`, the AUC of the
`--against` trial (method/variant; the mean over its seeds when several) minus that trial's, with
a 95% paired bootstrap interval (the same resampled samples for both). An interval above zero
means the lift is not test-sample noise. Prints a table; writes bench/results/demo_effect.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="results.duckdb")
    ap.add_argument("--domain", default="movie", choices=["movie", "book"])
    ap.add_argument("--against", default="tallrec/RT")
    ap.add_argument("--resamples", type=int, default=2000)
    ap.add_argument("--out", default=str(RESULTS / "demo_effect.json"))
    args = ap.parse_args(argv)
    if not Path(args.db).is_file():
        raise SystemExit(f"no results store at {args.db}")
    import duckdb

    from harness.report.bootstrap import resample_weights, weighted_auc

    con = duckdb.connect(args.db, read_only=True)
    rows = con.execute(
        "SELECT t.trial_id, t.method, coalesce(t.variant, '') AS variant, t.k, t.seed, p.sample_id, "
        "p.label, p.score FROM trials t JOIN predictions p USING (trial_id) "
        "WHERE t.status = 'complete' AND p.eval_domain = ?", [args.domain]).df()
    if rows.empty:
        raise SystemExit(f"no {args.domain} predictions in {args.db}")
    rows["name"] = rows["method"] + "/" + rows["variant"]
    wide = rows.pivot_table(index="sample_id", columns="trial_id", values="score")
    labels = rows.drop_duplicates("sample_id").set_index("sample_id").loc[wide.index, "label"].to_numpy()
    wide = wide.dropna(axis=1)            # trials scored on every sample of the common set
    names = rows.drop_duplicates("trial_id").set_index("trial_id")["name"]
    mine = [t for t in wide.columns if names[t] == args.against]
    if not mine:
        raise SystemExit(f"no complete {args.against} trial with {args.domain} predictions")
    weights = resample_weights(len(wide), args.resamples, np.random.default_rng(0))
    auc = {t: weighted_auc(labels, wide[t].to_numpy(), np.ones((1, len(wide))))[0] for t in wide.columns}
    boot = {t: weighted_auc(labels, wide[t].to_numpy(), weights) for t in wide.columns}
    ref = np.mean([boot[t] for t in mine], axis=0)
    ref_auc = float(np.mean([auc[t] for t in mine]))
    out = []
    for name in sorted({names[t] for t in wide.columns} - {args.against}):
        ids = [t for t in wide.columns if names[t] == name]
        diff = ref - np.mean([boot[t] for t in ids], axis=0)
        lo, hi = np.nanpercentile(diff, [2.5, 97.5])
        out.append({"other": name, "trials": len(ids), "other_auc": float(np.mean([auc[t] for t in ids])),
                    "diff": ref_auc - float(np.mean([auc[t] for t in ids])), "ci95": [float(lo), float(hi)],
                    "excludes_zero": bool(lo > 0 or hi < 0)})
    print(f"{args.against} on {len(wide)} {args.domain} test samples: AUC {ref_auc:.4f} ({len(mine)} trial(s))")
    print(f"{'against':22} {'AUC':>7} {'diff':>7} {'95% paired CI':>18} {'excl. 0':>7}")
    for r in out:
        print(f"{r['other']:22} {r['other_auc']:7.4f} {r['diff']:+7.4f} "
              f"[{r['ci95'][0]:+.4f}, {r['ci95'][1]:+.4f}] {r['excludes_zero']!s:>7}")
    report = {"db": args.db, "domain": args.domain, "against": args.against, "n": len(wide),
              "auc": ref_auc, "rows": out, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": "python -m bench.demo_effect " + " ".join(argv if argv is not None else sys.argv[1:])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
