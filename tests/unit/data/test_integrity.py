"""Issue #12 part 5: caches are rebuilt when damaged, built tables are sanity-checked, variants are
accepted only explicitly and the acceptance is part of the trial id."""
import shutil

import pandas as pd
import pytest
from pydantic import ValidationError

from data.samples import DataError, check_table, clear_memo, load_split, split_path, cache_key
from data.sources import RawDataError
from data.trial import data_provenance, eval_samples
from harness.core.context import TrialContext
from harness.core.spec import DataSpec, TrialSpec


def _movie_copy(raw_dir, tmp_path):
    root = tmp_path / "raw"
    shutil.copytree(raw_dir / "ml-100k", root / "ml-100k")
    for path in (root / "ml-100k").iterdir():
        path.chmod(0o644)
    return root


def _token(error) -> str:
    return str(error).split("accept its variant ")[1].split()[0]


@pytest.mark.parametrize("damage", ["truncate", "flip-a-byte", "empty"])
def test_a_damaged_cache_file_is_rebuilt(raw_dir, tmp_path, damage):
    cache = tmp_path / "cache"
    first = load_split("movie", "test", raw_dir=raw_dir, cache_dir=cache)
    path = split_path("movie", "test", cache_key("movie", raw_dir=raw_dir, cache_dir=cache), cache)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip-a-byte":
        middle = len(data) // 2
        path.write_bytes(data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:])
    else:
        path.write_bytes(b"")
    clear_memo()
    again = load_split("movie", "test", raw_dir=raw_dir, cache_dir=cache)
    pd.testing.assert_frame_equal(first, again)
    assert path.read_bytes() != b"" and len(path.read_bytes()) == len(data)


def test_a_split_with_no_positives_is_refused_and_not_cached(raw_dir, tmp_path):
    """Issue #12: u.data relabelled so that nothing is liked built a 0.0%-positive test split."""
    root = _movie_copy(raw_dir, tmp_path)
    path = root / "ml-100k" / "u.data"
    path.write_bytes(path.read_bytes().replace(b"\t5\t", b"\t1\t").replace(b"\t4\t", b"\t1\t"))
    cache = tmp_path / "cache"
    with pytest.raises(RawDataError, match="u.data is not the published file") as err:
        load_split("movie", "test", raw_dir=root, cache_dir=cache)
    with pytest.raises(DataError, match=r"the movie \w+ table has 0\.0% positives \(0 of 1,000\)") as err2:
        load_split("movie", "test", raw_dir=root, cache_dir=cache, raw_variants=[_token(err.value)])
    assert "\n" not in str(err2.value)
    assert not list(cache.glob("*.parquet"))


def test_check_table_rules():
    good = pd.DataFrame({"sample_id": ["a", "b"], "label": [1, 0], "output": ["Yes.", "No."]})
    check_table("movie", "test", good)
    for bad, what in [(good.iloc[:0], "is empty"), (good.assign(label=[1, 1], output=["Yes.", "Yes."]), "100.0%"),
                      (good.assign(label=[2, 0]), "other than 0/1"), (good.assign(output=["No.", "Yes."]), "disagree"),
                      (good.assign(sample_id=["a", "a"]), "duplicate")]:
        with pytest.raises(DataError, match=what):
            check_table("movie", "test", bad)


def test_raw_variants_in_the_spec(raw_dir, tmp_path):
    plain = TrialSpec(method="random")
    assert "raw_variants" not in plain.canonical_json()           # old trial ids do not change
    token = "ml-100k:" + "0123456789abcdef"
    pinned = TrialSpec(method="random", data=DataSpec(raw_variants=[token, token]))
    assert pinned.data.raw_variants == (token,) and pinned.trial_id != plain.trial_id
    assert TrialSpec.from_json(pinned.canonical_json()).trial_id == pinned.trial_id
    with pytest.raises(ValidationError, match="is not <dataset>:<16 hex digits>"):
        DataSpec(raw_variants=["ml-100k:xyz"])


def test_a_trial_reads_a_variant_only_when_its_spec_accepts_it(raw_dir, tmp_path, cache_dir):
    root = _movie_copy(raw_dir, tmp_path)
    path = root / "ml-100k" / "u.item"
    path.write_bytes(path.read_bytes().replace(b"Toy Story", b"Joy Story"))
    spec = TrialSpec(method="random", eval={"domains": ["movie"], "max_samples": 5})
    ctx = TrialContext(raw_dir=str(root), cache_dir=tmp_path / "c")
    with pytest.raises(RawDataError) as err:
        eval_samples(spec, ctx)
    accepted = spec.model_copy(update={"data": DataSpec(raw_variants=[_token(err.value)])})
    assert len(eval_samples(accepted, ctx)["movie"]) == 5
    provenance = data_provenance(accepted, ctx)
    assert provenance["raw_variants"] == [_token(err.value)]
    assert provenance["data_fingerprint"]["ml-100k"].startswith(_token(err.value).split(":")[1])
    official = data_provenance(spec, TrialContext(raw_dir=str(raw_dir), cache_dir=cache_dir.parent))
    assert set(official["data_fingerprint"]) == {"ml-100k"} and official["raw_variants"] == []
