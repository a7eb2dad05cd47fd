"""`harness data ...` as a user runs it (subprocesses)."""
import json
import os
import subprocess
import sys

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
    assert out.returncode == 2 and "valid domains: movie, book" in out.stderr
