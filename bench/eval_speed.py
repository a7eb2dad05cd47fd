"""One-pass Yes/No scorer vs TALLRec's generate()-based evaluation: samples/s and equality.

    python -m bench.eval_speed [--n 128] [--batch-size 32] [--model smollm2-135m] [--threads 2]

Both methods see the same model and the first N samples of the movie test split:
* generate: TALLRec's evaluate.py (batches of 32 in file order, left padding,
  `generate(max_new_tokens=128, output_scores=True, return_dict_in_generate=True)`, greedy),
  score from the first step's scores;
* forward: one plain forward pass per batch of --batch-size prompts (sorted by length over all
  N prompts, as the harness scores a domain), logits for the last position only, torch's own
  linear layers;
* one-pass: the harness scorer as trials run it (models/scoring.py): the same, plus the shared
  prompt prefix computed once and its key/value cache reused by every batch, prompts that share
  a longer prefix scored as groups, batches capped at 1024 padded tokens on a CPU and float32
  linear layers run on oneDNN-packed weights (models/cpu_linear.py).
`--rounds` rounds (default 2) of the three methods, the first method rotating from round to
round so that load from other processes on a shared machine falls on all three alike; wall and
CPU seconds are averaged over the rounds. Prints a table, the largest score differences
against generate, and `speedup: N.Nx` (one-pass over generate, wall clock) on its
last line; writes bench/results/eval_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"


def generate_scores(model, gtok, prompts, yes, no, max_new_tokens):
    """TALLRec's evaluate.py on one batch: (two-way scores, tallrec scores, decode steps)."""
    import torch

    enc = gtok(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                             output_scores=True, return_dict_in_generate=True,
                             pad_token_id=gtok.pad_token_id)
    first = out.scores[0].float()
    two = torch.softmax(first[:, [yes, no]], -1)[:, 0].numpy()
    tall = torch.softmax(torch.softmax(first, -1)[:, [yes, no]], -1)[:, 0].numpy()
    return two, tall, len(out.scores)


