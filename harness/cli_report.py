"""`harness report`: render a report spec (tables and figures from SQL) into HTML, Markdown,
PNG and CSV. Heavy imports (pandas, matplotlib) happen only when it runs."""
from __future__ import annotations

from harness.store import DEFAULT_DB

DEFAULT_OUT = "reports"


def add_arguments(parser) -> None:
    parser.add_argument("--db", default=DEFAULT_DB, help=f"results file (default: {DEFAULT_DB})")
    parser.add_argument("--spec", default="paper",
                        help="a registered report spec (default: paper) or the path of a spec YAML")
    parser.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                        help=f"output folder (default: {DEFAULT_OUT}/)")
    parser.add_argument("--ci", action="store_true",
                        help="add bootstrap 95%% intervals over test samples to the tables")
    parser.add_argument("--ci-resamples", type=int, default=1000, metavar="N",
                        help="bootstrap resamples for --ci (default: 1000)")
    parser.add_argument("--no-overlay", action="store_true",
                        help="leave out the paper's published numbers")
    parser.add_argument("--list", action="store_true", help="list the registered report specs and exit")


def main(args) -> int:
    from harness.errors import HarnessError
    from harness.report import load_spec, render_report, spec_names

    if args.list:
        for name in spec_names():
            print(name)
        return 0
    if args.ci_resamples < 100:
        raise HarnessError("--ci-resamples must be at least 100")
    spec = load_spec(args.spec)
    out = render_report(args.db, spec, args.out, ci=args.ci, ci_resamples=args.ci_resamples,
                        overlay=not args.no_overlay)
    print(f"wrote {out.html} and {out.markdown} ({len(out.figures)} figures, {len(out.csvs)} CSV files "
          f"in {out.html.parent})")
    return 0
