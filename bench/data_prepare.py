"""Benchmark `harness data prepare`: cold (fresh cache directory) and warm, end to end.

    python bench/data_prepare.py [--raw-dir DIR] [--repeats N] [--out bench/results/data_prepare.json]

Each run is a fresh `python -m harness.cli data prepare` process with HARNESS_CACHE_DIR pointing
at a new (cold) or the already-filled (warm) temporary directory, so the cold number includes
checking and hashing the raw files, building both domains and writing the Parquet tables, and
the warm one includes interpreter start-up. It also times an in-process warm `load_split` of
each table (memo cleared: a Parquet read) and a memoised repeat call.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def run_prepare(raw_dir: str | None, cache_home: Path) -> float:
    cmd = [sys.executable, "-m", "harness.cli", "data", "prepare"]
    if raw_dir:
        cmd += ["--raw-dir", raw_dir]
    env = {**os.environ, "HARNESS_CACHE_DIR": str(cache_home)}
    started = time.perf_counter()
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if out.returncode != 0:
        sys.exit(f"harness data prepare failed ({out.returncode}): {out.stderr.strip()}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw-dir", default=None, help="raw data directory (default: HARNESS_RAW_DIR / cache)")
    parser.add_argument("--repeats", type=int, default=3, help="cold and warm runs each (default 3)")
    parser.add_argument("--out", default=str(REPO / "bench" / "results" / "data_prepare.json"))
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    from data.samples import DOMAINS, SPLITS, clear_memo, load_split

    cold, warm, load_warm, load_memo = [], [], {}, {}
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        for repeat in range(args.repeats):
            home = Path(tmp) / f"cold-{repeat}"
            cold.append(run_prepare(args.raw_dir, home))
            warm.append(run_prepare(args.raw_dir, home))
        for _ in range(args.repeats - 1):
            warm.append(run_prepare(args.raw_dir, home))
        data_dir = home / "data"
        os.environ["HARNESS_CACHE_DIR"] = str(home)
        for domain in DOMAINS:
            for split in SPLITS:
                clear_memo()
                started = time.perf_counter()
                frame = load_split(domain, split, raw_dir=args.raw_dir, cache_dir=data_dir)
                load_warm[f"{domain}/{split}"] = (time.perf_counter() - started, len(frame))
                started = time.perf_counter()
                load_split(domain, split, raw_dir=args.raw_dir, cache_dir=data_dir)
                load_memo[f"{domain}/{split}"] = time.perf_counter() - started

    result = {
        "benchmark": "harness data prepare",
        "host": platform.node(), "python": platform.python_version(), "cpus": os.cpu_count(),
        "raw_dir": args.raw_dir or os.environ.get("HARNESS_RAW_DIR"),
        "cold_s": cold, "warm_s": warm,
        "cold_median_s": statistics.median(cold), "warm_median_s": statistics.median(warm),
        "load_split_warm_s": {k: v[0] for k, v in load_warm.items()},
        "load_split_memo_s": load_memo,
        "rows": {k: v[1] for k, v in load_warm.items()},
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")

    table = Table(title="harness data prepare (seconds)")
    for column in ("what", "median", "runs"):
        table.add_column(column, justify="left" if column == "what" else "right")
    table.add_row("CLI cold (fresh cache)", f"{result['cold_median_s']:.2f}", " ".join(f"{x:.2f}" for x in cold))
    table.add_row("CLI warm", f"{result['warm_median_s']:.2f}", " ".join(f"{x:.2f}" for x in warm))
    Console().print(table)
    loads = Table(title="in-process load_split (seconds)")
    for column in ("table", "rows", "warm (Parquet)", "memoised"):
        loads.add_column(column, justify="left" if column == "table" else "right")
    for key, (seconds, rows) in load_warm.items():
        loads.add_row(key, f"{rows:,}", f"{seconds:.3f}", f"{load_memo[key]:.4f}")
    Console().print(loads)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
