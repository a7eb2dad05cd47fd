#!/usr/bin/env python3
"""Issue #12 parts 5 and 7: tampered raw files, damaged caches and unreadable files, tried through
`harness data` as a user would (subprocesses, copies of the shared data in a temporary directory).

    python scripts/probes/data_integrity.py      # prints its own table

Needs the raw data ($HARNESS_RAW_DIR, else ../shared/datasets). The first case builds the movie
tables (a few seconds); the others reuse that cache.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAW = Path(os.environ.get("HARNESS_RAW_DIR") or ROOT.parent / "shared" / "datasets").resolve()
if str(ROOT / "scripts") not in sys.path:     # the `probes` package, also when run as a script
    sys.path.insert(0, str(ROOT / "scripts"))
from probes import WorkDir  # noqa: E402

_work = WorkDir("probe-data-")
cleanup = _work.cleanup      # scripts/fault_probe.py calls it after this module's cases


def _harness(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HARNESS_CACHE_DIR": str(_work() / "home-cache"), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=600, env=env, cwd=ROOT)


def _raw_copy(name: str, copy: tuple[str, ...] = ()) -> Path:
    """A raw directory of links to the shared files, with real copies of the files in `copy`."""
    root = _work() / name
    if root.exists():
        return root
    for dataset in ("ml-100k", "bookcrossing"):
        (root / dataset).mkdir(parents=True, exist_ok=True)
        for source in (RAW / dataset).iterdir():
            target = root / dataset / source.name
            if f"{dataset}/{source.name}" in copy:
                shutil.copyfile(source, target)
            else:
                target.symlink_to(source)
    return root


def _export(root: Path, out: str, *extra: str) -> subprocess.CompletedProcess:
    return _harness("data", "export", "movie", "test", str(_work() / out), "--raw-dir", str(root),
                    "--cache-dir", str(_work() / "cache"), *extra)


def _refused(out: subprocess.CompletedProcess, *parts: str) -> tuple[str, bool]:
    lines = out.stderr.strip().splitlines()
    text = lines[-1] if lines else "(no message)"
    ok = out.returncode == 2 and len(lines) == 1 and all(p in text for p in parts) and "Traceback" not in out.stderr
    return f"exit {out.returncode}: {text[:150]}", ok


def _token(out: subprocess.CompletedProcess) -> str:
    return out.stderr.split("--accept-variant ")[1].split()[0].rstrip(")")


def ratings_rewritten_keeping_size_and_mtime():
    root = _raw_copy("rewrite", ("ml-100k/u.data",))
    first = _export(root, "before.json")
    if first.returncode != 0:
        return f"warm-up export failed: {first.stderr.strip()[-150:]}", False
    path = root / "ml-100k" / "u.data"
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"\t5\t", b"\t1\t"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    return _refused(_export(root, "after.json"), "u.data is not the published file", "--accept-variant ml-100k:")


def relabelled_variant_accepted_builds_no_zero_positive_split():
    root = _raw_copy("relabel", ("ml-100k/u.data",))
    path = root / "ml-100k" / "u.data"
    path.write_bytes(path.read_bytes().replace(b"\t5\t", b"\t1\t").replace(b"\t4\t", b"\t1\t"))
    token = _token(_export(root, "x.json"))
    text, ok = _refused(_export(root, "x.json", "--accept-variant", token), "0.0% positives")
    cached = list((_work() / "cache").glob("movie-*.parquet"))
    return text, ok and len(cached) == 3          # only the official tables of the first case


def non_utf8_bytes_over_a_book_title():
    root = _raw_copy("title", ("bookcrossing/BX-Books.csv",))
    path = root / "bookcrossing" / "BX-Books.csv"
    data = path.read_bytes()
    at = data.index(b"Classical Mythology")
    path.write_bytes(data[:at] + b"\xff\xfe\x80\x81" + data[at + 4:])
    out = _harness("data", "prepare", "--raw-dir", str(root), "--cache-dir", str(_work() / "cache"))
    return _refused(out, "BX-Books.csv is not the published file")


def _damaged_cache(damage) -> tuple[str, bool]:
    root = _raw_copy("official")
    reference = _export(root, "reference.json")
    tables = sorted((_work() / "cache").glob("movie-*-test.parquet"))
    if reference.returncode != 0 or len(tables) != 1:
        return f"set-up failed: {reference.stderr.strip()[-150:]}", False
    data = tables[0].read_bytes()
    tables[0].write_bytes(damage(data))
    out = _export(root, "again.json")
    same = (_work() / "again.json").read_bytes() == (_work() / "reference.json").read_bytes()
    rebuilt = tables[0].read_bytes() != damage(data)
    return (f"exit {out.returncode}, export identical: {same}, cache file rebuilt: {rebuilt}",
            out.returncode == 0 and same and rebuilt and "Traceback" not in out.stderr)


def truncated_cache_parquet():
    return _damaged_cache(lambda data: data[: len(data) // 2])


def flipped_byte_in_cache_parquet():
    return _damaged_cache(lambda data: data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF])
                          + data[len(data) // 2 + 1:])


def directory_where_a_raw_file_should_be():
    root = _work() / "dir-raw"
    (root / "ml-100k" / "u.item").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RAW / "ml-100k" / "u.data", root / "ml-100k" / "u.data")
    return _refused(_export(root, "x.json"), "u.item is a directory, not a file")


def unreadable_raw_file():
    root = _raw_copy("denied", ("ml-100k/u.data",))
    (root / "ml-100k" / "u.data").chmod(0)
    if os.geteuid() != 0:
        return _refused(_export(root, "x.json"), "u.data cannot be read (Permission denied)")
    # root reads any file whatever its mode: make the read itself fail as it would for a user
    code = ("import sys; from data import manifest; from harness.cli.main import main\n"
            "def denied(path, *a, **k): raise PermissionError(13, 'Permission denied', str(path))\n"
            "manifest.file_digests = denied\n"
            f"sys.exit(main(['data', 'prepare', '--raw-dir', {str(root)!r}, '--cache-dir', {str(_work() / 'c2')!r}]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    text, ok = _refused(out, "u.data cannot be read (Permission denied)")
    return f"(emulated, running as root) {text}", ok


def garbage_u_data_accepted_as_variant():
    root = _raw_copy("garbage", ("ml-100k/u.data",))
    path = root / "ml-100k" / "u.data"
    path.write_bytes(b"\xff\xfe\x00garbage\n" * 1000)
    token = _token(_export(root, "x.json"))
    return _refused(_export(root, "x.json", "--accept-variant", token), "u.data is not usable")


def accepted_variant_changes_the_trial_id():
    sys.path.insert(0, str(ROOT))
    from harness.core.spec import DataSpec, TrialSpec

    plain = TrialSpec(method="random")
    variant = TrialSpec(method="random", data=DataSpec(raw_variants=["ml-100k:0123456789abcdef"]))
    ok = plain.trial_id != variant.trial_id and "raw_variants" not in plain.canonical_json()
    return f"ids {plain.short_id} (published data) vs {variant.short_id} (variant)", ok


def cases():
    return [
        ("u.data 5->1, size+mtime kept, warm cache", ratings_rewritten_keeping_size_and_mtime),
        ("relabelled u.data accepted: 0% positives", relabelled_variant_accepted_builds_no_zero_positive_split),
        ("non-UTF-8 bytes over a BX-Books title", non_utf8_bytes_over_a_book_title),
        ("truncated cache parquet", truncated_cache_parquet),
        ("one byte flipped in a cache parquet", flipped_byte_in_cache_parquet),
        ("directory where u.item should be", directory_where_a_raw_file_should_be),
        ("unreadable u.data (permission denied)", unreadable_raw_file),
        ("garbage u.data accepted as a variant", garbage_u_data_accepted_as_variant),
        ("accepted variant changes the trial id", accepted_variant_changes_the_trial_id),
    ]


if __name__ == "__main__":   # this module alone: scripts/fault_probe.py --only data_integrity (one case loop)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from fault_probe import main

    sys.exit(main(["--only", Path(__file__).stem]))
