"""A small rec-tuning calibration: SmolLM2 RT on real movie K-shot samples under a few protocols.

    python -m bench.rt_calibration [--threads 1] [--k 64] [--eval-max 300] [--valid-max 64]
                                   [--runs lr=3e-4,batch=4,epochs=3 lr=1e-4,batch=4,epochs=3]
                                   [--zero-shot] [--tallrec-mode-n 50] [--preds-dir DIR]
    python -m bench.rt_calibration --compare ZERO.parquet RUN.parquet ... [--sizes 200 300] --out X.json

Each run is one `tallrec` RT trial through run_trial (seed 0, train_mix movie), scored on the
first `--eval-max` movie test samples; `--zero-shot` adds the untuned base (`icl` base) on the
same samples, and `--tallrec-mode-n N` the spread of the untuned model's `tallrec`-mode scores
on the first N test samples. Prints a table (valid AUC per evaluation, best, test AUC, seconds)
and writes bench/results/rt_calibration.json. Used to choose grids/cpu-paper.yaml's protocol
and grids/demo.yaml's rec-tuning.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
KEYS = {"lr": "learning_rate", "batch": "batch_size", "micro": "micro_batch_size", "epochs": "epochs",
        "patience": "patience", "inputs": "train_on_inputs", "warmup": "warmup_steps",
        "cutoff": "cutoff_len", "group": "group_by_length", "prefix": "shared_prefix",
        "bf16": "autocast_bf16"}
FLAGS = ("train_on_inputs", "group_by_length", "shared_prefix", "autocast_bf16")


def parse_run(text: str) -> dict:
    out = {"learning_rate": 3e-4, "batch_size": 4, "micro_batch_size": 4, "epochs": 3,
           "patience": 3, "warmup_steps": 0, "cutoff_len": 256}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        if key not in KEYS:
            raise SystemExit(f"unknown run key {key!r}; known: {', '.join(KEYS)}")
        name = KEYS[key]
        out[name] = value.lower() in ("1", "true", "yes") if name in FLAGS \
            else (float(value) if name == "learning_rate" else int(value))
    out["micro_batch_size"] = min(out["micro_batch_size"], out["batch_size"])
    return out


def tallrec_mode_spread(n: int, ctx) -> dict:
    from data.samples import load_split
    from harness.core.config import ModelConfig
    from models.cache import borrow
    from models.scoring import YesNoScorer, render_prompts

    frame = load_split("movie", "test", raw_dir=ctx.raw_dir, cache_dir=ctx.cache_dir / "data").head(n)
    with borrow(ModelConfig(), ctx.cache_dir, "cpu") as base:
        scores = YesNoScorer(base.model, base.tokenizer, batch_size=8, mode="tallrec").score(
            render_prompts(frame, "alpaca"))
    return {"n": n, "min": float(min(scores)), "max": float(max(scores)),
            "max_abs_from_half": float(max(abs(s - 0.5) for s in scores))}


def compare(paths: list[str], sizes: list[int], out: str) -> dict:
    """Paired bootstrap (2,000 resamples) of each run's AUC minus the first file's, on the first n
    shared test samples: `--compare ZERO.parquet RUN.parquet ... --sizes 200 300`."""
    import numpy as np
    import pandas as pd

    from harness.report.bootstrap import resample_weights, weighted_auc

    ref = pd.read_parquet(paths[0]).set_index("sample_id")
    rows = []
    for path in paths[1:]:
        run = pd.read_parquet(path).set_index("sample_id").loc[ref.index]
        for n in sizes:
            y, w = ref["label"].to_numpy()[:n], resample_weights(n, 2000, np.random.default_rng(0))
            a, b = run["score"].to_numpy()[:n], ref["score"].to_numpy()[:n]
            lo, hi = np.nanpercentile(weighted_auc(y, a, w) - weighted_auc(y, b, w), [2.5, 97.5])
            auc_a, auc_b = (float(weighted_auc(y, x, np.ones((1, n)))[0]) for x in (a, b))
            rows.append({"run": str(run["run"].iloc[0]), "reference": str(ref["run"].iloc[0]), "n": n,
                         "auc": auc_a, "reference_auc": auc_b, "diff": auc_a - auc_b, "ci95": [lo, hi]})
            print(f"{rows[-1]['run']:50} n={n}  {auc_a:.4f} vs {auc_b:.4f}  {auc_a - auc_b:+.4f}  "
                  f"[{lo:+.4f}, {hi:+.4f}]")
    report = {"compare": paths, "rows": rows, "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(out).write_text(json.dumps(report, indent=2))
    return report


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-max", type=int, default=300)
    ap.add_argument("--valid-max", type=int, default=64)
    ap.add_argument("--runs", nargs="*", default=["lr=3e-4,batch=4,epochs=3", "lr=1e-4,batch=4,epochs=3"])
    ap.add_argument("--zero-shot", action="store_true")
    ap.add_argument("--tallrec-mode-n", type=int, default=0)
    ap.add_argument("--out", default=str(RESULTS / "rt_calibration.json"))
    ap.add_argument("--preds-dir", default=None, help="write each run's test scores here (parquet)")
    ap.add_argument("--compare", nargs="+", default=None, help="parquet files from --preds-dir: "
                    "paired bootstrap of each against the first; nothing is trained")
    ap.add_argument("--sizes", type=int, nargs="+", default=[200, 300])
    args = ap.parse_args(argv)
    if args.compare:
        if len(args.compare) < 2 or not all(Path(p).is_file() for p in args.compare):
            raise SystemExit("--compare needs two or more existing parquet files")
        return compare(args.compare, args.sizes, args.out)

    import torch

    torch.set_num_threads(args.threads)
    from harness.core.context import TrialContext
    from harness.core.spec import TrialSpec
    from harness.core.trial import run_trial

    ctx = TrialContext()
    report = {"threads": args.threads, "k": args.k, "eval_max": args.eval_max, "valid_max": args.valid_max,
              "loadavg_before": os.getloadavg(), "rows": [],
              "command": "python -m bench.rt_calibration " + " ".join(argv if argv is not None else sys.argv[1:])}
    if args.tallrec_mode_n:
        report["tallrec_mode_untuned"] = tallrec_mode_spread(args.tallrec_mode_n, ctx)
        print("untuned tallrec-mode scores:", report["tallrec_mode_untuned"], flush=True)
    evals = {"domains": ("movie",), "max_samples": args.eval_max}
    specs = []
    if args.zero_shot:
        specs.append(("zero-shot", TrialSpec(method="icl", variant="base", model={"name": "smollm2-135m"},
                                             params={}, eval=evals)))
    for text in args.runs:
        training = {**parse_run(text), "valid_max_samples": args.valid_max, "score_batch_size": 8}
        specs.append((text, TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=args.k,
                                      seed=args.seed, model={"name": "smollm2-135m"},
                                      params={"lora": {}, "training": training}, eval=evals)))
    for label, spec in specs:
        t0, c0 = time.perf_counter(), time.process_time()
        r = run_trial(spec, ctx)
        cpu_s = time.process_time() - c0   # robust to a shared machine, unlike wall seconds
        if r.status != "complete":
            print(r.error, file=sys.stderr)
            raise SystemExit(f"run {label} failed")
        x, t = r.extra, r.timings
        row = {"run": label, "wall_s": round(time.perf_counter() - t0, 1), "cpu_s": round(cpu_s, 1),
               "train_s": round(t.get("train_s", 0.0), 1), "valid_score_s": round(t.get("valid_score_s", 0.0), 1),
               "score_s": round(t.get("score_s", 0.0), 1), "test_auc": r.metrics[0].auc,
               "valid": [round(h["auc"], 4) for h in x.get("valid_history", []) if h.get("auc") is not None],
               "best_valid_auc": x.get("best_valid_auc"), "best_step": x.get("best_step"),
               "global_step": x.get("global_step"), "tokens_seen": x.get("tokens_seen"),
               "trial_id": spec.trial_id}
        if args.preds_dir:   # for paired comparisons between runs (same test samples)
            Path(args.preds_dir).mkdir(parents=True, exist_ok=True)
            r.predictions["movie"].assign(run=label).to_parquet(Path(args.preds_dir) / f"{spec.trial_id[:16]}.parquet")
            row["preds"] = str(Path(args.preds_dir) / f"{spec.trial_id[:16]}.parquet")
        report["rows"].append(row)
        print(json.dumps(row), flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=2))
    report["loadavg_after"] = os.getloadavg()
    report["time"] = time.strftime("%Y-%m-%d %H:%M:%S")
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(f"{'run':34} {'valid AUC per eval':28} {'test AUC':>8} {'train s':>8} {'wall s':>7} {'CPU s':>7}")
    for row in report["rows"]:
        print(f"{row['run']:34} {row['valid']!s:28} {row['test_auc']:8.4f} {row['train_s']:8.1f} "
              f"{row['wall_s']:7.1f} {row['cpu_s']:7.1f}")
    return report


if __name__ == "__main__":
    main()
