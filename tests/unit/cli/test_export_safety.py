"""Issue 24: `harness export` trusts neither the store's adapter record nor DIR: every copied file
is hashed against the record, paths from the store stay in the trial's adapter folder, odd DIRs
are one line, and a user's `.<DIR>.partial` folder is never touched."""
import hashlib
import json

import pytest

from harness.cli import main as cli_main
from harness.core.spec import TrialSpec
from harness.run.store import Store
from models.adapters import keep_adapter
from tests.store_rows import make_result

CONFIG = json.dumps({"peft_type": "LORA", "r": 8}).encode()
WEIGHTS = b"weights" * 100


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _store(tmp_path, **record):
    """A store with one RT trial whose adapter folder holds CONFIG and WEIGHTS; `record`
    overrides fields of its kept_adapter (default: the full record keep_adapter writes)."""
    spec = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=64, seed=0,
                     model={"name": "smollm2-135m"}, params={"lora": {}, "training": {}})
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "adapter_config.json").write_bytes(CONFIG)
    (saved / "adapter_model.safetensors").write_bytes(WEIGHTS)
    kept = keep_adapter(saved, tmp_path / "runs" / "r", spec.trial_id)
    kept.update(record)
    kept = {k: v for k, v in kept.items() if v is not None}
    result = make_result(spec=spec)
    result.extra = {"kept_adapter": kept}
    store = Store(tmp_path / "s.duckdb")
    store.write_result(result, store.begin_run("t"))
    return store, spec.trial_id, tmp_path / "runs" / "r" / "adapters" / spec.trial_id


def _refused(capsys, *argv, part):
    assert cli_main(["export", *map(str, argv)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and part in err, err


def test_keep_adapter_records_every_file(tmp_path):
    _, _, folder = _store(tmp_path)
    kept = Store(tmp_path / "s.duckdb").query("SELECT extra FROM trials").iloc[0, 0]
    kept = json.loads(kept)["kept_adapter"]
    assert kept["files"] == {"adapter_config.json": _sha(CONFIG), "adapter_model.safetensors": _sha(WEIGHTS)}
    assert kept["sha256"] == _sha(WEIGHTS) and kept["path"] == str(folder.resolve())


def test_an_edited_adapter_config_is_refused(tmp_path, capsys):
    store, tid, folder = _store(tmp_path)
    (folder / "adapter_config.json").write_bytes(CONFIG.replace(b"8", b"9"))
    _refused(capsys, tid, tmp_path / "out", "--db", store.path,
             part=f"does not match its recorded sha256: {folder / 'adapter_config.json'}")
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.partial*"))


def test_an_older_record_exports_with_a_note(tmp_path, capsys):
    store, tid, folder = _store(tmp_path, files=None)
    assert cli_main(["export", tid, str(tmp_path / "out"), "--db", str(store.path)]) == 0
    out = capsys.readouterr().out
    assert "note: this trial's record has only the weights file's sha256" in out
    assert "adapter_config.json copied unchecked" in out
    assert (tmp_path / "out" / "adapter_config.json").read_bytes() == CONFIG


@pytest.mark.parametrize("record, part", [
    ({"weights_file": "../../x", "files": None}, "not a plain file name"),
    ({"files": {"adapter_config.json": _sha(CONFIG), "../../x": _sha(WEIGHTS),
                "adapter_model.safetensors": _sha(WEIGHTS)}}, "not a plain file name"),
    ({"sha256": "not-hex"}, "kept_adapter record is not valid"),
])
def test_paths_from_the_store_stay_in_the_adapter_folder(tmp_path, capsys, record, part):
    store, tid, folder = _store(tmp_path, **record)
    # the file `../../x` points at exists and matches the recorded hash: it must still not pass
    (folder.parent.parent / "x").write_bytes(WEIGHTS)
    _refused(capsys, tid, tmp_path / "out", "--db", store.path, part=part)


def test_an_adapter_path_outside_adapters_of_its_trial_is_refused(tmp_path, capsys):
    import shutil

    other = tmp_path / "elsewhere"          # a complete adapter folder, hashes matching
    store, tid, folder = _store(tmp_path, path=str(other))
    shutil.copytree(folder, other)
    _refused(capsys, tid, tmp_path / "out", "--db", store.path, part="refusing to read it")


@pytest.mark.parametrize("case", ["symlink-to-empty", "dangling-symlink", "proc"])
def test_odd_export_folders_are_one_line(tmp_path, capsys, case):
    store, tid, _ = _store(tmp_path)
    out = tmp_path / "out"
    if case == "symlink-to-empty":
        (tmp_path / "empty").mkdir()
        out.symlink_to(tmp_path / "empty")
        part = "is a symbolic link"
    elif case == "dangling-symlink":
        out.symlink_to(tmp_path / "nowhere")
        part = "is a symbolic link"
    else:
        out, part = "/proc/x", "cannot export to /proc/x"
    _refused(capsys, tid, out, "--db", store.path, part=part)
    if case == "symlink-to-empty":
        assert list((tmp_path / "empty").iterdir()) == []


def test_a_users_partial_folder_is_never_deleted(tmp_path, capsys):
    store, tid, _ = _store(tmp_path)
    mine = tmp_path / ".out.partial"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert cli_main(["export", tid, str(tmp_path / "out"), "--db", str(store.path)]) == 0
    assert (mine / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "trial.json"]
    assert [p.name for p in tmp_path.glob(".out.partial*")] == [".out.partial"]
