"""Benchmark: the six sequential baselines x K in {16, 64, 256} x one seed, Movie and Book.

    python -m bench.baselines [--methods gru4rec,caser,...] [--ks 16,64,256] [--seed 0]
        [--train-mixes movie,book] [--threads 1] [--text-hidden-size 256 --text-num-layers 1]

Each trial is the real thing: `run_trial` on a TrialSpec (K-shot training samples, the full
validation split of the training domain for the weight-decay search and early stopping, the
test splits of both domains scored). A warm-up first builds the sample tables and the text
embedding cache (the -BERT variants' one-time cost, reported as `setup_s`); then every trial is
timed. Prints seconds per trial and the total; writes bench/results/baselines.json.
The -BERT variants run with a smaller GRU than the paper's 4 x 1024 (flags above; on a 2-core
CPU the paper size costs minutes per trial, see docs/baselines.md). Target: total < 600 s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("gru4rec", "caser", "sasrec", "dros", "gru-bert", "dros-bert")
TEXT_METHODS = ("gru-bert", "dros-bert")
TARGET_S = 600.0


def _csv(text: str, cast=str) -> tuple:
    return tuple(cast(x) for x in text.split(",") if x.strip())


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", type=_csv, default=METHODS)
    ap.add_argument("--ks", type=lambda s: _csv(s, int), default=(16, 64, 256))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-mixes", type=_csv, default=("movie", "book"))
    ap.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest for these small models)")
    ap.add_argument("--text-hidden-size", type=int, default=256)
    ap.add_argument("--text-num-layers", type=int, default=1)
    ap.add_argument("--valid-max-samples", type=int, default=None)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--raw-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS / "baselines.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from harness.core.context import TrialContext
    from harness.core.spec import TrialSpec
    from harness.core.trial import run_trial

    torch.set_num_threads(args.threads)
    ctx = TrialContext(raw_dir=args.raw_dir) if args.cache_dir is None else \
        TrialContext(raw_dir=args.raw_dir, cache_dir=Path(args.cache_dir))

    def spec_for(method: str, mix: str, k: int) -> TrialSpec:
        block = {}
        if args.valid_max_samples:
            block["valid_max_samples"] = args.valid_max_samples
        if method in TEXT_METHODS:
            block.update(text_hidden_size=args.text_hidden_size, text_num_layers=args.text_num_layers)
        return TrialSpec(method=method, train_mix=mix, k=k, seed=args.seed, params={"baseline": block})

    # Warm-up (untimed per trial): sample tables; the text cache for every item a trial needs.
    t0 = time.perf_counter()
    from data import trial as trial_data
    from baselines import _text

    for mix in args.train_mixes:
        spec = spec_for("gru4rec", mix, max(args.ks))
        frames = [trial_data.train_samples(spec, ctx), trial_data.valid_samples(spec, ctx),
                  *trial_data.eval_samples(spec, ctx).values()]
        if any(m in TEXT_METHODS for m in args.methods):
            _text.text_table("minilm", frames, ctx)
    setup_s = time.perf_counter() - t0
    print(f"setup (data + text embedding cache): {setup_s:.1f} s", flush=True)

    rows, t_all = [], time.perf_counter()
    print(f"{'method':<10} {'train':<6} {'K':>4} {'seconds':>8}  {'auc movie':>9} {'auc book':>9}  "
          f"{'decay':>7} {'epoch':>5}", flush=True)
    for method in args.methods:
        for mix in args.train_mixes:
            for k in args.ks:
                spec = spec_for(method, mix, k)
                t = time.perf_counter()
                result = run_trial(spec, ctx)
                seconds = time.perf_counter() - t
                aucs = {m.eval_domain: m.auc for m in result.metrics}
                row = {"method": method, "train_mix": mix, "k": k, "seed": args.seed,
                       "seconds": round(seconds, 2), "status": result.status,
                       "auc": aucs, "timings": {a: round(b, 3) for a, b in result.timings.items()},
                       "weight_decay": result.extra.get("weight_decay"),
                       "best_epoch": result.extra.get("best_epoch"),
                       "valid_auc_by_decay": result.extra.get("valid_auc_by_decay"),
                       "epochs_run_by_decay": result.extra.get("epochs_run_by_decay"),
                       "unknown_target_rate": result.extra.get("unknown_target_rate"),
                       "trial_id": spec.trial_id}
                if result.status != "complete":
                    row["error"] = (result.error or "")[-2000:]
                rows.append(row)
                fmt = (lambda v: f"{v:.4f}" if isinstance(v, float) else "-")
                print(f"{method:<10} {mix:<6} {k:>4} {seconds:>8.1f}  {fmt(aucs.get('movie')):>9} "
                      f"{fmt(aucs.get('book')):>9}  {row['weight_decay'] or '-':>7} "
                      f"{row['best_epoch'] or '-':>5}" + ("" if result.status == "complete"
                                                          else f"  FAILED: {row['error'][-200:]}"),
                      flush=True)
    total = time.perf_counter() - t_all
    failed = sum(r["status"] != "complete" for r in rows)
    print(f"total: {total:.1f} s for {len(rows)} trials ({total / max(1, len(rows)):.1f} s/trial), "
          f"target < {TARGET_S:.0f} s: {'met' if total < TARGET_S else 'MISSED'}; failed: {failed}")
    out = {
        "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "host_cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(), "threads": args.threads,
        "load_avg_end": os.getloadavg(), "torch": torch.__version__,
        "text_hidden_size": args.text_hidden_size, "text_num_layers": args.text_num_layers,
        "setup_s": round(setup_s, 1), "total_s": round(total, 1), "target_s": TARGET_S,
        "met": total < TARGET_S, "failed": failed, "trials": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str) + "\n")
    return out


if __name__ == "__main__":
    main()
