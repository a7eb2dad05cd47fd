"""Step d: the one-pass scorer (models/scoring.YesNoScorer) against TALLRec's generate() on the
same model: samples/s of each, and whether the scores agree.

TALLRec's evaluate.py calls `generate(max_new_tokens=128, output_scores=True)` on left-padded
batches and keeps the first step's Yes/No logits; here the raw first-step logits
(`output_logits=True`) give the same two-way score P(Yes) / (P(Yes) + P(No)) the scorer computes.
A random-init model never emits EOS, so every generate() call runs all `max_new_tokens` steps,
which is what TALLRec's evaluation costs when answers run long.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from bench.gpu.common import sync


def test_prompts(samples_path: Path, n: int, domain: str = "movie", template: str = "alpaca"):
    import pandas as pd

    from models.scoring import render_prompts

    blob = json.loads(Path(samples_path).read_text())
    frame = pd.DataFrame(blob["domains"][domain]["test"]).head(n)
    return render_prompts(frame, template), frame["label"].astype(int).to_numpy()


def generate_scores(model, tokenizer, prompts: list[str], answer_ids: tuple[int, int], device: str,
                    batch_size: int, max_new_tokens: int) -> np.ndarray:
    import torch

    old_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    out = []
    try:
        for i in range(0, len(prompts), batch_size):
            enc = tokenizer(prompts[i:i + batch_size], return_tensors="pt", padding=True).to(device)
            with torch.no_grad():
                gen = model.generate(**enc, max_new_tokens=max_new_tokens, min_new_tokens=max_new_tokens,
                                     do_sample=False, output_logits=True, return_dict_in_generate=True,
                                     use_cache=True,
                                     pad_token_id=tokenizer.pad_token_id)
            first = gen.logits[0].float()[:, list(answer_ids)]
            out.append(torch.softmax(first, dim=-1)[:, 0].cpu().numpy())
    finally:
        tokenizer.padding_side = old_side
    return np.concatenate(out)


def run(model, tokenizer, samples_path: Path, device: str, *, n: int = 64, batch_size: int = 16,
        max_new_tokens: int = 128) -> dict:
    from harness.core.metrics import compute_auc
    from models.scoring import YesNoScorer

    prompts, labels = test_prompts(samples_path, n)
    model.eval()
    model.config.use_cache = True  # step c turns it off for training; generate() needs its KV cache
    scorer = YesNoScorer(model, tokenizer, batch_size=batch_size, mode="two-way")
    scorer.score(prompts[: min(4, n)])  # warm-up (kernels, allocator)
    sync(device)
    t0 = time.perf_counter()
    fast = scorer.score(prompts)
    sync(device)
    fast_s = time.perf_counter() - t0
    answer_ids = tuple(scorer.last.answer_ids)
    t0 = time.perf_counter()
    slow = generate_scores(model, tokenizer, prompts, answer_ids, device, batch_size, max_new_tokens)
    sync(device)
    slow_s = time.perf_counter() - t0
    diff = np.abs(np.asarray(fast, dtype=float) - slow)
    return {"samples": len(prompts), "batch_size": batch_size, "max_new_tokens": max_new_tokens,
            "dtype": str(next(model.parameters()).dtype), "answer_ids": list(answer_ids),
            "scorer_s": round(fast_s, 3), "scorer_samples_per_s": round(len(prompts) / fast_s, 2),
            "generate_s": round(slow_s, 3), "generate_samples_per_s": round(len(prompts) / slow_s, 2),
            "speedup": round(slow_s / fast_s, 1), "max_abs_diff": float(diff.max()),
            "mean_abs_diff": float(diff.mean()),
            "same_order": bool((np.argsort(fast, kind="stable") == np.argsort(slow, kind="stable")).all()),
            "auc_scorer": compute_auc(labels.tolist(), list(map(float, fast))),
            "auc_generate": compute_auc(labels.tolist(), list(map(float, slow)))}
