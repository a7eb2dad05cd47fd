"""Raw data: resolution order, checks, clear errors, fingerprints and `fetch` (from local files)."""
import json
import os
import shutil
import urllib.error
import zipfile
from pathlib import Path

import pytest

from data import manifest, sources
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
        # known files skip the structural checks, so run them here on the published bytes
        assert sources._CHECKS[(dataset, name)]((raw_dir / dataset / name).read_bytes())
    # without the full Alpaca file, the verbatim subset is used
    alpaca = raw_file("alpaca", "alpaca_data.json", raw_dir, cache_dir=cache_dir)
    assert alpaca.name in ("alpaca_data.json", "alpaca_data_first1727.json")
    assert sources._CHECKS[("alpaca", alpaca.name)](alpaca.read_bytes())


def test_shipped_checksums_match_the_shared_manifest(raw_dir):
    listed = dict(line.split()[::-1] for line in (raw_dir / "MANIFEST.sha256").read_text().splitlines())
    compared = 0
    for dataset in sources.DATASETS:
        for name, entry in manifest.CHECKSUMS[dataset]["files"].items():
            if "sha256" in entry:
                assert listed[f"{dataset}/{name}"] == entry["sha256"], name
                assert (raw_dir / dataset / name).stat().st_size == entry["bytes"], name
                compared += 1
    assert compared == 11 and "git_blob_sha1" in manifest.CHECKSUMS["alpaca"]["files"]["alpaca_data.json"]


def test_git_blob_id_is_gits(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"hello\n")     # `printf 'hello\n' | git hash-object --stdin`
    assert manifest.file_digests(path, blob=True)["git_blob_sha1"] == "ce013625030ba8dba906f756967f9e9ca394464a"
    assert manifest.needs_blob_id("alpaca", "alpaca_data.json") and not manifest.needs_blob_id("ml-100k", "u.data")


def test_fingerprint_is_over_the_content(raw_dir, cache_dir):
    first = raw_fingerprint("bookcrossing", raw_dir, cache_dir=cache_dir)
    assert first == raw_fingerprint("bookcrossing", raw_dir, cache_dir=cache_dir)
    assert first != raw_fingerprint("ml-100k", raw_dir, cache_dir=cache_dir)
    listed = dict(line.split()[::-1] for line in (raw_dir / "MANIFEST.sha256").read_text().splitlines())
    assert first == manifest.fingerprint("bookcrossing", [
        (n, listed[f"bookcrossing/{n}"]) for n in ("BX-Book-Ratings.csv", "BX-Books.csv")])


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
    with pytest.raises(RawDataError, match=r"ml-100k/u\.data is not the published file") as err:
        load_split("movie", "train", raw_dir=root, cache_dir=tmp_path / "cache")
    token = _token(err.value)
    assert str(root / "ml-100k") in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(RawDataError, match=r"ml-100k/u\.data is not usable") as err:   # accepted, then checked
        load_split("movie", "train", raw_dir=root, cache_dir=tmp_path / "cache", raw_variants=[token])
    assert "truncated" in _what(err.value)


def _token(error) -> str:
    return str(error).split("accept its variant ")[1].split()[0]


def _what(error) -> str:
    return str(error).split(" (looked in ")[0]       # the message without paths (tmp names vary)


def test_same_size_and_mtime_rewrite_is_caught(raw_dir, tmp_path):
    """Issue #12: every rating 5 rewritten as 1, size and mtime kept."""
    root = _movie_copy(raw_dir, tmp_path)
    path = root / "ml-100k" / "u.data"
    raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)             # hashed and memoised
    before = path.stat()
    path.write_bytes(path.read_bytes().replace(b"\t5\t", b"\t1\t"))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(RawDataError, match=r"u\.data is not the published file"):
        raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)


def test_variant_tokens_are_checked():
    with pytest.raises(ValueError, match="not <dataset>:<16 hex digits>"):
        manifest.check_tokens(["ml-100k"])
    assert manifest.check_tokens(["ml-100k:" + "b" * 16, "alpaca:" + "a" * 16, "ml-100k:" + "b" * 16]) == (
        "alpaca:" + "a" * 16, "ml-100k:" + "b" * 16)


