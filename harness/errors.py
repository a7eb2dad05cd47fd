"""User-facing errors: the CLI prints their message on one line and exits with code 2."""


class HarnessError(Exception):
    """A problem the user can fix (bad input, missing file, unknown name). Exit code 2."""

    exit_code = 2
