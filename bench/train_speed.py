"""Rec-tuning step cost on the CPU: the harness's micro-batches against TALLRec's and the cheap wins.

    python -m bench.train_speed [--threads 1] [--mix movie] [--k 64] [--micro 4] [--steps 4]
                                [--rounds 2] [--variants harness tallrec grouped ...]

SmolLM2-135M (fp32) + a fresh LoRA (r 8 on q_proj/v_proj), the real K-shot samples of `--mix`
(seed 0), loss on prompt + answer. Every variant runs forward + backward + AdamW on `--steps`
micro-batches of its own epoch plan per round; the rounds interleave the variants (first one
rotating) so machine noise hits all alike. Variants:

  harness        random micro-batches, right padding to the longest (a multiple of 8)
  tallrec        random micro-batches, left padding (finetune_rec.py), its extra loss term included
  grouped        length-grouped micro-batches (models.batching), right padding, no multiple
  prefix         grouped + the shared prompt prefix computed once per micro-batch
  prefix-bf16    prefix under torch.autocast(bfloat16)
  bf16           harness under torch.autocast(bfloat16)
  micro1         micro-batches of one example (no padding at all)

Prints real tokens per wall and per CPU second, computed positions per real token and the estimated seconds per epoch
(the measured wall and CPU seconds per computed position times the positions of the whole
epoch plan; `vs harness` compares CPU seconds, robust on a shared machine), plus
the loss of one batch under each variant with dropout off (prefix must equal harness); writes
bench/results/train_speed.json.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

from bench.machine import cpu_model

RESULTS = Path(__file__).resolve().parent / "results"
VARIANTS = ("harness", "tallrec", "grouped", "prefix", "prefix-bf16", "bf16", "micro1")


def plan(variant: str, lengths: list[int], micro: int, seed: int) -> list[list[int]]:
    from models.batching import length_grouped_batches, random_batches

    rng = random.Random(seed)
    if variant == "micro1":
        return random_batches(len(lengths), 1, rng)
    if variant in ("grouped", "prefix", "prefix-bf16"):
        return length_grouped_batches(lengths, micro, rng)
    return random_batches(len(lengths), micro, rng)


def collator(variant: str, pad_id: int):
    from models.batching import PadCollator

    if variant == "tallrec":
        return PadCollator(pad_id, 8, "left")
    if variant in ("grouped", "prefix", "prefix-bf16", "micro1"):
        return PadCollator(pad_id, 1)
    return PadCollator(pad_id, 8)


def positions(variant: str, batch: dict) -> int:
    from models.batching import shared_prefix_len

    n, width = batch["input_ids"].shape
    if variant.startswith("prefix"):
        p = shared_prefix_len(batch["input_ids"], batch["attention_mask"])
        p = p if p >= 16 else 0
        return p + n * (width - p)
    return n * width


def loss_of(model, variant: str, batch: dict):
    import contextlib

    import torch

    from models.batching import shared_prefix_loss

    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if variant.endswith("bf16") else contextlib.nullcontext()
    with ctx:
        if variant.startswith("prefix"):
            return shared_prefix_loss(model, batch)
        return model(**batch).loss


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mix", default="movie", choices=["movie", "book", "both"])
    ap.add_argument("--k", type=int, default=64)
    ap.add_argument("--micro", type=int, default=4)
    ap.add_argument("--steps", type=int, default=4, help="micro-batches per variant per round")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--out", default=str(RESULTS / "train_speed.json"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from data.sampling import kshot_samples
    from harness.core.config import LoraConfig, ModelConfig
    from harness.core.context import TrialContext
    from models.adapters import attach_new
    from models.loading import load_base
    from models.training import tokenize_examples

    ctx = TrialContext()
    model, tok = load_base(ModelConfig(), ctx.cache_dir, "cpu")
    peft = attach_new(model, LoraConfig(), 0)
    frame = kshot_samples(args.mix, args.k, 0, raw_dir=ctx.raw_dir, cache_dir=ctx.cache_dir / "data")
    examples = tokenize_examples(tok, frame, "alpaca", 512, True)
    lengths = [len(e["input_ids"]) for e in examples]
    pad = tok.pad_token_id
    plans = {v: [collator(v, pad)([examples[i] for i in b]) for b in plan(v, lengths, args.micro, 0)]
             for v in args.variants}

    # Same batch, dropout off: every variant's loss (prefix must match harness; tallrec adds terms).
    peft.eval()
    probe = [examples[i] for i in range(min(args.micro, len(examples)))]
    check = {}
    with torch.no_grad():
        for v in args.variants:
            b = collator(v, pad)(probe) if v != "micro1" else collator(v, pad)(probe[:1])
            check[v] = float(loss_of(peft, v, b))
    peft.train()

    opt = torch.optim.AdamW([p for p in peft.parameters() if p.requires_grad], lr=1e-4)
    stats = {v: {"seconds": 0.0, "cpu": 0.0, "real": 0, "computed": 0, "batches": 0} for v in args.variants}
    load_before = os.getloadavg()
    for r in range(args.rounds):
        order = args.variants[r % len(args.variants):] + args.variants[:r % len(args.variants)]
        for v in order:
            batches = plans[v]
            steps = args.steps * (args.micro if v == "micro1" else 1)   # same examples per variant
            for j in range(steps):
                b = batches[(r * steps + j) % len(batches)]
                t0, c0 = time.perf_counter(), time.process_time()
                loss = loss_of(peft, v, b)
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                s = stats[v]
                s["seconds"] += time.perf_counter() - t0
                s["cpu"] += time.process_time() - c0   # CPU seconds: robust on a shared machine
                s["real"] += int(b["attention_mask"].sum())
                s["computed"] += positions(v, b)
                s["batches"] += 1
    rows = []
    for v in args.variants:
        s = stats[v]
        epoch_computed = sum(positions(v, b) for b in plans[v])
        epoch_real = sum(int(b["attention_mask"].sum()) for b in plans[v])
        rows.append({"variant": v, "real_tokens_per_s": s["real"] / s["seconds"],
                     "computed_per_real": epoch_computed / epoch_real,
                     "s_per_computed": s["seconds"] / s["computed"],
                     "est_s_per_epoch": s["seconds"] / s["computed"] * epoch_computed,
                     "est_cpu_s_per_epoch": s["cpu"] / s["computed"] * epoch_computed,
                     "real_tokens_per_cpu_s": s["real"] / s["cpu"],
                     "measured_s": s["seconds"], "batches": s["batches"], "loss_dropout_off": check[v]})
    base = next((r["est_cpu_s_per_epoch"] for r in rows if r["variant"] == "harness"), None)
    print(f"{args.mix} K={args.k}, micro-batch {args.micro}, {args.threads} thread(s), load "
          f"{load_before[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    print(f"{'variant':12} {'real tok/s':>10} {'tok/CPU s':>9} {'pos/real':>8} {'s/epoch':>8} "
          f"{'CPU s/epoch':>11} {'vs harness':>10} {'loss':>8}")
    for row in rows:
        rel = f"{row['est_cpu_s_per_epoch'] / base:.2f}x" if base else "-"
        print(f"{row['variant']:12} {row['real_tokens_per_s']:10.1f} {row['real_tokens_per_cpu_s']:9.1f} "
              f"{row['computed_per_real']:8.3f} {row['est_s_per_epoch']:8.1f} {row['est_cpu_s_per_epoch']:11.1f} "
              f"{rel:>10} {row['loss_dropout_off']:8.4f}")
    report = {"mix": args.mix, "k": args.k, "micro": args.micro, "threads": args.threads,
              "steps": args.steps, "rounds": args.rounds, "lengths": [min(lengths), max(lengths)],
              "cpu": cpu_model(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "rows": rows, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": "python -m bench.train_speed " + " ".join(argv if argv is not None else sys.argv[1:])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
