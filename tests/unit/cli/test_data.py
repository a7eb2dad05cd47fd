"""`harness data ...` as a user runs it (subprocesses)."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from data.samples import load_split


def harness(*args, env=None):
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=300, env={**os.environ, **(env or {})})


def test_prepare_with_a_missing_raw_dir_is_one_message_and_exit_2(tmp_path):
    out = harness("data", "prepare", "--raw-dir", "/nonexistent", env={"HARNESS_CACHE_DIR": str(tmp_path)})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: raw file ml-100k/u.data is missing")
    assert "/nonexistent/ml-100k" in lines[0] and "harness data fetch" in lines[0]
    assert "Traceback" not in out.stderr


def test_prepare_prints_the_table(raw_dir, cache_dir):
    load_split("movie", "test", raw_dir=raw_dir, cache_dir=cache_dir)   # warm the session cache
    out = harness("data", "prepare", "--raw-dir", str(raw_dir), "--cache-dir", str(cache_dir))
    assert out.returncode == 0, out.stderr
    for text in ("domain", "positive_rate", "cache_path", "19414", "2427", "8000", "0.6580"):
        assert text in out.stdout


def test_export_is_tallrec_json(raw_dir, cache_dir, tmp_path):
    target = tmp_path / "valid.json"
    out = harness("data", "export", "book", "valid", str(target), "--raw-dir", str(raw_dir),
                  "--cache-dir", str(cache_dir), "--book-label-alignment", "tallrec")
    assert out.returncode == 0, out.stderr
    records = json.loads(target.read_text())
    frame = load_split("book", "valid", raw_dir=raw_dir, cache_dir=cache_dir, book_label_alignment="tallrec")
    assert records == frame[["instruction", "input", "output"]].to_dict("records")
    assert target.read_text().startswith('[\n    {\n        "instruction": ')


def test_export_unknown_domain_exit_2(raw_dir, tmp_path):
    out = harness("data", "export", "music", "test", str(tmp_path / "x.json"), "--raw-dir", str(raw_dir),
                  "--cache-dir", str(tmp_path))
    assert out.returncode == 2 and "unknown dataset 'music'; registered: movie, book" in out.stderr


# ------------------------------------------------------------------ issue #12: unreadable or refused raw files


def _one_line_exit_2(out, *parts):
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_prepare_with_a_directory_for_a_raw_file(tmp_path):
    (tmp_path / "raw" / "ml-100k" / "u.data").mkdir(parents=True)
    out = harness("data", "prepare", "--raw-dir", str(tmp_path / "raw"), "--cache-dir", str(tmp_path / "c"))
    _one_line_exit_2(out, "ml-100k/u.data is a directory, not a file")


def test_prepare_refuses_non_utf8_bytes_over_a_book_title(raw_dir, tmp_path):
    """Issue #12: bytes that are not UTF-8 written over a BX-Books title were accepted."""
    root = tmp_path / "raw"
    (root / "bookcrossing").mkdir(parents=True)
    (root / "ml-100k").symlink_to(raw_dir / "ml-100k")
    for name in ("BX-Book-Ratings.csv", "BX-Users.csv"):
        (root / "bookcrossing" / name).symlink_to(raw_dir / "bookcrossing" / name)
    data = (raw_dir / "bookcrossing" / "BX-Books.csv").read_bytes()
    at = data.index(b"Classical Mythology")
    (root / "bookcrossing" / "BX-Books.csv").write_bytes(data[:at] + b"\xff\xfe\x80\x81" + data[at + 4:])
    out = harness("data", "prepare", "--raw-dir", str(root), "--cache-dir", str(tmp_path / "c"))
    line = _one_line_exit_2(out, "bookcrossing/BX-Books.csv is not the published file", "--accept-variant bookcrossing:")
    token = line.split("--accept-variant ")[1].split()[0].rstrip(")")
    bad = harness("data", "prepare", "--raw-dir", str(root), "--cache-dir", str(tmp_path / "c"),
                  "--accept-variant", "bookcrossing:nothex")
    _one_line_exit_2(bad, "--accept-variant: raw variant 'bookcrossing:nothex' is not <dataset>:<16 hex digits>")
    assert token.startswith("bookcrossing:") and len(token) == len("bookcrossing:") + 16


def test_prepare_with_an_unreadable_raw_file(raw_dir, tmp_path, monkeypatch):
    from data import manifest
    from harness.cli.main import main

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(manifest, "file_digests", denied)   # as root, chmod 000 cannot deny a read
    assert main(["data", "prepare", "--raw-dir", str(raw_dir), "--cache-dir", str(tmp_path)]) == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_prepare_with_an_unreadable_raw_file_for_real(raw_dir, tmp_path):
    root = tmp_path / "raw"
    shutil.copytree(raw_dir / "ml-100k", root / "ml-100k")
    (root / "ml-100k" / "u.data").chmod(0)
    out = harness("data", "prepare", "--raw-dir", str(root), "--cache-dir", str(tmp_path / "c"))
    _one_line_exit_2(out, "ml-100k/u.data cannot be read (Permission denied)")
