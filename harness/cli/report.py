"""`harness report`: render a report spec (tables and figures from SQL) into HTML, Markdown,
PNG and CSV. Heavy imports (pandas, matplotlib) happen only when it runs."""
from __future__ import annotations

import os
from pathlib import Path

from harness.run.store import DEFAULT_DB

DEFAULT_OUT = "reports"


def add_arguments(parser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")
    parser.add_argument("--spec", default="paper",
                        help="a registered report spec (default: paper) or the path of a spec YAML")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_OUT}/)")
    parser.add_argument("--metric", default="auc", metavar="NAME",
                        help="the metric of Table 3 and Figures 3(b) and 4: auc (default), uauc "
                             "(user-averaged AUC), logloss, or any other registered metric")
    parser.add_argument("--methods", metavar="auto|none|A,B",
                        help="methods beside the paper's in Table 3 and Figure 3(b): auto (default: "
                             "every method in the scope the paper report does not place, e.g. one "
                             "a grid's imports: registered), none, or names")
    parser.add_argument("--ci", action="store_true",
                        help="add bootstrap 95%% intervals (and paired lifts) to the tables")
    parser.add_argument("--ci-unit", choices=("auto", "users", "samples"), default="auto",
                        help="what --ci resamples: users with all their samples (a cluster "
                             "bootstrap), samples, or auto (default: users where a test split "
                             "repeats users and user ids are stored, samples elsewhere)")
    parser.add_argument("--ci-resamples", type=int, default=1000, metavar="N",
                        help="bootstrap resamples for --ci (default: 1000)")
    parser.add_argument("--png-only", action="store_true",
                        help="write figures as PNG only (default: also SVG and PDF, for a paper)")
    parser.add_argument("--no-overlay", action="store_true",
                        help="leave out the paper's published numbers")
    parser.add_argument("--list", action="store_true", help="list the registered report specs and exit")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--grid", metavar="NAME",
                       help="report the trials of every run of this grid name (default: the grid "
                            "of the most recent run)")
    scope.add_argument("--run", metavar="ID", help="report the trials of one run (the runs table)")
    scope.add_argument("--all", action="store_true", help="report every trial in the store")
    parser.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                        help="stop the report after this many seconds (default: no limit; Ctrl-C "
                             "also stops it)")
    parser.add_argument("--where", metavar="SQL",
                        help="keep only trials for which this SQL condition over the trials "
                             "table holds, e.g. \"model = 'smollm2-135m'\"")


def _check_out(out: str) -> None:
    """Fail before any SQL runs if --out cannot be a folder (a file, /proc, no permission)."""
    from harness.core.errors import HarnessError

    path = Path(out)
    if path.exists() and not path.is_dir():
        raise HarnessError(f"--out {out} is a file, not a folder")
    if not path.exists():
        parent = next((p for p in path.absolute().parents if p.exists()), Path("/"))
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise HarnessError(f"--out {out}: cannot create a folder under {parent}")


def main(args) -> int:
    from harness.core.errors import HarnessError
    from harness.report import load_spec, render_report, spec_names

    if args.list:
        for name in spec_names():
            print(name)
        return 0
    if args.ci_resamples < 100:
        raise HarnessError("--ci-resamples must be at least 100")
    if args.timeout is not None and not args.timeout > 0:
        raise HarnessError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    from harness.report.added import parse_methods
    from harness.report.scope import ReportScope
    from harness.report.sql import interruptible

    from harness.core.metrics import get_metric

    get_metric(args.metric)        # an unknown metric: one line listing the registered ones
    spec = load_spec(args.spec)
    scope = ReportScope(grid=args.grid, run=args.run, all=args.all, where=args.where)
    _check_out(args.out)
    try:
        out = interruptible(lambda: render_report(
            args.db, spec, args.out, ci=args.ci, ci_resamples=args.ci_resamples,
            overlay=not args.no_overlay, scope=scope, metric=args.metric,
            ci_unit=args.ci_unit, methods=parse_methods(args.methods),
            vector=not args.png_only), args.timeout)
    except OSError as exc:   # the disk filled, a file in --out is read-only, ...
        raise HarnessError(f"cannot write the report: {exc.filename or args.out}: "
                           f"{exc.strerror or exc}") from None
    print(f"wrote {out.html} and {out.markdown} ({len(out.figures)} figures, {len(out.csvs)} CSV files "
          f"in {out.html.parent})")
    return 0
