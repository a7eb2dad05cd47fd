"""Cost of one tallrec RT trial on SmolLM2 at K=16 and K=64 (capped eval), and the model cache.

    python -m bench.trial_cost [--ks 16 64] [--eval-max 64] [--valid-max 32] [--epochs 2]
                               [--batch-size 16] [--micro-batch-size 4] [--domains movie book]

Runs the trials through run_trial in one process, in this order: K=ks[0] (cold: the base model
is loaded, and converted from GGUF first if the cache has no converted copy), then every other
K, then K=ks[0] again (the base comes from the worker's model cache). Prints per trial the
seconds of loading / training / validation scoring / test scoring, peak RSS, tokens seen and
the AUCs, then the saving from the model cache; writes bench/results/trial_cost.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ks", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--eval-max", type=int, default=64)
    ap.add_argument("--valid-max", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--micro-batch-size", type=int, default=4)
    ap.add_argument("--domains", nargs="+", default=["movie", "book"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS / "trial_cost.json"))
    args = ap.parse_args(argv)

    from harness.core.context import TrialContext
    from harness.core.spec import TrialSpec
    from harness.core.trial import run_trial
    from harness.core.config import ModelConfig
    from models.loading import converted_path, resolve_source

    ctx = TrialContext(cache_dir=args.cache_dir) if args.cache_dir else TrialContext()
    training = {"epochs": args.epochs, "batch_size": args.batch_size,
                "micro_batch_size": args.micro_batch_size, "valid_max_samples": args.valid_max,
                "learning_rate": 3e-4, "warmup_steps": 0, "patience": 10}
    src = resolve_source(ModelConfig(name=args.model))
    conversion_cached = (converted_path(src, ctx.cache_dir) / "config.json").is_file() if src.gguf else None

    order = list(args.ks) + [args.ks[0]]
    rows = []
    for i, k in enumerate(order):
        spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=k, seed=args.seed,
                         model={"name": args.model}, params={"lora": {}, "training": training},
                         eval={"domains": tuple(args.domains), "max_samples": args.eval_max})
        t0 = time.perf_counter()
        r = run_trial(spec, ctx)
        wall = time.perf_counter() - t0
        if r.status != "complete":
            print(r.error, file=sys.stderr)
            raise SystemExit(f"trial K={k} failed")
        t, x = r.timings, r.extra
        rows.append({"k": k, "run": "cache hit" if x.get("model_cache_hit") else ("cold" if i == 0 else "load"),
                     "wall_s": wall, "load_s": t.get("load_s", 0.0), "train_s": t.get("train_s", 0.0),
                     "valid_score_s": t.get("valid_score_s", 0.0), "score_s": t.get("score_s", 0.0),
                     "data_s": t.get("data_s", 0.0), "peak_rss_mb": x.get("peak_rss_mb"),
                     "tokens_seen": x.get("tokens_seen"), "global_step": x.get("global_step"),
                     "aucs": {m.eval_domain: m.auc for m in r.metrics},
                     "best_valid_auc": x.get("best_valid_auc")})
    saving = rows[0]["load_s"] - rows[-1]["load_s"]
    report = {"model": args.model, "training": training, "eval_max": args.eval_max,
              "domains": args.domains, "conversion_cached_before": conversion_cached,
              "loadavg_after": os.getloadavg(), "rows": rows, "model_cache_saving_s": saving,
              "command": "python -m bench.trial_cost " + " ".join(argv if argv is not None else sys.argv[1:]),
              "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))

    head = f"{'K':>4} {'run':<9} {'wall':>7} {'load':>6} {'train':>7} {'valid':>6} {'score':>6} {'steps':>5} {'tokens':>7} {'RSS MB':>7}  AUC"
    print(head)
    for r in rows:
        aucs = " ".join(f"{d}={a:.3f}" if a is not None else f"{d}=n/a" for d, a in r["aucs"].items())
        print(f"{r['k']:>4} {r['run']:<9} {r['wall_s']:>7.1f} {r['load_s']:>6.1f} {r['train_s']:>7.1f} "
              f"{r['valid_score_s']:>6.1f} {r['score_s']:>6.1f} {r['global_step']:>5} {r['tokens_seen']:>7} "
              f"{r['peak_rss_mb']:>7.0f}  {aucs}")
    print(f"model cache: second K={args.ks[0]} trial loaded in {rows[-1]['load_s']:.1f} s instead of "
          f"{rows[0]['load_s']:.1f} s (saved {saving:.1f} s); results: {args.out}")
    return report


if __name__ == "__main__":
    main()
