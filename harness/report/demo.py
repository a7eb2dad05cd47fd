"""A synthetic results store for trying a report without running anything.

`python -m harness.report.demo OUT.duckdb` writes trials shaped like a real grid (the six
baselines, TALLRec AT / RT / full, cross-domain mixes, three seeds, a few failures and a cell
never run) through the Store API. Scores are drawn so AUCs land near the paper's numbers; they
are made up, and the store's runs are named `synthetic-demo` so nobody mistakes them.
"""
from __future__ import annotations

import argparse
import time
import traceback
from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.result import TrialResult
from harness.core.spec import TrialSpec
from harness.report.paper_baselines import PAPER_BASELINES as BASELINES
from harness.run.store import Store

KS = (16, 64, 256)
CPU, GPU = "cpu (x86_64)", "cuda:0 NVIDIA H100 80GB HBM3"   # as harness.core.provenance.device() writes them
PAPER_TALLREC = {("movie", 16): 0.6724, ("movie", 64): 0.6748, ("movie", 256): 0.7198,
                 ("book", 16): 0.5636, ("book", 64): 0.6039, ("book", 256): 0.6438}


def _predictions(domain: str, target_auc: float, n: int, rng) -> pd.DataFrame:
    """Binormal scores with AUC about `target_auc`: score = N(0, 1) + d * label."""
    from scipy.stats import norm

    d = np.sqrt(2) * norm.ppf(min(max(target_auc, 0.01), 0.99))
    labels = (np.arange(n) % 2 == 0).astype(int)   # a fixed, balanced test set per domain
    scores = rng.normal(size=n) + d * labels
    # As TALLRec's splits: Movie's test samples come from 16 users, Book's one per user.
    users = [f"u{i * 16 // n}" if domain == "movie" else f"u{i}" for i in range(n)]   # in blocks
    return pd.DataFrame({"sample_id": [f"{domain}:test:{i:05d}" for i in range(n)],
                         "label": labels, "score": scores, "user_id": users})


def _result(spec: TrialSpec, aucs: dict[str, float] | None, wall_s: float, device: str,
            n: int, rng, error: str | None = None) -> TrialResult:
    from harness.core.metrics import metrics_from_predictions

    preds = {} if aucs is None else {d: _predictions(d, a, n, rng) for d, a in aucs.items()}
    end = time.time()
    return TrialResult(trial_id=spec.trial_id, spec_json=spec.canonical_json(),
                       status="failed" if error else "complete", error=error,
                       metrics=metrics_from_predictions(preds, "test"), predictions=preds,
                       started_at=end - wall_s, finished_at=end, host="demo-host", device=device)


def _fake_traceback(message: str) -> str:
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        return "".join(traceback.format_exception(exc)).strip()


def build_demo_store(path: str | Path, seeds: int = 3, n: int = 400, seed: int = 0) -> Store:
    path = Path(path)
    if path.exists():
        path.unlink()
    rng = np.random.default_rng(seed)
    store = Store(path)
    run_id = store.begin_run("synthetic-demo", {"note": "synthetic data from harness.report.demo"})
    for s in range(seeds):
        for k in KS:
            for mix in ("movie", "book"):
                other = "book" if mix == "movie" else "movie"
                for method in BASELINES:
                    spec = TrialSpec(method=method, train_mix=mix, k=k, seed=s)
                    if method == "dros-bert" and mix == "book" and k == 256:
                        continue                                   # a cell never run
                    if method == "sasrec" and mix == "book" and k == 256 and s == 2:
                        store.write_result(_result(spec, None, 40.0, CPU, n, rng, error=_fake_traceback(
                            "sequence length 0 after filtering the K=256 history")), run_id)
                        continue
                    base = 0.49 + 0.012 * np.log2(k / 16) + rng.normal(0, 0.008)
                    store.write_result(_result(spec, {mix: base, other: 0.5 + rng.normal(0, 0.005)},
                                               20 + k * 0.3 + rng.normal(0, 3), CPU, n, rng), run_id)
                for variant, lift in (("full", 0.0), ("RT", -0.03)):
                    spec = TrialSpec(method="tallrec", variant=variant, train_mix=mix, k=k, seed=s)
                    if variant == "full" and mix == "movie" and k == 256 and s == 1:   # fails, then a retry completes
                        store.write_result(_result(spec, None, 310.0, GPU, n, rng, error=_fake_traceback(
                            "CUDA out of memory. Tried to allocate 1.95 GiB")), run_id)
                    a = PAPER_TALLREC[(mix, k)] - 0.015 + lift + rng.normal(0, 0.012)
                    cross = 0.5 + (a - 0.5) * 0.6 + rng.normal(0, 0.01)
                    store.write_result(_result(spec, {mix: a, other: cross},
                                               600 + 9 * k + rng.normal(0, 30), GPU, n, rng), run_id)
            spec = TrialSpec(method="tallrec", variant="full", train_mix="both", k=k, seed=s)
            aucs = {d: PAPER_TALLREC[(d, k)] + 0.005 + rng.normal(0, 0.012) for d in ("movie", "book")}
            store.write_result(_result(spec, aucs, 700 + 12 * k + rng.normal(0, 30), GPU, n, rng), run_id)
        spec = TrialSpec(method="tallrec", variant="AT", seed=s)
        store.write_result(_result(spec, {"movie": 0.52 + rng.normal(0, 0.01), "book": 0.5 + rng.normal(0, 0.01)},
                                   5400 + rng.normal(0, 200), GPU, n, rng), run_id)
    store.end_run(run_id)
    return store


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db", help="store to create (replaced if it exists)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=400, help="test samples per domain")
    args = parser.parse_args(argv)
    build_demo_store(args.db, seeds=args.seeds, n=args.samples)
    print(f"wrote synthetic demo store {args.db}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
