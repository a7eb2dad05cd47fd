"""GPU check (issue #15): what a lent H100/H200 tells us, in one command, each step timed and each
failure recorded without stopping the rest.

    scripts/gpu_check.sh [options]     (installs the carried wheels, then runs this module)
    python -m bench.gpu_check [--steps a b c d e] [--budget-s 480] [--micro-batch 16] ...
    python -m bench.gpu_check --device cpu --tiny      (CPU rehearsal: tiny shapes, a few steps)

a. the GPU-marked tests (pytest -m gpu);
b. one tallrec RT trial through run_trial per set-up (8-bit + fp16, bf16, bf16 + DeepSpeed ZeRO-2)
   on a random-init SmolLM2-shaped Llama: status, AUCs, seconds per phase, peak GPU memory;
c. LoRA training throughput on a random-init LLaMA-7B-shaped model: TALLRec's 8-bit + fp16
   padded, bf16 padded, bf16 padding-free packed: tokens/s and MFU (bench/gpu/throughput.py);
d. the one-pass scorer against generate() on the same 7B-shaped model (bench/gpu/scorer.py);
e. `harness run` with Ray: skipped unless ray is importable (its wheel does not fit the budget).

Writes bench/results/gpu_check.json after every step (and a copy to $OUT when that is a
directory: the device tool brings it back) and prints a table. Without CUDA (and no
`--device cpu`) it stops at once with one line and exit code 3.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
STEPS = ("a", "b", "c", "d", "e")
NAMES = {"a": "a. GPU-marked tests", "b": "b. RT trials (run_trial)", "c": "c. LoRA throughput 7B",
         "d": "d. scorer vs generate 7B", "e": "e. harness run on Ray"}


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", nargs="+", default=list(STEPS), choices=STEPS,
                    help="steps to run, in this order (default: a b c d e)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cpu for a rehearsal")
    ap.add_argument("--tiny", action="store_true", help="tiny model shapes (CPU rehearsal and tests)")
    ap.add_argument("--assets", default=str(REPO / "gpu_assets"), help="from python -m bench.gpu.assets")
    ap.add_argument("--work", default=None, help="scratch directory (default: a temporary one)")
    ap.add_argument("--out", default=str(RESULTS / "gpu_check.json"))
    ap.add_argument("--budget-s", type=float, default=480.0,
                    help="steps that would start after this many seconds are skipped")
    ap.add_argument("--pytest-timeout", type=int, default=240)
    ap.add_argument("--test-samples", type=int, default=200, help="step b: test samples per domain")
    ap.add_argument("--micro-batch", type=int, default=16, help="step c: examples per micro-batch")
    ap.add_argument("--train-steps", type=int, default=6, help="step c: timed steps per set-up")
    ap.add_argument("--warmup", type=int, default=2, help="step c: untimed steps per set-up")
    ap.add_argument("--cutoff", type=int, default=512, help="step c: tokens per example at most")
    ap.add_argument("--score-samples", type=int, default=64, help="step d: prompts scored")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="step d: generate() length (TALLRec's)")
    return ap.parse_args(argv)


def preflight(args) -> str | None:
    """One line saying why the check cannot start, or None."""
    try:
        import torch
    except ImportError:
        return "gpu_check: torch is not importable with this python"
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        return ("gpu_check: no CUDA GPU here (torch.cuda.is_available() is False); run it on a lent "
                "GPU machine, or rehearse with --device cpu --tiny")
    assets = Path(args.assets)
    if not (assets / "samples.json").is_file() or not (assets / "tokenizers").is_dir():
        return f"gpu_check: {assets} is not prepared: run scripts/gpu_wheels.sh (or python -m bench.gpu.assets)"
    return None


def step_e() -> dict:
    import importlib.util

    missing = [m for m in ("ray", "duckdb") if importlib.util.find_spec(m) is None]
    if missing:
        return {"status": "skipped", "error": f"{' and '.join(missing)} not installed: ray 2.60.0's wheel "
                "(79.3 MB) alone exceeds the 64 MiB that travels per command; duckdb 24.9 MB"}
    return {"status": "skipped", "error": "ray is importable: placement with gpus_per_trial 1 and 0.5 is "
            "tests/integration/test_run_gpu.py, run in step a; a tallrec grid through Ray needs the raw "
            "data on the workers, which this check does not carry"}


def write(report: dict, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=2, default=str)
    out.write_text(text)
    dest = os.environ.get("OUT")
    if dest and Path(dest).is_dir():
        (Path(dest) / out.name).write_text(text)


def summary(step: dict) -> str:
    rows = step.get("rows") or []
    if rows and any(r.get("status") != "ok" for r in rows):
        bad = "; ".join(f"{r['setup']} {r['status']}: {r.get('error')}" for r in rows if r.get("status") != "ok")
    else:
        bad = ""
    rows = [r for r in rows if r.get("status") == "ok"]
    if step["name"].startswith("b"):
        return "; ".join([f"{r['setup']} auc={r.get('auc')} train={r.get('train_s')}s "
                          f"score={r.get('score_s')}s peak={r.get('peak_cuda_mb')}MB" for r in rows] + [bad]).strip("; ")
    if step["name"].startswith("c"):
        return "; ".join([f"{r['setup']} {r['tokens_per_s']} tok/s mfu={r.get('mfu')} peak={r.get('peak_mb')}MB"
                          for r in rows] + [bad]).strip("; ")
    if step["name"].startswith("d") and "scorer_samples_per_s" in step:
        return (f"scorer {step['scorer_samples_per_s']}/s, generate {step['generate_samples_per_s']}/s, "
                f"max|diff| {step['max_abs_diff']:.2g}")
    return step.get("summary") or ""


def print_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"GPU check on {report['facts'].get('gpu') or report['facts']['device']}")
    for col in ("step", "status", "s", "result / error"):
        table.add_column(col)
    for s in report["steps"]:
        table.add_row(s["name"], s["status"], f"{s['seconds']:.1f}", s.get("error") or summary(s))
    Console(width=160).print(table)


def main(argv=None) -> int:
    args = parse(argv)
    problem = preflight(args)
    if problem:
        print(problem, file=sys.stderr)
        return 3
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import tempfile

    from bench.gpu.common import device_facts, run_step

    t_start = time.monotonic()
    deadline = t_start + args.budget_s
    work = Path(args.work or tempfile.mkdtemp(prefix="gpu-check-"))
    facts = device_facts(args.device)
    facts["install_s"] = os.environ.get("GPU_CHECK_INSTALL_S")  # set by scripts/gpu_check.sh
    report = {"time": time.strftime("%Y-%m-%d %H:%M:%S"), "command": "python -m bench.gpu_check " + " ".join(
        argv if argv is not None else sys.argv[1:]), "facts": facts, "tiny": args.tiny, "steps": []}
    out = Path(args.out)
    keep: dict = {}
    assets = Path(args.assets)

    def step_c():
        from bench.gpu import throughput

        return throughput.run(args.device, assets, tiny=args.tiny, peak=facts.get("peak_tflops_bf16"),
                              steps=args.train_steps, warmup=args.warmup, micro_batch=args.micro_batch,
                              cutoff=args.cutoff, keep=keep if "d" in args.steps else None)

    def step_d():
        from bench.gpu import scorer, throughput

        if "bf16_base" not in keep:  # step c did not run (or failed before building the base)
            from transformers import AutoTokenizer

            keep["tokenizer"] = AutoTokenizer.from_pretrained(str(assets / "tokenizers" / "llama"))
            if keep["tokenizer"].pad_token_id is None:
                keep["tokenizer"].pad_token = keep["tokenizer"].unk_token
            keep["bf16_base"] = throughput.build_base("bf16", assets / "tokenizers" / "llama",
                                                      "tiny" if args.tiny else "llama7b", args.device)
        try:
            return scorer.run(keep["bf16_base"], keep["tokenizer"], assets / "samples.json", args.device,
                              n=args.score_samples, max_new_tokens=args.max_new_tokens)
        finally:
            keep.clear()

    from bench.gpu import trials

    dest = os.environ.get("OUT")
    log_dir = Path(dest) if dest and Path(dest).is_dir() else out.parent
    funcs = {"a": lambda: trials.run_gpu_tests(args.pytest_timeout, log_dir),
             "b": lambda: trials.run_trials(args.device, assets, work, tiny=args.tiny, n_test=args.test_samples),
             "c": step_c, "d": step_d, "e": step_e}
    for key in dict.fromkeys(args.steps):  # in the order given (default a..e)
        step = run_step(NAMES[key], funcs[key], deadline=deadline)
        report["steps"].append(step.as_dict())
        report["elapsed_s"] = round(time.monotonic() - t_start, 1)
        write(report, out)
        print(f"[gpu_check] {step.name}: {step.status} in {step.seconds:.1f} s"
              + (f" ({step.error})" if step.error else ""), flush=True)
    print_table(report)
    print(f"wrote {out}")
    return 0 if all(s["status"] in ("ok", "skipped") for s in report["steps"]) else 1


if __name__ == "__main__":
    sys.exit(main())
