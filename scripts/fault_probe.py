#!/usr/bin/env python3
"""The slow fault and attack cases, as a hostile or unlucky user would try them.

    python scripts/fault_probe.py [--only NAME] [--json PATH]

Runs every case of every module in scripts/probes/ (each exposes `cases()`: a list of
(name, callable -> (outcome_text, ok))), prints one table of case -> outcome and writes
bench/results/fault_probe.json. Exit 1 if any case did not hold. The fast cases live in the test
suite; docs/reliability.md says which promise each case checks.
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBES = Path(__file__).resolve().parent / "probes"


def _load(path: Path):
    # Imported as the package `probes` (scripts/ on sys.path), so a probe's functions pickle
    # by name into the subprocesses it starts.
    return importlib.import_module(f"probes.{path.stem}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="run one probe module (its file stem)")
    parser.add_argument("--json", help="where the results go (default: bench/results/fault_probe.json; "
                        "with --only, none unless given: one module's cases never replace the full record)")
    args = parser.parse_args(argv)
    for folder in (ROOT, PROBES.parent):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    rows = []
    for path in sorted(PROBES.glob("*.py")):
        if path.stem.startswith("_") or (args.only and path.stem != args.only):
            continue
        module = _load(path)
        for name, case in module.cases():
            started = time.perf_counter()
            try:
                outcome, ok = case()
            except Exception as exc:  # noqa: BLE001 - a probe that crashes is a failed case
                outcome, ok = f"probe crashed: {type(exc).__name__}: {exc}", False
                traceback.print_exc(file=sys.stderr)
            rows.append({"probe": path.stem, "case": name, "ok": bool(ok),
                         "outcome": " ".join(str(outcome).split())[:200],
                         "seconds": round(time.perf_counter() - started, 2)})
            mark = "ok  " if ok else "FAIL"
            print(f"{mark} {path.stem:>16} | {name:<48} | {rows[-1]['outcome']}", flush=True)
        getattr(module, "cleanup", lambda: None)()      # a probe's work folder, if it keeps one
    held = sum(r["ok"] for r in rows)
    print(f"\n{held}/{len(rows)} cases held")
    if args.only and not args.json:
        return 0 if held == len(rows) else 1
    out = Path(args.json or ROOT / "bench" / "results" / "fault_probe.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.processor() or platform.machine(),
                               "held": held, "cases": rows}, indent=1))
    return 0 if held == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
