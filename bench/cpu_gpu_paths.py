"""The GPU paths on the CPU: one tallrec RT trial on SmolLM2 per set-up (fp32, 8-bit, ZeRO-2,
ZeRO-3), each through run_trial in a fresh process, on the real samples.

    python -m bench.cpu_gpu_paths [--setups fp32 int8 zero2 zero3] [--k 16] [--epochs 1]
                                  [--eval-max 32] [--valid-max 16]

Prints per set-up the seconds of loading / training / validation scoring / test scoring, peak
RSS and the AUCs; writes bench/results/cpu_gpu_paths.json. What it measures is the CPU cost of
these paths (docs/gpu.md), not GPU speed.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SETUPS = {"fp32": ({}, {}), "int8": ({"load_in_8bit": True}, {}),
          "zero2": ({}, {"deepspeed": "ray_configs/deepspeed_zero2.json"}),
          "zero3": ({}, {"deepspeed": "ray_configs/deepspeed_zero3.json"})}
_ONE = """
import json, sys, time
from harness.core.context import TrialContext
from harness.core.spec import TrialSpec
from harness.core.trial import run_trial
spec = TrialSpec.from_json(sys.argv[1])
t0 = time.perf_counter()
r = run_trial(spec, TrialContext())
print("RESULT" + json.dumps({"status": r.status, "error": (r.error or "")[-600:],
      "wall_s": time.perf_counter() - t0, "timings": r.timings,
      "peak_rss_mb": r.extra.get("peak_rss_mb"), "aucs": {m.eval_domain: m.auc for m in r.metrics},
      "global_step": r.extra.get("global_step")}))
"""


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--setups", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--eval-max", type=int, default=32)
    ap.add_argument("--valid-max", type=int, default=16)
    ap.add_argument("--out", default=str(RESULTS / "cpu_gpu_paths.json"))
    args = ap.parse_args(argv)

    from bench.machine import cpu_model
    from harness.core.spec import TrialSpec

    rows = []
    for name in args.setups:
        model_kw, training_kw = SETUPS[name]
        training = {"epochs": args.epochs, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 3e-4,
                    "warmup_steps": 0, "valid_max_samples": args.valid_max, **training_kw}
        spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=args.k, seed=0,
                         model={"name": args.model, **model_kw}, params={"lora": {}, "training": training},
                         eval={"domains": ("movie",), "max_samples": args.eval_max})
        out = subprocess.run([sys.executable, "-c", _ONE, spec.canonical_json()], capture_output=True,
                             text=True, env=dict(os.environ, DS_ACCELERATOR="cpu"))
        line = [x for x in out.stdout.splitlines() if x.startswith("RESULT")]
        row = json.loads(line[0][6:]) if line else {"status": "crashed", "error": out.stderr[-600:]}
        row["setup"] = name
        rows.append(row)
        t = row.get("timings", {})
        print(f"{name:<6} {row['status']:<9} wall {row.get('wall_s', 0):6.1f}  load {t.get('load_s', 0):5.1f}  "
              f"train {t.get('train_s', 0):6.1f}  valid {t.get('valid_score_s', 0):5.1f}  "
              f"score {t.get('score_s', 0):5.1f}  RSS {row.get('peak_rss_mb') or 0:6.0f} MB  "
              f"AUC {row.get('aucs')}", flush=True)
    report = {"model": args.model, "k": args.k, "epochs": args.epochs, "eval_max": args.eval_max,
              "valid_max": args.valid_max, "cpu": cpu_model(), "cores": os.cpu_count(),
              "loadavg_after": os.getloadavg(), "rows": rows, "time": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": "python -m bench.cpu_gpu_paths " + " ".join(argv if argv is not None else sys.argv[1:])}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    return report


if __name__ == "__main__":
    main()
