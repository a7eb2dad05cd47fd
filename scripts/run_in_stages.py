"""Run a long grid in priority order: the trials a partial report most needs first.

    python scripts/run_in_stages.py grids/cpu-paper.yaml grids/cpu-paper.stages.yaml --db results.duckdb

A trial's id depends on its spec, not on the grid that expanded it, so a stage is the same grid
with a narrower `grid:` block: its trials are the grid's own, stored under the same ids, and the
full grid later skips them. Each stage is written beside the store (`<db>.stages/NN-name.yaml`)
and run with `harness run`; a stopped run is resumed by running the same command again (stored
trials are skipped). The last stage is always the whole grid, so nothing it holds is left out.

The stages file is a list of {name, grid} items; `grid` replaces the grid's `grid:` block. A
stage may also give `eval` (replacing the grid's `eval:` block): its trials are then cells
beside the grid's own (grids/cpu-paper-v2: the users split, scored on its own test split), which
the last stage, the grid itself, does not repeat.
`--only NAME` (repeatable) runs just those stages, e.g. a stage added after a run began.
`--rerun-failed` is passed on to every stage's `harness run`: a resumed run skips failed trials
unless told to retry them.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import yaml


def stage_grids(grid_path: Path, stages_path: Path) -> list[tuple[str, dict]]:
    base = yaml.safe_load(grid_path.read_text())
    stages = yaml.safe_load(stages_path.read_text()) or []
    if not isinstance(stages, list) or not all(isinstance(s, dict) and {"name", "grid"} <= s.keys() for s in stages):
        raise SystemExit(f"error: {stages_path}: expected a list of {{name, grid}} items")
    bad = [s for s in stages if set(s) - {"name", "grid", "eval"}]
    if bad:
        raise SystemExit(f"error: {stages_path}: stage {bad[0].get('name')!r} has "
                         f"{sorted(set(bad[0]) - {'name', 'grid', 'eval'})[0]!r} (a stage has name, grid, eval)")
    out = []
    for s in stages:
        g = dict(base)
        g["grid"] = s["grid"]
        if "eval" in s:   # cells beside the grid's own (e.g. another split): the `all` stage leaves them out
            g["eval"] = s["eval"]
        out.append((str(s["name"]), g))
    out.append(("all", base))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("grid", type=Path)
    ap.add_argument("stages", type=Path)
    ap.add_argument("--db", type=Path, default=Path("results.duckdb"))
    ap.add_argument("--harness", default="harness", help="the harness command (default: harness)")
    ap.add_argument("--dry-run", action="store_true", help="print each stage's plan, run nothing")
    ap.add_argument("--only", action="append", metavar="NAME", help="run only this stage (repeatable)")
    ap.add_argument("--rerun-failed", action="store_true", help="retry the stored failed trials of each stage")
    args = ap.parse_args(argv)

    stages = stage_grids(args.grid, args.stages)
    if args.only:
        unknown = sorted(set(args.only) - {name for name, _ in stages})
        if unknown:
            raise SystemExit(f"error: no stage {unknown[0]!r} in {args.stages} "
                             f"(stages: {', '.join(name for name, _ in stages)})")

    out_dir = args.db.with_name(args.db.name + ".stages")
    out_dir.mkdir(parents=True, exist_ok=True)
    for i, (name, grid) in enumerate(stages):
        if args.only and name not in args.only:
            continue
        path = out_dir / f"{i:02d}-{name}.yaml"
        path.write_text(yaml.safe_dump(grid, sort_keys=False))
        cmd = [args.harness, "run", str(path), "--db", str(args.db)]
        cmd += ["--dry-run"] * args.dry_run + ["--rerun-failed"] * args.rerun_failed
        print(f"== stage {i} {name}: {' '.join(cmd)}", flush=True)
        rc = subprocess.call(cmd)
        if rc != 0:
            print(f"stage {name} exited {rc}; re-run this command to resume "
                  "(add --rerun-failed to retry the trials that failed)", file=sys.stderr)
            return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
