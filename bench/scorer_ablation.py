"""Where the one-pass scorer's time goes: each of its savings turned off in turn, and torch's
linear layers against oneDNN-packed ones on the model's matrix shapes.

    python -m bench.scorer_ablation [--n 128] [--rounds 2] [--threads 2]

Same model and prompts as bench/eval_speed (SmolLM2, the first N movie test prompts). Every
variant scores all N prompts, in rounds with the order rotating (so load from other processes
falls on all alike); wall seconds are averaged. Each row names what it changes from the harness
default, with the largest score difference against the default, and the positions a trie of
all prompts would run (the least any prefix sharing can compute). Then a micro-benchmark of one
linear layer per model shape (1024 rows): GFLOP/s through `F.linear` and through the packed op.
Prints tables; writes bench/results/scorer_ablation.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.machine import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = {  # name -> YesNoScorer keywords changed from the default
    "default": {},
    "torch linears": {"packed_linears": False},
    "no group prefixes": {"group_prefixes": False},
    "batch cap 2048 tokens": {"max_batch_tokens": 2048},
    "no batch cap": {"max_batch_tokens": None},
}


def linear_gflops(rows: int, shapes, repeats: int = 20) -> list[dict]:
    """GFLOP/s of F.linear and of the packed oneDNN op, per (in, out) shape."""
    import torch

    from models import cpu_linear

    out = []
    for k, n in shapes:
        x, w = torch.randn(rows, k), torch.randn(n, k)
        fns = {"torch": lambda: torch.nn.functional.linear(x, w)}
        if cpu_linear.available():
            with torch.inference_mode():
                packed = cpu_linear._pack(w)
            fns["packed"] = lambda: cpu_linear._packed_forward(x, packed, None)
        row = {"in": k, "out": n}
        with torch.inference_mode():
            for name, fn in fns.items():
                for _ in range(3):
                    fn()
                t = time.perf_counter()
                for _ in range(repeats):
                    fn()
                row[name] = 2 * rows * k * n * repeats / (time.perf_counter() - t) / 1e9
        out.append(row)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS / "scorer_ablation.json"))
    args = ap.parse_args(argv)

    import torch

    from bench.eval_speed import movie_prompts_and_model
    from models.scoring import YesNoScorer

    prompts, model, tok = movie_prompts_and_model(args)
    names = list(VARIANTS)
    walls, scores, stats = {m: [] for m in names}, {}, {}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        for j in range(len(names)):
            name = names[(r + j) % len(names)]
            scorer = YesNoScorer(model, tok, **VARIANTS[name])
            t = time.perf_counter()
            scores[name] = scorer.score(prompts)
            walls[name].append(time.perf_counter() - t)
            stats[name] = scorer.last
    base = float(np.mean(walls["default"]))
    rows = {m: {"changes": VARIANTS[m], "seconds": float(np.mean(walls[m])),
                "rounds_wall_s": [round(w, 2) for w in walls[m]],
                "vs_default": float(np.mean(walls[m])) / base,
                "computed_tokens": stats[m].computed_tokens, "batches": stats[m].batches,
                "packed_linears": stats[m].packed_linears,
                "max_abs_diff_vs_default": float(np.abs(scores[m] - scores["default"]).max())}
            for m in names}
    cfg = model.config
    shapes = [(cfg.hidden_size, cfg.intermediate_size), (cfg.intermediate_size, cfg.hidden_size),
              (cfg.hidden_size, cfg.hidden_size),
              (cfg.hidden_size, cfg.num_key_value_heads * cfg.hidden_size // cfg.num_attention_heads)]
    linears = linear_gflops(1024, shapes)
    enc = tok(prompts)["input_ids"]
    trie = len({tuple(e[:i]) for e in enc for i in range(1, len(e) + 1)})  # the fewest positions any prefix sharing runs
    report = {"n": args.n, "rounds": args.rounds, "model": args.model, "threads": torch.get_num_threads(),
              "cpu_model": cpu_model(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "rows": rows, "linear_gflops_1024_rows": linears, "trie_positions": trie,
              "command": "python -m bench.scorer_ablation " + " ".join(argv if argv is not None else sys.argv[1:]),
              "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))

    print(f"{'variant':<24} {'seconds':>8} {'x default':>10} {'positions':>10} {'batches':>8} {'max|diff|':>10}")
    for name, r in rows.items():
        print(f"{name:<24} {r['seconds']:>8.1f} {r['vs_default']:>10.2f} {r['computed_tokens']:>10,} "
              f"{r['batches']:>8} {r['max_abs_diff_vs_default']:>10.1e}")
    print(f"a trie of all {args.n} prompts has {trie:,} positions")
    print(f"\n{'linear in x out (1024 rows)':<28} {'torch GFLOP/s':>14} {'packed GFLOP/s':>15}")
    for r in linears:
        print(f"{r['in']:>6} x {r['out']:<19} {r['torch']:>14.0f} {r.get('packed', float('nan')):>15.0f}")
    print(f"cpu: {report['cpu_model']}; results: {args.out}")
    return report


if __name__ == "__main__":
    main()