def movie_prompts_and_model(args):
    """The first --n movie test prompts and the --model on the CPU, with --threads and --cache-dir."""
    import torch

    from data.samples import load_split
    from harness.core.config import ModelConfig
    from harness.core.context import TrialContext
    from models.loading import load_base
    from models.scoring import render_prompts

    if args.threads:
        torch.set_num_threads(args.threads)
    ctx = TrialContext(cache_dir=args.cache_dir) if args.cache_dir else TrialContext()
    frame = load_split("movie", "test", raw_dir=ctx.raw_dir, cache_dir=ctx.cache_dir / "data").head(args.n)
    model, tok = load_base(ModelConfig(name=args.model), ctx.cache_dir, "cpu")
    return render_prompts(frame, "alpaca"), model, tok


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--max-new-tokens", type=int, default=128)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--out", default=str(RESULTS / "eval_speed.json"))
    args = ap.parse_args(argv)

    import torch

    from models.scoring import YesNoScorer, answer_token_ids

    prompts, model, tok = movie_prompts_and_model(args)
    yes, no = answer_token_ids(tok, prompts[0])

    from transformers import AutoTokenizer

    gtok = AutoTokenizer.from_pretrained(tok.name_or_path)  # TALLRec's: left padding
    gtok.padding_side = "left"
    gtok.pad_token_id = tok.pad_token_id
    methods = ("generate", "forward", "one-pass")
    batches = [prompts[i:i + args.batch_size] for i in range(0, len(prompts), args.batch_size)]
    runs = {m: [] for m in methods}   # (wall, cpu) per round
    got, steps, stats = {}, 0, {}
    load_before = os.getloadavg()

    def run_generate():
        two, tall, n = [], [], 0
        for batch in batches:  # TALLRec's batches, in file order
            a, b, k = generate_scores(model, gtok, batch, yes, no, args.max_new_tokens)
            two.append(a)
            tall.append(b)
            n += k
        return np.concatenate(two), np.concatenate(tall), n

    # Rounds of the three methods on all N samples, the first method rotating from round to
    # round, so that load from other processes on a shared machine falls on all of them alike.
    for r in range(args.rounds):
        for j in range(len(methods)):
            name = methods[(r + j) % len(methods)]
            if name == "generate":
                (two, tall, steps), wall, cpu = _timed(run_generate)
            else:  # the harness scores a whole domain in one call: sorted by length over all N
                # forward: plain batches of --batch-size; one-pass: the harness scorer as trials run it
                kw = ({"batch_size": args.batch_size} if name == "one-pass" else
                      {"batch_size": args.batch_size, "prefix_cache": False, "max_batch_tokens": None,
                       "packed_linears": False})
                scorer = YesNoScorer(model, tok, **kw)
                two, wall, cpu = _timed(lambda: scorer.score(prompts))
                tall = YesNoScorer(model, tok, mode="tallrec", **kw).score(prompts)  # untimed
                stats[name] = scorer.last
            runs[name].append((wall, cpu))
            got.setdefault(name, (two, tall))
    rows = {m: {"seconds": float(np.mean([w for w, _ in runs[m]])),
                "cpu_seconds": float(np.mean([c for _, c in runs[m]])),
                "rounds_wall_s": [round(w, 2) for w, _ in runs[m]]} for m in methods}
    ref_two, ref_tall = got["generate"]
    for name in ("forward", "one-pass"):
        two, tall = got[name]
        rows[name].update(max_abs_diff_two_way=float(np.abs(two - ref_two).max()),
                          max_abs_diff_tallrec=float(np.abs(tall - ref_tall).max()),
                          computed_tokens=stats[name].computed_tokens, prompt_tokens=stats[name].tokens,
                          batches=stats[name].batches, grouped_samples=stats[name].grouped_samples,
                          packed_linears=stats[name].packed_linears)
    rows["generate"]["decode_steps"] = steps
    prefix_tokens = stats["one-pass"].prefix_tokens
    rows["one-pass"]["prefix_tokens"] = prefix_tokens
    for r in rows.values():
        r["samples_per_s"] = args.n / r["seconds"]
    speedup = rows["generate"]["seconds"] / rows["one-pass"]["seconds"]
    report = {"n": args.n, "batch_size": args.batch_size, "model": args.model,
              "max_new_tokens": args.max_new_tokens, "threads": torch.get_num_threads(),
              "rounds": args.rounds,
              "cpu": platform.processor() or platform.machine(), "host_cpus": os.cpu_count(),
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "answer_ids": [yes, no], "rows": rows, "speedup": speedup,
              "speedup_forward": rows["generate"]["seconds"] / rows["forward"]["seconds"],
              "speedup_cpu_time": rows["generate"]["cpu_seconds"] / rows["one-pass"]["cpu_seconds"],
              "command": "python -m bench.eval_speed " + " ".join(argv if argv is not None else sys.argv[1:]),
              "time": time.strftime("%Y-%m-%d %H:%M:%S")}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))

    print(f"{'method':<10} {'seconds':>8} {'cpu s':>8} {'samples/s':>10} {'max|diff| two-way':>18} {'max|diff| tallrec':>18}")
    for name, r in rows.items():
        d2 = f"{r['max_abs_diff_two_way']:.2e}" if "max_abs_diff_two_way" in r else "(reference)"
        dt = f"{r['max_abs_diff_tallrec']:.2e}" if "max_abs_diff_tallrec" in r else "(reference)"
        print(f"{name:<10} {r['seconds']:>8.1f} {r['cpu_seconds']:>8.1f} {r['samples_per_s']:>10.2f} {d2:>18} {dt:>18}")
    print(f"generate ran {steps} decode steps over {len(range(0, args.n, args.batch_size))} batches; "
          f"shared prefix {prefix_tokens} tokens; cpu-time speedup "
          f"{rows['generate']['cpu_seconds'] / rows['one-pass']['cpu_seconds']:.1f}x; results: {args.out}")
    print(f"speedup: {speedup:.1f}x")
    return report


if __name__ == "__main__":
    main()
