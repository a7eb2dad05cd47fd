"""Which raw files are the published ones, and what a file on disk holds.

``checksums.json`` (shipped with the package) records the checksum of every raw file the
harness accepts without being asked. Any other content is a *variant*: it is used only when a
caller accepts it by its token ``<dataset>:<first 16 hex of the dataset fingerprint>``
(``DataSpec.raw_variants`` for trials, ``--accept-variant`` for ``harness data``), so the
acceptance of a variant is part of the trial id.

Content hashes are memoised in process by the file's full ``stat``. Size and mtime alone are
not enough: anyone who can write the file can set them back (``os.utime``), but not ``st_ctime``,
which every write and every ``utime`` moves. Nothing is trusted across processes: every
process hashes each raw file it reads once (about 0.08 s for all of them, see docs/data.md).
Check results of variants are remembered on disk by content hash, which cannot go stale.
"""
from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import os
import threading
from pathlib import Path

from harness.core.spec import check_raw_variants as check_tokens

CHECKSUMS: dict = json.loads(Path(__file__).with_name("checksums.json").read_text())
_CHUNK = 1 << 20

_DIGESTS: dict[tuple, dict[str, str]] = {}
_LOCK = threading.Lock()
_ACCEPTED: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("accepted_raw_variants",
                                                                            default=())


def _stamp(path: Path) -> tuple:
    st = os.stat(path)
    return (str(path.resolve()), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digests(path: Path, blob: bool = False, _tries: int = 3) -> dict[str, str]:
    """{"sha256"} (and "git_blob_sha1" if ``blob``) of the file's content; OSError if unreadable."""
    stamp = _stamp(path)
    with _LOCK:
        if stamp in _DIGESTS and (not blob or "git_blob_sha1" in _DIGESTS[stamp]):
            return _DIGESTS[stamp]
    size = stamp[3]
    hashes = {"sha256": hashlib.sha256()}
    if blob:   # git's blob id; only where that is the recorded checksum (it doubles the cost)
        hashes["git_blob_sha1"] = hashlib.sha1(f"blob {size}\0".encode())
    read = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            for digest in hashes.values():
                digest.update(chunk)
            read += len(chunk)
    digests = {algo: digest.hexdigest() for algo, digest in hashes.items()}
    if read != size or _stamp(path) != stamp:       # written while we read it: do not remember
        if _tries <= 1:
            raise OSError(f"{path} keeps changing while it is read")
        return file_digests(path, blob, _tries - 1)
    with _LOCK:
        _DIGESTS[stamp] = digests
    return digests


def needs_blob_id(dataset: str, name: str) -> bool:
    return "git_blob_sha1" in CHECKSUMS.get(dataset, {}).get("files", {}).get(name, {})


def known(dataset: str, name: str, digests: dict[str, str]) -> bool:
    """Whether the content is the recorded published file ``dataset/name``."""
    entry = CHECKSUMS.get(dataset, {}).get("files", {}).get(name)
    if not entry:
        return False
    recorded = [algo for algo in ("sha256", "git_blob_sha1") if algo in entry]
    return bool(recorded) and all(entry[algo] == digests.get(algo) for algo in recorded)


def expected(dataset: str, name: str) -> str:
    """The recorded checksum of ``dataset/name``, for messages ('' if none is recorded)."""
    entry = CHECKSUMS.get(dataset, {}).get("files", {}).get(name, {})
    for algo in ("sha256", "git_blob_sha1"):
        if algo in entry:
            return f"{algo} {entry[algo][:16]}..."
    return ""


def fingerprint(dataset: str, files: list[tuple[str, str]]) -> str:
    """sha256 over (file name, sha256) of the files a dataset's builders read."""
    digest = hashlib.sha256(f"{dataset}\n".encode())
    for name, sha in files:
        digest.update(f"{name}\t{sha}\n".encode())
    return digest.hexdigest()


def token(dataset: str, dataset_fingerprint: str) -> str:
    return f"{dataset}:{dataset_fingerprint[:16]}"


def accepted() -> tuple[str, ...]:
    return _ACCEPTED.get()


@contextlib.contextmanager
def accepting(tokens):
    """Within the block (this thread / task only), raw files of these variants are accepted."""
    reset = _ACCEPTED.set(check_tokens(tokens or ()))
    try:
        yield
    finally:
        _ACCEPTED.reset(reset)


class CheckIndex:
    """Results of the structural checks of variant files, on disk, keyed by content hash."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.Lock()
        try:
            self.entries = json.loads(path.read_text()) if path.is_file() else {}
        except (OSError, ValueError):
            self.entries = {}
        if not isinstance(self.entries, dict):
            self.entries = {}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put(self, key: str, summary: str) -> None:
        with self.lock:
            self.entries[key] = summary
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
                tmp.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
                os.replace(tmp, self.path)
            except OSError:
                pass  # a read-only cache only costs a re-check next time
