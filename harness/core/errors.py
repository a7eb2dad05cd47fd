"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class HarnessError(Exception):
    """A problem the user can fix (bad input, missing file, unknown name). Exit code 2."""

    exit_code = 2


class BusyError(HarnessError):
    """A file another process holds (the results store while someone reads or writes it):
    waiting and trying again is the fix, so the run's store writer waits instead of giving up."""


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (DuckDB's caret-only pointer lines dropped)."""
    lines = [ln.strip() for ln in str(exc).splitlines()]
    return " ".join(ln for ln in lines if ln and set(ln) != {"^"})
