"""Raw data: resolution order, checks, clear errors, fingerprints and `fetch` (from local files)."""
import json
import shutil
import urllib.error
import zipfile
from pathlib import Path

import pytest

from data import sources
from data.samples import load_split
from data.sources import RawDataError, fetch, raw_file, raw_fingerprint, resolve_raw_dir


def test_resolution_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HARNESS_RAW_DIR", raising=False)
    assert resolve_raw_dir() == (tmp_path / "cache" / "raw").resolve()
    monkeypatch.setenv("HARNESS_RAW_DIR", str(tmp_path / "env"))
    assert resolve_raw_dir() == (tmp_path / "env").resolve()
    assert resolve_raw_dir(tmp_path / "arg") == (tmp_path / "arg").resolve()


def test_every_shipped_file_passes_its_check(raw_dir, cache_dir):
    for dataset, name in [("ml-100k", "u.data"), ("ml-100k", "u.item"), ("bookcrossing", "BX-Books.csv"),
                          ("bookcrossing", "BX-Book-Ratings.csv"), ("bookcrossing", "BX-Users.csv")]:
        assert raw_file(dataset, name, raw_dir, cache_dir=cache_dir) == raw_dir / dataset / name
    # without the full Alpaca file, the verbatim subset is used
    alpaca = raw_file("alpaca", "alpaca_data.json", raw_dir, cache_dir=cache_dir)
    assert alpaca.name in ("alpaca_data.json", "alpaca_data_first1727.json")


def test_fingerprint_is_stable_and_remembered(raw_dir, cache_dir):
    first = raw_fingerprint("bookcrossing", raw_dir, cache_dir=cache_dir)
    assert first == raw_fingerprint("bookcrossing", raw_dir, cache_dir=cache_dir)
    assert first != raw_fingerprint("ml-100k", raw_dir, cache_dir=cache_dir)
    index = json.loads((cache_dir / sources.INDEX_NAME).read_text())
    ratings = str((raw_dir / "bookcrossing" / "BX-Book-Ratings.csv").resolve())
    assert index[ratings]["sha256"].startswith("f359084e5f35")   # MANIFEST.sha256


def test_missing_directory_says_where_and_how(tmp_path):
    with pytest.raises(RawDataError) as err:
        raw_file("ml-100k", "u.data", tmp_path / "nowhere", cache_dir=tmp_path)
    message = str(err.value)
    for part in ("ml-100k/u.data", str(tmp_path / "nowhere" / "ml-100k"), "--raw-dir", "HARNESS_RAW_DIR",
                 "harness data fetch", "https://files.grouplens.org/datasets/movielens/ml-100k.zip"):
        assert part in message
    assert "\n" not in message


def _movie_copy(raw_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "raw"
    shutil.copytree(raw_dir / "ml-100k", root / "ml-100k")
    for path in (root / "ml-100k").iterdir():
        path.chmod(0o644)
    return root


@pytest.mark.parametrize("cut", ["mid-line", "line-boundary"])
def test_truncated_u_data(raw_dir, tmp_path, cut):
    root = _movie_copy(raw_dir, tmp_path)
    path = root / "ml-100k" / "u.data"
    data = path.read_bytes()
    end = len(data) // 2
    if cut == "line-boundary":
        end = data.rindex(b"\n", 0, end) + 1
    path.write_bytes(data[:end])
    with pytest.raises(RawDataError, match=r"ml-100k/u\.data") as err:
        load_split("movie", "train", raw_dir=root, cache_dir=tmp_path / "cache")
    assert "truncated" in str(err.value)
    assert str(root / "ml-100k") in str(err.value)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_u_item_in_the_wrong_encoding(raw_dir, tmp_path, encoding):
    root = _movie_copy(raw_dir, tmp_path)
    path = root / "ml-100k" / "u.item"
    path.write_bytes(path.read_bytes().decode("latin-1").encode(encoding))
    with pytest.raises(RawDataError, match=r"ml-100k/u\.item") as err:
        load_split("movie", "test", raw_dir=root, cache_dir=tmp_path / "cache")
    assert ("latin-1" in str(err.value)) or ("UTF-16" in str(err.value))


def test_garbage_bytes_in_ratings(tmp_path):
    (tmp_path / "bookcrossing").mkdir()
    (tmp_path / "bookcrossing" / "BX-Book-Ratings.csv").write_bytes(b"\x00\xff garbage" * 100)
    with pytest.raises(RawDataError, match="BX-Book-Ratings.csv.*NUL bytes"):
        raw_file("bookcrossing", "BX-Book-Ratings.csv", tmp_path, cache_dir=tmp_path)


def test_missing_alpaca_names_both_files(tmp_path):
    (tmp_path / "alpaca").mkdir()
    with pytest.raises(RawDataError, match="alpaca_data.json is missing .nor alpaca_data_first1727.json."):
        raw_file("alpaca", "alpaca_data.json", tmp_path, cache_dir=tmp_path)


def test_a_changed_file_is_checked_again(raw_dir, tmp_path):
    root = _movie_copy(raw_dir, tmp_path)
    raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)
    path = root / "ml-100k" / "u.data"
    path.write_bytes(path.read_bytes()[:-10])          # size and mtime change: the check reruns
    with pytest.raises(RawDataError, match="u.data"):
        raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- fetch


def test_fetch_unpacks_a_zip_from_a_file_url(raw_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("ml-100k/", "")
        for name in sources.FETCHED["ml-100k"]:
            zf.write(raw_dir / "ml-100k" / name, f"ml-100k/{name}")
    dest = tmp_path / "dest"
    outcomes = fetch(dest, ("ml-100k",), urls={"ml-100k": archive.as_uri()})
    assert [(o.dataset, o.status) for o in outcomes] == [("ml-100k", "fetched")]
    for name in sources.FETCHED["ml-100k"]:
        assert (dest / "ml-100k" / name).read_bytes() == (raw_dir / "ml-100k" / name).read_bytes()
    again = fetch(dest, ("ml-100k",), urls={"ml-100k": "file:///nonexistent.zip"})
    assert again[0].status == "present"                  # nothing downloaded the second time


def test_fetch_alpaca_json(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    records = [{"instruction": f"do {i}", "input": "", "output": str(i)} for i in range(52_002)]
    source = tmp_path / "served.json"
    source.write_text(json.dumps(records, indent=4))
    fetch(tmp_path / "dest", ("alpaca",), urls={"alpaca": source.as_uri()})
    from data.alpaca import load_alpaca

    frame = load_alpaca(tmp_path / "dest", cache_dir=tmp_path)
    assert len(frame) == 52_002 and frame.attrs["source"].endswith("alpaca_data.json")


def test_fetch_failures_are_raw_data_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))

    def offline(url):
        raise urllib.error.URLError("no route to host")

    with pytest.raises(RawDataError, match="could not download https://files.grouplens.org.*no route to host"):
        fetch(tmp_path / "dest", ("ml-100k",), opener=offline)
    not_a_zip = tmp_path / "x.zip"
    not_a_zip.write_bytes(b"<html>moved</html>")
    with pytest.raises(RawDataError, match="not a zip archive"):
        fetch(tmp_path / "dest", ("bookcrossing",), urls={"bookcrossing": not_a_zip.as_uri()})
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(RawDataError, match="lacks u.data"):
        fetch(tmp_path / "dest", ("ml-100k",), urls={"ml-100k": empty.as_uri()})
