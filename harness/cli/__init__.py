"""The `harness` command: argument parsing and printing only; nothing imports this package."""
from harness.cli.main import main

__all__ = ["main"]
