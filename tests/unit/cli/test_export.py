"""`harness export`: a kept adapter out of the store with a README, and one-line refusals."""
import hashlib
import json

import pytest

from harness.cli import main as cli_main
from harness.core.spec import TrialSpec
from harness.run.store import Store
from tests.store_rows import make_result


def _kept(tmp_path, spec):
    folder = tmp_path / "runs" / "r" / "adapters" / spec.trial_id
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(b"weights" * 100)
    return {"path": str(folder), "bytes": 720, "weights_file": "adapter_model.safetensors",
            "sha256": hashlib.sha256(b"weights" * 100).hexdigest()}


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "s.duckdb")
    run = store.begin_run("t")
    spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=64, seed=0,
                     model={"name": "smollm2-135m"}, params={"lora": {}, "training": {}})
    kept = make_result(spec=spec)
    kept.extra = {"kept_adapter": _kept(tmp_path, spec), "best_valid_auc": 0.7}
    store.write_result(kept, run)
    store.write_result(make_result(method="random", seed=1), run)
    store.kept_id = spec.trial_id
    return store


def run_cli(*args):
    return cli_main(["export", *map(str, args)])


def test_export_copies_the_folder_and_writes_a_readme(store, tmp_path, capsys):
    out = tmp_path / "exported"
    assert run_cli(store.kept_id[:8], out, "--db", store.path) == 0
    assert "exported the adapter of tallrec/RT/movie@K64/s0" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "adapter_config.json",
                                                     "adapter_model.safetensors", "trial.json"]
    assert (out / "adapter_model.safetensors").read_bytes() == b"weights" * 100
    readme = (out / "README.md").read_text()
    assert store.kept_id in readme and 'PeftModel.from_pretrained(base, "exported")' in readme
    assert "| book | test |" in readme and "| movie | test |" in readme and '"best_valid_auc": 0.7' in readme
    meta = json.loads((out / "trial.json").read_text())
    assert meta["trial_id"] == store.kept_id and meta["spec"]["variant"] == "RT"
    assert {m["eval_domain"] for m in meta["metrics"]} == {"movie", "book"}
    # an existing empty directory is fine
    (tmp_path / "empty").mkdir()
    assert run_cli(store.kept_id, tmp_path / "empty", "--db", store.path) == 0


@pytest.mark.parametrize("case, message", [
    ("no-adapter", "kept no adapter"),
    ("unknown", "no trial abcdef0"),
    ("not-hex", "'zz-top' is not a trial id"),
    ("short", "'abc' is not a trial id"),
    ("nonempty", "already exists and is not an empty directory"),
    ("tampered", "does not match its recorded sha256"),
    ("gone", "is gone or incomplete"),
    ("no-db", "no results store at"),
])
def test_refusals_are_one_line(store, tmp_path, capsys, case, message):
    import shutil

    ref, out, db = store.kept_id, tmp_path / "out", store.path
    folder = tmp_path / "runs" / "r" / "adapters" / store.kept_id
    if case == "no-adapter":
        ref = store.query("SELECT trial_id FROM trials WHERE method = 'random'").iloc[0, 0]
    elif case in ("unknown", "not-hex", "short"):
        ref = {"unknown": "abcdef0", "not-hex": "zz-top", "short": "abc"}[case]
    elif case == "nonempty":
        out.mkdir()
        (out / "x").write_text("x")
    elif case == "tampered":
        (folder / "adapter_model.safetensors").write_bytes(b"other")
    elif case == "gone":
        shutil.rmtree(folder)
    elif case == "no-db":
        db = tmp_path / "nope.duckdb"
    assert run_cli(ref, out, "--db", db) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert case == "nonempty" or not out.exists()


def test_ambiguous_prefix(tmp_path, capsys):
    # two specs whose ids share their first 6 characters (found deterministically among seeds)
    seen = {}
    for seed in range(20000):
        tid = TrialSpec(method="random", train_mix="movie", k=16, seed=seed).trial_id
        if tid[:6] in seen:
            pair = (seen[tid[:6]], seed)
            break
        seen[tid[:6]] = seed
    store = Store(tmp_path / "s.duckdb")
    for seed in pair:
        store.write_result(make_result(method="random", seed=seed))
    assert run_cli(tid[:6], tmp_path / "o", "--db", store.path) == 2
    err = capsys.readouterr().err
    assert f"trial id prefix {tid[:6]} is ambiguous" in err and len(err.strip().splitlines()) == 1
