"""The `harness` command. Each subcommand lives in its own light module (no torch at import)."""
from __future__ import annotations

import argparse
import importlib
import sys

from rich.console import Console

from harness.cli.paths import check_paths
from harness.core.errors import HarnessError

# subcommand -> (module, one-line help). Each module has add_arguments(parser) and main(args).
COMMANDS = {
    "run": ("harness.cli.run", "run a grid.yaml on Ray Tune and store every result"),
    "status": ("harness.cli.status", "show a store's progress: done / failed per method"),
    "data": ("harness.cli.data", "fetch, prepare and export the TALLRec datasets"),
    "query": ("harness.cli.query", "run read-only SQL on the results store"),
    "report": ("harness.cli.report", "render SQL-driven reports (tables and figures)"),
    "export": ("harness.cli.export", "copy a trial's kept LoRA adapter out, with its spec and metrics"),
    "store": ("harness.cli.store", "check a results store, or restore it from its run-start backup"),
    "estimate": ("harness.cli.estimate", "predict a grid's wall time and device-hours from stored trial costs"),
    "list": ("harness.cli.list", "list the registered datasets and methods"),
    "search": ("harness.cli.search", "choose training settings on validation rows (a grid's search: block)"),
}

err_console = Console(stderr=True)


def version() -> str:
    """The installed distribution's version, and the checkout's commit when run from one."""
    from importlib import metadata

    from harness.core.provenance import git_state

    try:
        text = f"tallrec-harness {metadata.version('tallrec-harness')}"
    except metadata.PackageNotFoundError:
        text = "tallrec-harness (not installed)"
    sha, dirty = git_state()
    return text + (f" (git {sha[:12]}{', modified' if dirty else ''})" if sha else "")


class _Version(argparse.Action):
    """--version: computed only when asked (it runs git)."""

    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(version())
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description="TALLRec benchmark harness")
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).add_arguments(command)
        command.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_paths(args)
        return int(importlib.import_module(args._module).main(args) or 0)
    except HarnessError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        err_console.print("[bold red]interrupted[/]")
        return 130


if __name__ == "__main__":
    sys.exit(main())
