"""What a killed driver's local Ray leaves behind: its private temp dir and the Ray processes
started in it (a driver SIGKILLed during Ray start-up leaves the GCS server or the raylet alive).

Every local Ray session records its temp dir (`/tmp/rh-<driver pid>-<random>`) in
`<run root>/ray_temp_dirs.txt` before Ray starts. Once that driver is gone, `sweep_stale` kills
the processes of this user whose command line names that recorded, private dir (no other process
can: the name is random and made by `mkdtemp`) and deletes the dir. The next `harness run` of the
grid and `harness status` call it. No Ray import here.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
from pathlib import Path

from harness.core.processes import pid_alive

RECORD = "ray_temp_dirs.txt"
_OURS = re.compile(r"/tmp/rh-(\d+)-[A-Za-z0-9_]{1,16}")


def processes_using(temp_dir: Path) -> list[int]:
    """Pids of this user's processes whose command line names `temp_dir` (Linux /proc)."""
    needle = os.fsencode(str(temp_dir))
    uid, found = os.getuid(), []
    with contextlib.suppress(OSError):
        for name in os.listdir("/proc"):
            if not name.isdigit() or int(name) == os.getpid():
                continue
            try:
                if os.stat(f"/proc/{name}").st_uid != uid:
                    continue
                with open(f"/proc/{name}/cmdline", "rb") as fh:
                    cmdline = fh.read()
            except OSError:
                continue
            if any(arg == needle or arg.startswith(needle + b"/") or needle + b"/" in arg
                   for arg in cmdline.split(b"\0")):
                found.append(int(name))
    return found


def sweep_stale(run_root: Path) -> list[Path]:
    """Kill the leftover Ray processes of, then delete, the temp dirs recorded under `run_root`
    whose driver is gone. Returns the dirs cleaned; the record keeps the live ones."""
    record = Path(run_root) / RECORD
    try:
        if record.is_symlink() or not record.is_file():
            return []
        lines = record.read_text(encoding="utf-8", errors="replace").split()
    except OSError:
        return []
    keep, cleaned = [], []
    for line in lines:
        match = _OURS.fullmatch(line)
        if match is None:
            continue            # never touch a path this harness would not have made
        path, owner = Path(line), int(match.group(1))
        if pid_alive(owner):
            keep.append(line)
            continue
        for pid in processes_using(path):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(path, ignore_errors=True)
        cleaned.append(path)
    if cleaned:
        with contextlib.suppress(OSError):
            record.write_text("".join(f"{k}\n" for k in keep))
    return cleaned