def test_a_variant_of_one_dataset_does_not_accept_another(raw_dir, tmp_path):
    root = _movie_copy(raw_dir, tmp_path)
    (root / "ml-100k" / "u.item").write_bytes((raw_dir / "ml-100k" / "u.item").read_bytes().replace(b"Toy", b"Joy"))
    with pytest.raises(RawDataError) as err:
        raw_file("ml-100k", "u.item", root, cache_dir=tmp_path)
    token = _token(err.value)
    assert raw_file("ml-100k", "u.item", root, cache_dir=tmp_path, accept=[token]).name == "u.item"
    with manifest.accepting([token]):
        assert raw_fingerprint("ml-100k", root, cache_dir=tmp_path)
    with pytest.raises(RawDataError):                                   # outside the block: refused again
        raw_file("ml-100k", "u.item", root, cache_dir=tmp_path)
    with pytest.raises(RawDataError):
        raw_file("ml-100k", "u.item", root, cache_dir=tmp_path, accept=["ml-100k:" + "0" * 16])


def test_a_directory_where_a_file_should_be(tmp_path):
    (tmp_path / "ml-100k" / "u.data").mkdir(parents=True)
    with pytest.raises(RawDataError, match=r"ml-100k/u\.data is a directory, not a file"):
        raw_file("ml-100k", "u.data", tmp_path, cache_dir=tmp_path)


def test_an_unreadable_file_is_one_line(raw_dir, tmp_path, monkeypatch):
    root = _movie_copy(raw_dir, tmp_path)

    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(manifest, "file_digests", denied)    # root ignores chmod 000
    with pytest.raises(RawDataError, match=r"ml-100k/u\.data cannot be read \(Permission denied\)") as err:
        raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)
    assert "\n" not in str(err.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_an_unreadable_file_for_real(raw_dir, tmp_path):
    root = _movie_copy(raw_dir, tmp_path)
    (root / "ml-100k" / "u.data").chmod(0)
    with pytest.raises(RawDataError, match=r"u\.data cannot be read \(Permission denied\)"):
        raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_u_item_in_the_wrong_encoding(raw_dir, tmp_path, encoding):
    root = _movie_copy(raw_dir, tmp_path)
    path = root / "ml-100k" / "u.item"
    path.write_bytes(path.read_bytes().decode("latin-1").encode(encoding))
    with pytest.raises(RawDataError, match=r"ml-100k/u\.item is not the published") as err:
        load_split("movie", "test", raw_dir=root, cache_dir=tmp_path / "cache")
    token = _token(err.value)
    with pytest.raises(RawDataError, match=r"ml-100k/u\.item is not usable") as err:
        load_split("movie", "test", raw_dir=root, cache_dir=tmp_path / "cache", raw_variants=[token])
    assert ("latin-1" in _what(err.value)) or ("UTF-16" in _what(err.value))


def test_garbage_bytes_in_ratings(tmp_path):
    (tmp_path / "bookcrossing").mkdir()
    (tmp_path / "bookcrossing" / "BX-Book-Ratings.csv").write_bytes(b"\x00\xff garbage" * 100)
    with pytest.raises(RawDataError, match="BX-Book-Ratings.csv is not the published") as err:
        raw_file("bookcrossing", "BX-Book-Ratings.csv", tmp_path, cache_dir=tmp_path)
    with pytest.raises(RawDataError, match="BX-Book-Ratings.csv is not usable: .*NUL bytes"):
        raw_file("bookcrossing", "BX-Book-Ratings.csv", tmp_path, cache_dir=tmp_path, accept=[_token(err.value)])


def test_missing_alpaca_names_both_files(tmp_path):
    (tmp_path / "alpaca").mkdir()
    with pytest.raises(RawDataError, match="alpaca_data.json is missing .nor alpaca_data_first1727.json."):
        raw_file("alpaca", "alpaca_data.json", tmp_path, cache_dir=tmp_path)


def test_a_changed_file_is_checked_again(raw_dir, tmp_path):
    root = _movie_copy(raw_dir, tmp_path)
    raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)
    path = root / "ml-100k" / "u.data"
    path.write_bytes(path.read_bytes()[:-10])          # size and mtime change: the check reruns
    with pytest.raises(RawDataError, match="u.data is not the published") as err:
        raw_file("ml-100k", "u.data", root, cache_dir=tmp_path)
    with pytest.raises(RawDataError, match="u.data is not usable: its last line is incomplete"):
        raw_file("ml-100k", "u.data", root, cache_dir=tmp_path, accept=[_token(err.value)])


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
    with pytest.raises(RawDataError, match="alpaca_data.json is not the published file") as err:
        fetch(tmp_path / "dest", ("alpaca",), urls={"alpaca": source.as_uri()})    # not the official file
    token = _token(err.value)
    with manifest.accepting([token]):
        fetch(tmp_path / "dest", ("alpaca",), urls={"alpaca": source.as_uri()})
    from data.alpaca import load_alpaca

    frame = load_alpaca(tmp_path / "dest", cache_dir=tmp_path, accept=[token])
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
