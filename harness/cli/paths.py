"""Paths given on the command line, checked once for every command before any runs."""
from __future__ import annotations

import os

from harness.core.errors import HarnessError

NAME_MAX, PATH_MAX = 255, 4096   # Linux's limits, in bytes, on one path component and a path


def check_path(path: str, flag: str) -> None:
    """A path the OS cannot even look up (a component over 255 bytes, over 4096 in all, a NUL)
    is refused here, once for every command, instead of as an OSError deep inside one."""
    shown = path[:60].encode("utf-8", "backslashreplace").decode() + ("..." if len(path) > 60 else "")
    try:
        raw = os.fsencode(path)
    except UnicodeError:
        raise HarnessError(f"{flag} {shown}: not a valid file name") from None
    if b"\0" in raw or len(raw) > PATH_MAX:
        raise HarnessError(f"{flag} {shown}: the path is over {PATH_MAX} bytes or holds a NUL byte")
    for part in raw.split(b"/"):
        if len(part) > NAME_MAX:
            raise HarnessError(f"{flag} {shown}: a folder or file name in it is {len(part)} bytes "
                               f"long, over the {NAME_MAX} a name may have")


def check_paths(args) -> None:
    """--db, DIR (store, export) and --out / OUT, whichever the command has."""
    out_flag = "--out" if getattr(args, "command", None) == "report" else "OUT"
    for attr, flag in (("db", "--db"), ("dir", "DIR"), ("out", out_flag)):
        if isinstance(getattr(args, attr, None), str):
            check_path(getattr(args, attr), flag)
