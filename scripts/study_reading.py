"""The numbers behind the reading of a study run under a searched protocol (issue 25's goals).

    python scripts/study_reading.py --db runs/cpu-paper-v2.duckdb --grid cpu-paper-v2 \
        --beside docs/results/cpu-smollm2/store --beside-grid cpu-paper \
        --out docs/results/cpu-smollm2-v2/reading

Reads the store (read-only) and writes `<out>.json` and `<out>.md` (printed too). Per test
domain the grid scored in-domain (movie, book, and a users split such as movie-users):
* references: zero-shot (icl), alpaca tuning only (AT) and the parameter-free like-rate of the
  prompt's history, AUC and UAUC;
* cells: TALLRec RT and full per K, in-domain: AUC and UAUC (mean ± sd over seeds), the paired
  lift over zero-shot with a 95% bootstrap interval, the first study's AUC beside (`--beside`);
* rise with K: full's mean at K=256 >= K=64 >= K=16, each step up in K with its paired interval;
* against every baseline: full minus the baseline on the same test rows, a 95% paired bootstrap
  interval of the difference of the seed means (AUC, and UAUC where users repeat), and Welch's
  one-sided t over seeds (the paper's test); "beats all" = every interval's lower end above zero;
* against the like-rate: the same paired interval, full minus `history-like-rate`;
* the goal: movie TALLRec (full) at K=256, mean test AUC over three seeds >= 0.70;
* the protocol each cell ran under (learning rate, optimizer steps, where validation stopped).
Intervals resample users where the test split repeats them (Movie's 16 test users; the users
split's ~94), samples elsewhere (Book: one sample per user). Every number is computed here.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from harness.report.paper_baselines import PAPER_BASELINES as BASELINES  # noqa: E402
# the first study's reading: its store query and per-trial helpers serve both readings
from paper_reading import _f, frames, load, per_trial, summary  # noqa: E402

GOAL_AUC = 0.70
LIKE_RATE = "history-like-rate"
KS = (16, 64, 256)


def load_beside(path: str | None, grid: str | None):
    """The first study's test metrics: from a store, or from a Parquet dump folder (loaded into a
    temporary store). None without `path`."""
    if not path:
        return None
    p = Path(path)
    if p.is_dir():
        from harness.run.dump import load as load_dump   # noqa: PLC0415 - only for a dump folder

        tmp = Path(tempfile.mkdtemp()) / "beside.duckdb"
        load_dump(p, tmp)
        p = tmp
    return load(str(p), grid)[0]


def repeats_users(preds, domain) -> bool:
    """Whether `domain`'s test split repeats users (the bootstrap's own rule: UAUC is defined there)."""
    from harness.report.bootstrap import resample_unit

    return resample_unit(frames(preds, preds.trial_id.unique(), domain)) == "users"


def paired(preds, a_ids, b_ids, domain, metric, resamples) -> dict:
    """Mean metric(a) - mean metric(b) on the same test rows, with its 95% paired bootstrap interval."""
    from harness.report.bootstrap import paired_diff_ci, resample_unit

    fa, fb = frames(preds, a_ids, domain), frames(preds, b_ids, domain)
    va, vb = per_trial(preds, a_ids, domain, metric), per_trial(preds, b_ids, domain, metric)
    if not fa or not fb or not va or not vb:
        return {"diff": None, "ci95": [None, None], "unit": None}
    unit = resample_unit(fa + fb)
    lo, hi = paired_diff_ci(fa, fb, resamples=resamples, metric=metric, unit=unit)
    ci = [None if np.isnan(lo) else float(lo), None if np.isnan(hi) else float(hi)]
    return {"diff": float(np.mean(va) - np.mean(vb)), "ci95": ci, "unit": unit}


def above_zero(p: dict) -> bool | None:
    lo = p["ci95"][0] if p else None
    return None if lo is None else bool(lo > 0)


def protocol_of(rows) -> dict:
    """Learning rate, step budget, stopping step of a cell's trials (from each trial's config/extra)."""
    lrs, steps, best, budget = set(), [], [], []
    for cfg, extra in zip(rows.config, rows.extra):
        cfg, extra = json.loads(cfg or "{}"), json.loads(extra or "{}")
        tr = (cfg.get("params") or cfg).get("training") or {}
        if "learning_rate" in tr:
            lrs.add(float(tr["learning_rate"]))
        if isinstance(tr.get("steps"), dict):
            budget.append(tr["steps"])
        if extra.get("global_step") is not None:
            steps.append(int(extra["global_step"]))
        if extra.get("best_step") is not None:
            best.append(int(extra["best_step"]))
    return {"learning_rate": sorted(lrs), "steps_run": steps, "best_step": best,
            "steps_rule": budget[0] if budget else None}


def analyse(trials, preds, resamples: int, beside=None) -> dict:
    from scipy import stats

    from harness.core.metrics import AUC, UAUC

    out: dict = {"domains": [], "references": [], "cells": [], "rise": [], "vs_baselines": [],
                 "beats_all": [], "vs_like_rate": [], "goal": {}}
    own = trials[trials.train_mix == trials.eval_domain]
    domains = [d for d in ("movie", "book") if d in set(trials.eval_domain)]
    domains += sorted(set(trials.eval_domain) - set(domains))      # e.g. a users split (movie-users)
    out["domains"] = domains
    for d in domains:
        users = repeats_users(preds, d)
        metrics = [AUC, UAUC] if users else [AUC]
        at_d = trials[trials.eval_domain == d]
        zs_ids = list(at_d[at_d.method == "icl"].trial_id.unique()[:1])   # icl is seed-independent
        like_ids = list(at_d[at_d.method == LIKE_RATE].trial_id.unique()[:1])   # so is the like-rate
        for name, sel in (("zero-shot (icl)", at_d.method == "icl"),
                          ("AT", (at_d.method == "tallrec") & (at_d.variant == "AT")),
                          ("like-rate", at_d.method == LIKE_RATE)):
            ids = at_d[sel].trial_id.unique()
            if len(ids):
                out["references"].append({"domain": d, "name": name, "auc": summary(at_d[sel].auc),
                                          "uauc": summary(per_trial(preds, ids, d, UAUC)) if users else None})
        tal = own[(own.eval_domain == d) & (own.method == "tallrec")]
        for variant in ("RT", "full"):
            for k in KS:
                cell = tal[(tal.variant == variant) & (tal.k == k)]
                if not len(cell):
                    continue
                row = {"domain": d, "variant": variant, "k": k, "auc": summary(cell.auc),
                       "uauc": summary(per_trial(preds, cell.trial_id, d, UAUC)) if users else None,
                       "lift": paired(preds, cell.trial_id, zs_ids, d, AUC, resamples) if zs_ids else None,
                       "protocol": protocol_of(cell)}
                if beside is not None:
                    old = beside[(beside.method == "tallrec") & (beside.variant == variant) & (beside.k == k)
                                 & (beside.eval_domain == d) & (beside.train_mix == d)]
                    row["first_study"] = summary(old.auc) if len(old) else None
                out["cells"].append(row)
        full = {k: tal[(tal.variant == "full") & (tal.k == k)] for k in KS}
        means = {k: (float(c.auc.mean()) if len(c) else None) for k, c in full.items()}
        known = [means[k] for k in KS if means[k] is not None]
        # each step up in K as a paired difference on the same test rows (is a fall beyond noise?)
        steps = {f"{hi}-{lo}": paired(preds, full[hi].trial_id, full[lo].trial_id, d, AUC, resamples)
                 for lo, hi in zip(KS, KS[1:]) if len(full[lo]) and len(full[hi])}
        out["rise"].append({"domain": d, "means": {str(k): v for k, v in means.items()}, "steps": steps,
                            "holds": (bool(all(a <= b for a, b in zip(known, known[1:])))
                                      if len(known) == len(KS) else None)})
        for k in KS:
            mine = full[k]
            if not len(mine):
                continue
            rows = []
            for b in BASELINES:
                other = own[(own.method == b) & (own.eval_domain == d) & (own.k == k)]
                if not len(other):
                    continue
                p = (float(stats.ttest_ind(mine.auc, other.auc, equal_var=False, alternative="greater").pvalue)
                     if len(mine) > 1 and len(other) > 1 else None)
                row = {"domain": d, "k": k, "baseline": b, "tallrec": float(mine.auc.mean()),
                       "baseline_auc": float(other.auc.mean()), "p_welch": p,
                       **{m.name: paired(preds, mine.trial_id, other.trial_id, d, m, resamples) for m in metrics}}
                rows.append(row)
            out["vs_baselines"] += rows
            if rows:
                out["beats_all"].append({
                    "domain": d, "k": k, "baselines": len(rows),
                    **{m.name: (all(above_zero(r[m.name]) for r in rows) if len(rows) == len(BASELINES) else None)
                       for m in metrics}})
            if like_ids:
                out["vs_like_rate"].append({"domain": d, "k": k, "tallrec": float(mine.auc.mean()),
                                            **{m.name: paired(preds, mine.trial_id, like_ids, d, m, resamples)
                                               for m in metrics}})
    goal = own[(own.method == "tallrec") & (own.variant == "full") & (own.eval_domain == "movie") & (own.k == 256)]
    out["goal"] = {**summary(goal.auc), "target": GOAL_AUC,
                   "met": bool(len(goal) >= 3 and goal.auc.mean() >= GOAL_AUC)}
    return out


def _ms(s) -> str:
    if not s or s["mean"] is None:
        return "-"
    return _f(s["mean"]) + (f" ± {_f(s['sd'])}" if s["sd"] is not None else "") + f" ({s['n']})"


def _ci(p) -> str:
    if not p or p["diff"] is None:
        return "-"
    lo, hi = p["ci95"]
    mark = "" if lo is None else (" **>0**" if lo > 0 else (" <0" if hi < 0 else ""))
    return (f"{p['diff'] * 100:+.1f} [{'-' if lo is None else f'{lo * 100:+.1f}'}, "
            f"{'-' if hi is None else f'{hi * 100:+.1f}'}]{mark}")


def _yn(x) -> str:
    return "-" if x is None else ("yes" if x else "no")


def markdown(r: dict) -> str:
    L = ["All values x 100 on the test split. `a ± sd (n)`: mean and standard deviation over n seeds. "
         "`d [lo, hi]`: a difference of seed means on the same test rows with its 95% paired bootstrap "
         "interval, resampling users where the split repeats them (Movie, the users split) and samples "
         "elsewhere (Book); **>0**: the interval is above zero.", "",
         "### References (no rec-tuning)", "", "| test domain | reference | AUC | UAUC |", "|:--|:--|--:|--:|"]
    L += [f"| {x['domain']} | {x['name']} | {_ms(x['auc'])} | {_ms(x['uauc'])} |" for x in r["references"]]
    L += ["", "### TALLRec per K, in-domain (lift over zero-shot, first study beside)", "",
          "| test domain | variant | K | AUC | UAUC | lift over zero-shot (AUC) | first study AUC | lr | steps run (best) |",
          "|:--|:--|--:|--:|--:|:--|--:|--:|:--|"]
    for x in r["cells"]:
        pr = x["protocol"]
        lr = ", ".join(f"{v:.2g}" for v in pr["learning_rate"]) or "-"
        steps = " / ".join(f"{s} ({b})" for s, b in zip(pr["steps_run"], pr["best_step"])) or "-"
        L.append(f"| {x['domain']} | {x['variant']} | {x['k']} | {_ms(x['auc'])} | {_ms(x['uauc'])} | "
                 f"{_ci(x['lift'])} | {_ms(x.get('first_study'))} | {lr} | {steps} |")
    L += ["", "### Does TALLRec (full) rise with K? (mean AUC at K = 16, 64, 256)", "",
          "| test domain | K=16 | K=64 | K=256 | 256 >= 64 >= 16 | K=64 - K=16 [95% CI] | K=256 - K=64 [95% CI] |",
          "|:--|--:|--:|--:|:--|:--|:--|"]
    L += [f"| {x['domain']} | " + " | ".join(_f(x["means"][str(k)]) for k in KS) + f" | {_yn(x['holds'])} | "
          + " | ".join(_ci(x["steps"].get(f"{hi}-{lo}")) for lo, hi in zip(KS, KS[1:])) + " |"
          for x in r["rise"]]
    L += ["", "### TALLRec (full) minus each baseline, same test rows", "",
          "| test domain | K | baseline | TALLRec AUC | baseline AUC | AUC diff [95% CI] | UAUC diff [95% CI] | Welch p |",
          "|:--|--:|:--|--:|--:|:--|:--|--:|"]
    L += [f"| {x['domain']} | {x['k']} | {x['baseline']} | {_f(x['tallrec'])} | {_f(x['baseline_auc'])} | "
          f"{_ci(x['auc'])} | {_ci(x.get('uauc'))} | {_f(x['p_welch'], pct=False)} |" for x in r["vs_baselines"]]
    L += ["", "### Beats every baseline (every paired interval above zero)", "",
          "| test domain | K | baselines run | by AUC | by UAUC |", "|:--|--:|--:|:--|:--|"]
    L += [f"| {x['domain']} | {x['k']} | {x['baselines']} | {_yn(x.get('auc'))} | {_yn(x.get('uauc'))} |"
          for x in r["beats_all"]]
    L += ["", "### TALLRec (full) minus the like-rate of the prompt's history", "",
          "| test domain | K | TALLRec AUC | AUC diff [95% CI] | UAUC diff [95% CI] |", "|:--|--:|--:|:--|:--|"]
    L += [f"| {x['domain']} | {x['k']} | {_f(x['tallrec'])} | {_ci(x['auc'])} | {_ci(x.get('uauc'))} |"
          for x in r["vs_like_rate"]]
    g = r["goal"]
    L += ["", "### Goal: movie TALLRec (full) at K=256, mean test AUC over three seeds >= 0.70", "",
          f"- {_f(g['mean'])} over {g['n']} seed(s) {[round(s * 100, 1) for s in g['seeds']]}: "
          f"{'met' if g['met'] else 'not met'}"]
    return "\n".join(L) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="results.duckdb")
    ap.add_argument("--grid", help="only the runs of this grid name (default: the whole store)")
    ap.add_argument("--beside", help="the first study's store or Parquet dump, whose AUCs are shown beside")
    ap.add_argument("--beside-grid", help="the grid name in --beside (default: its whole store)")
    ap.add_argument("--out", help="write <out>.json and <out>.md")
    ap.add_argument("--resamples", type=int, default=1000)
    args = ap.parse_args(argv)
    from harness.core.errors import HarnessError

    try:
        trials, preds = load(args.db, args.grid)
        beside = load_beside(args.beside, args.beside_grid)
    except HarnessError as exc:   # no store, a damaged or busy one, an unknown grid name
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if trials.empty:
        print(f"error: no complete trials in {args.db}" + (f" for grid {args.grid}" if args.grid else ""), file=sys.stderr)
        return 2
    result = analyse(trials, preds, args.resamples, beside)
    md = markdown(result)
    print(md)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out + ".json").write_text(json.dumps(result, indent=2))
        Path(args.out + ".md").write_text(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
