"""Placeholder until its issue lands: the subcommand exists so the CLI's shape is fixed."""
from harness.errors import HarnessError


def add_arguments(parser) -> None:
    parser.add_argument("rest", nargs="*")


def main(args) -> int:
    raise HarnessError("'harness status' is not implemented yet")
