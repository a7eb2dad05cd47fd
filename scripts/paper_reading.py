"""The numbers behind a written reading of a paper run: which of TALLRec's findings hold.

    python scripts/paper_reading.py --db results.duckdb --grid cpu-paper --out docs/results/cpu-smollm2/reading

Reads the store (read-only) and writes `<out>.json` and `<out>.md` (printed too):
* zero-shot: the untuned model (icl) per test domain;
* lift: every tallrec variant (AT, RT, full) per test domain, training mix and K, as mean
  ± sd over seeds, its user-averaged AUC (UAUC, users with both labels), and its paired lift
  over zero-shot with a 95% bootstrap interval on the same test set (an interval above zero: the
  lift is not test-set noise) that resamples users where the split repeats them (Movie's 16),
  samples elsewhere; the sample-level interval beside it for comparison;
* Table 3's test: TALLRec (full, and RT) against each baseline per domain and K, Welch's
  one-sided t-test over seeds (the paper's test; p < 0.01 marks a win);
* the goal of issue #13: movie TALLRec (full or RT) at K=256, mean test AUC over three seeds;
* Figure 4: full trained on movie, book or both (K=64), tested on each domain.
Every number is computed here from the store; the reading's prose cites them.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.report.paper_baselines import PAPER_BASELINES as BASELINES  # noqa: E402

GOAL_AUC = 0.70


def load(db: str, grid: str | None, split: str = "test"):
    """(`split` metrics, predictions) of the complete trials the report would read for `grid`
    (every run of that grid name; the whole store without one)."""
    from harness.report.scope import ReportScope
    from harness.report.metric import user_column
    from harness.report.sql import scoped_connection

    with scoped_connection(db, ReportScope(grid=grid, all=grid is None)) as con:
        trials = con.execute(   # config and extra: the protocol a trial ran under (study_reading.py)
            "SELECT r.trial_id, r.run_id, r.method, coalesce(r.variant, '') AS variant, r.train_mix, r.k, r.seed, "
            "r.eval_domain, r.auc, CAST(t.config AS VARCHAR) AS config, CAST(t.extra AS VARCHAR) AS extra "
            "FROM results r JOIN trials t USING (trial_id) WHERE r.split = ?", [split]).df()
        preds = con.execute(
            f"SELECT p.trial_id, p.eval_domain, p.sample_id, p.label, p.score, {user_column(con)} FROM predictions p "
            "JOIN trials t USING (trial_id) WHERE t.status = 'complete'").df()
    return trials, preds


def frames(preds, trial_ids, domain):
    sel = preds[(preds.eval_domain == domain) & preds.trial_id.isin(list(trial_ids))]
    return [g[["sample_id", "label", "score", "user_id"]].reset_index(drop=True) for _, g in sel.groupby("trial_id")]


def per_trial(preds, trial_ids, domain, metric) -> list[float]:
    """`metric` of each trial on `domain`, leaving out the undefined ones (UAUC where no user has
    both labels, as on Book's split)."""
    values = [metric.evaluate(f.label, f.score, f.user_id if f.user_id.notna().all() else None).value
              for f in frames(preds, trial_ids, domain)]
    return [v for v in values if v is not None]


def uauc(preds, trial_ids, domain) -> list[float]:
    from harness.core.metrics import UAUC

    return per_trial(preds, trial_ids, domain, UAUC)


def summary(values) -> dict:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    return {"mean": float(v.mean()) if len(v) else None,
            "sd": float(v.std(ddof=1)) if len(v) > 1 else None, "n": int(len(v)),
            "seeds": [float(x) for x in v]}


def analyse(trials, preds, resamples: int) -> dict:
    from scipy import stats

    from harness.report.bootstrap import paired_diff_ci, resample_unit

    out: dict = {"zero_shot": {}, "lift": [], "table3": [], "goal": {}, "fig4": []}
    zs = trials[trials.method == "icl"]
    zs_ids = zs.trial_id.unique()[:1]    # icl is seed-independent: one trial is the reference
    for d in ("movie", "book"):
        z = zs[(zs.eval_domain == d) & zs.trial_id.isin(zs_ids)]
        if len(z):
            out["zero_shot"][d] = {"auc": float(z.auc.iloc[0]), "trials": int((zs.eval_domain == d).sum()),
                                   "uauc": (uauc(preds, zs_ids, d) or [None])[0]}

    llm = trials[trials.method == "tallrec"]
    for d in ("movie", "book"):
        for variant in ("AT", "RT", "full"):
            tested = llm[(llm.variant == variant) & (llm.eval_domain == d)]
            for (mix, k), cell in tested.groupby([tested.train_mix.fillna("-"), "k"]):
                row = {"domain": d, "variant": variant, "train_mix": mix, "k": int(k), **summary(cell.auc)}
                row["uauc"] = summary(uauc(preds, cell.trial_id, d))
                if len(zs_ids):
                    mine, zero = frames(preds, cell.trial_id, d), frames(preds, zs_ids, d)
                    row["ci_unit"] = resample_unit(mine + zero)
                    lo, hi = paired_diff_ci(mine, zero, resamples=resamples, unit=row["ci_unit"])
                    slo, shi = paired_diff_ci(mine, zero, resamples=resamples, unit="samples")
                    row["lift"] = row["mean"] - out["zero_shot"][d]["auc"]
                    row["lift_ci95"] = [float(lo), float(hi)]
                    row["lift_ci95_samples"] = [float(slo), float(shi)]
                out["lift"].append(row)

            if variant == "AT":
                continue
            own = tested[tested.train_mix == d]
            for k in sorted(own.k.unique()):
                mine = own[own.k == k].auc.to_numpy()
                for b in BASELINES:
                    other = trials[(trials.method == b) & (trials.eval_domain == d) & (trials.train_mix == d)
                                   & (trials.k == k)].auc.to_numpy()
                    if not len(other):
                        continue
                    p = (float(stats.ttest_ind(mine, other, equal_var=False, alternative="greater").pvalue)
                         if len(mine) > 1 and len(other) > 1 else None)
                    out["table3"].append({"domain": d, "k": int(k), "tallrec": variant, "baseline": b,
                                          "tallrec_mean": float(mine.mean()), "baseline_mean": float(other.mean()),
                                          "n": [int(len(mine)), int(len(other))], "p": p})

    for variant in ("full", "RT"):
        cell = llm[(llm.variant == variant) & (llm.eval_domain == "movie") & (llm.train_mix == "movie") & (llm.k == 256)]
        out["goal"][variant] = {**summary(cell.auc), "target": GOAL_AUC,
                                "met": bool(len(cell) >= 3 and cell.auc.mean() >= GOAL_AUC)}
    for d in ("movie", "book"):
        for mix in ("movie", "book", "both"):
            cell = llm[(llm.variant == "full") & (llm.eval_domain == d) & (llm.train_mix == mix) & (llm.k == 64)]
            if len(cell):
                out["fig4"].append({"test": d, "trained_on": mix, "k": 64, **summary(cell.auc)})
    return out


def _f(x, pct=True):
    return "-" if x is None or (isinstance(x, float) and np.isnan(x)) else (f"{x * 100:.1f}" if pct else f"{x:.3g}")


def markdown(r: dict) -> str:
    lines = ["### Zero-shot (untuned SmolLM2, `icl`)", "", "| test domain | AUC x 100 | UAUC x 100 |", "|:--|--:|--:|"]
    lines += [f"| {d} | {_f(v['auc'])} | {_f(v.get('uauc'))} |" for d, v in r["zero_shot"].items()]
    lines += ["", "### Lift over zero-shot, on the same test set (in-domain first, then cross-domain)", "",
              "The 95% paired interval resamples users where the test split repeats them (Movie: 16 users, "
              "about 31 samples each) and samples where it does not (Book: one sample per user); the "
              "interval resampling samples is beside it. UAUC: AUC within each user with both labels, "
              "averaged over those users (undefined on Book).", "",
              "| test domain | variant | trained on | K | AUC x 100, mean ± sd (seeds) | UAUC x 100 | lift "
              "| 95% paired CI (resampling) | beyond noise | 95% CI resampling samples |",
              "|:--|:--|:--|--:|--:|--:|--:|:--|:--|:--|"]
    for x in sorted(r["lift"], key=lambda x: (x["domain"] != "movie", x["train_mix"] not in ("-", x["domain"]),
                                              x["train_mix"], x["k"], x["variant"])):
        ci = x.get("lift_ci95", [np.nan, np.nan])
        sig = "yes" if ci[0] > 0 else ("below" if ci[1] < 0 else "no")
        sd = f" ± {_f(x['sd'])}" if x["sd"] is not None else ""
        sci = x.get("lift_ci95_samples", [np.nan, np.nan])
        u = x.get("uauc") or {}
        usd = f" ± {_f(u['sd'])}" if u.get("sd") is not None else ""
        lines.append(f"| {x['domain']} | {x['variant']} | {x['train_mix']} | {x['k']} | {_f(x['mean'])}{sd} ({x['n']}) | "
                     f"{_f(u.get('mean'))}{usd} | {x.get('lift', np.nan) * 100:+.1f} | "
                     f"[{ci[0] * 100:+.1f}, {ci[1] * 100:+.1f}] ({x.get('ci_unit', 'samples')}) | {sig} | "
                     f"[{sci[0] * 100:+.1f}, {sci[1] * 100:+.1f}] |")
    lines += ["", "### Table 3's test: TALLRec against each baseline (Welch, one-sided, over seeds)", "",
              "| domain | K | TALLRec | x 100 | " + " | ".join(BASELINES) + " | beats all (p < 0.01) |",
              "|:--|--:|:--|--:|" + "--:|" * len(BASELINES) + ":--|"]
    keys = sorted({(x["domain"], x["k"], x["tallrec"]) for x in r["table3"]}, key=lambda t: (t[0] != "movie", t[1], t[2]))
    for d, k, v in keys:
        rows = {x["baseline"]: x for x in r["table3"] if (x["domain"], x["k"], x["tallrec"]) == (d, k, v)}
        cells = [f"{_f(rows[b]['baseline_mean'])} (p {_f(rows[b]['p'], pct=False)})" if b in rows else "-" for b in BASELINES]
        wins = len(rows) == len(BASELINES) and all(x["p"] is not None and x["p"] < 0.01 for x in rows.values())
        mean = next(iter(rows.values()))["tallrec_mean"]
        lines.append(f"| {d} | {k} | {v} | {_f(mean)} | " + " | ".join(cells) + f" | {'yes' if wins else 'no'} |")
    lines += ["", "### Goal: movie TALLRec at K=256, mean test AUC over three seeds >= 0.70", ""]
    for v, g in r["goal"].items():
        lines.append(f"- {v}: {_f(g['mean'])} over {g['n']} seed(s) {[round(s * 100, 1) for s in g['seeds']]}: "
                     f"{'met' if g['met'] else 'not met'}")
    lines += ["", "### Figure 4: full, K=64, by training domain", "", "| test | trained on | AUC x 100 (seeds) |", "|:--|:--|--:|"]
    lines += [f"| {x['test']} | {x['trained_on']} | {_f(x['mean'])}"
              + (f" ± {_f(x['sd'])}" if x["sd"] is not None else "") + f" ({x['n']}) |" for x in r["fig4"]]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="results.duckdb")
    ap.add_argument("--grid", help="only the runs of this grid name (default: the whole store)")
    ap.add_argument("--out", help="write <out>.json and <out>.md")
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args(argv)
    from harness.core.errors import HarnessError

    try:
        trials, preds = load(args.db, args.grid)
    except HarnessError as exc:   # no store, a damaged or busy one, an unknown grid name
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if trials.empty:
        print(f"error: no complete trials in {args.db}" + (f" for grid {args.grid}" if args.grid else ""), file=sys.stderr)
        return 2
    result = analyse(trials, preds, args.resamples)
    md = markdown(result)
    print(md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".json").write_text(json.dumps(result, indent=2))
        Path(args.out + ".md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
