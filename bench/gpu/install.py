"""Install the carried wheels this python lacks into a target folder (no index, no dependencies
resolved: the folder holds exactly what scripts/gpu_wheels.sh chose for a machine with torch,
transformers, peft, accelerate, pandas, scikit-learn, pyyaml and rich).

    python -m bench.gpu.install gpu_wheels .gpu_site      (then PYTHONPATH=.gpu_site:...)

A wheel is skipped when its distribution is installed at the same or a newer version, or when it
is built for another CPython. Prints one line per wheel and exits 1 if pip fails.
"""
from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def wheel_info(path: Path) -> tuple[str, str, str]:
    """(distribution, version, python tag) from a wheel's file name."""
    parts = path.name[:-4].split("-")
    return _norm(parts[0]), parts[1], parts[-3]


def installed(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def newer_or_same(have: str, want: str) -> bool:
    try:
        from packaging.version import Version

        return Version(have) >= Version(want)
    except Exception:  # noqa: BLE001 - unparsable: treat as different
        return have == want


def choose(wheels: list[Path], target: Path | None = None) -> tuple[list[Path], list[str]]:
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    chosen, notes = [], []
    for w in sorted(wheels):
        dist, version, py = wheel_info(w)
        if py.startswith("cp") and py != tag:
            continue
        have = installed(dist)
        if have and newer_or_same(have, version):
            notes.append(f"skip {dist} {version}: {have} installed")
            continue
        chosen.append(w)
        notes.append(f"install {dist} {version}" + (f" (over {have})" if have else ""))
    return chosen, notes


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    wheels_dir, target = Path(argv[0] if argv else "gpu_wheels"), Path(argv[1] if len(argv) > 1 else ".gpu_site")
    wheels = list(wheels_dir.glob("*.whl"))
    if not wheels:
        print(f"gpu_check: no wheels in {wheels_dir} (run scripts/gpu_wheels.sh, carry gpu_wheels)", file=sys.stderr)
        return 1
    chosen, notes = choose(wheels, target)
    for line in notes:
        print(f"[install] {line}")
    if not chosen:
        return 0
    target.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--no-index",
           "--no-deps", "--upgrade", "--target", str(target), *map(str, chosen)]
    proc = subprocess.run(cmd, check=False)
    return 0 if proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
