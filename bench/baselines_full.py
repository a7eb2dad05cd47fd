"""Sanity check: each sequential baseline trained on the full Movie train split (8,000 samples).

    python -m bench.baselines_full [--methods gru4rec,...] [--threads 1]
        [--text-hidden-size 128 --text-num-layers 1] [--seed 0]

Same protocol as the K-shot trials (baselines/_seqrec.py: MSE, Adam 1e-3, the weight-decay
search on the 1,000 validation samples, early stopping), but trained on all 8,000 train
samples, which no TrialSpec can ask for (K <= 256); scored on the 1,000 Movie test samples.
Its test AUCs are the "full data" column of docs/baselines.md: far above the few-shot ~0.5,
they show the models work. Writes bench/results/baselines_full.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("gru4rec", "caser", "sasrec", "dros", "gru-bert", "dros-bert")


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--domain", default="movie", choices=("movie", "book"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--text-hidden-size", type=int, default=128,
                    help="-BERT GRU width (the paper: 1024; see docs/baselines.md for its cost)")
    ap.add_argument("--text-num-layers", type=int, default=1, help="-BERT GRU layers (the paper: 4)")
    ap.add_argument("--raw-dir", default=None)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS / "baselines_full.json"))
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import importlib

    import torch
    from sklearn.metrics import roc_auc_score

    from baselines import _seqrec as S
    from baselines import _text
    from data.samples import load_split
    from harness.core.config import BaselineConfig
    from harness.core.context import TrialContext

    torch.set_num_threads(args.threads)
    ctx = TrialContext(raw_dir=args.raw_dir) if args.cache_dir is None else \
        TrialContext(raw_dir=args.raw_dir, cache_dir=Path(args.cache_dir))
    data_kw = {"raw_dir": ctx.raw_dir, "cache_dir": ctx.cache_dir / "data"}
    train, valid, test = (load_split(args.domain, s, **data_kw) for s in ("train", "valid", "test"))
    cfg = BaselineConfig(device="cpu")
    text_cfg = S.TextModelConfig(text_hidden_size=args.text_hidden_size,
                                 text_num_layers=args.text_num_layers)
    rows = []
    print(f"{'method':<10} {'test AUC':>8} {'valid AUC':>9} {'decay':>7} {'epoch':>5} {'seconds':>8}")
    for name in args.methods.split(","):
        arch = importlib.import_module("baselines." + name.replace("-", "_")).ARCH
        t0 = time.perf_counter()
        text = _text.text_table(cfg.encoder, [train, valid, test], ctx) if arch.text else None
        fitted = S.fit(arch, train, valid, cfg, args.seed, "cpu", text, text_cfg)
        auc = float(roc_auc_score(test["label"], fitted.score(test)))
        seconds = time.perf_counter() - t0
        extra = fitted.extra()
        row = {"method": name, "test_auc": round(auc, 4), "valid_auc": round(extra["valid_auc"], 4),
               "weight_decay": extra["weight_decay"], "best_epoch": extra["best_epoch"],
               "valid_auc_by_decay": extra["valid_auc_by_decay"],
               "epochs_run_by_decay": extra["epochs_run_by_decay"],
               "n_parameters": extra["n_parameters"], "seconds": round(seconds, 1)}
        if arch.text_sized:
            row.update(text_cfg.model_dump())
        rows.append(row)
        print(f"{name:<10} {auc:>8.4f} {extra['valid_auc']:>9.4f} {extra['weight_decay']:>7} "
              f"{extra['best_epoch']:>5} {seconds:>8.1f}", flush=True)
    out = {"domain": args.domain, "n_train": len(train), "n_valid": len(valid), "n_test": len(test),
           "seed": args.seed, "threads": args.threads, "host_cpus": os.cpu_count(),
           "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
           "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "results": rows}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    return out


if __name__ == "__main__":
    main()
