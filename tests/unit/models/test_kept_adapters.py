"""Trained adapters are kept (artifacts_dir/adapters/<trial id>), recorded, exported, and the
exported folder reproduces the stored scores through PeftModel.from_pretrained."""
import hashlib
import os
import sys

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")

from harness.cli import main as cli_main  # noqa: E402
from harness.core.context import TrialContext  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402
from harness.run.store import Store  # noqa: E402
from tests.helpers import llm as testing  # noqa: E402

SIZES = {"train": 24, "valid": 16, "test": 20}
TRAINING = {"epochs": 2, "batch_size": 4, "micro_batch_size": 4, "learning_rate": 1e-2,
            "warmup_steps": 0, "valid_max_samples": 8, "patience": 2, "score_batch_size": 8}


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    for name, module in testing.fake_data_modules(SIZES).items():
        monkeypatch.setitem(sys.modules, name, module)


def rt_spec(tiny_dir, seed=1):
    return TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=8, seed=seed,
                     model={"name": str(tiny_dir)}, params={"lora": {}, "training": TRAINING})


def test_kept_adapter_round_trip_through_store_and_export(tiny_dir, tmp_path, capsys):
    from peft import PeftModel

    from harness.core.config import ModelConfig
    from models.loading import load_base
    from models.scoring import YesNoScorer, render_prompts

    spec = rt_spec(tiny_dir)
    run_dir = tmp_path / "runs" / "r1"
    result = run_trial(spec, TrialContext(cache_dir=tmp_path / "cache", artifacts_dir=run_dir))
    assert result.status == "complete", result.error
    kept = result.extra["kept_adapter"]
    folder = run_dir.resolve() / "adapters" / spec.trial_id
    assert kept["path"] == str(folder)
    assert {p.name for p in folder.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
    weights = (folder / "adapter_model.safetensors").read_bytes()
    assert kept["sha256"] == hashlib.sha256(weights).hexdigest()
    assert kept["bytes"] == sum(p.stat().st_size for p in folder.iterdir()) and kept["bytes"] > 10_000
    assert not list(folder.parent.glob(".*partial*"))        # no half-written copy left behind

    db = tmp_path / "results.duckdb"
    store = Store(db)
    assert store.write_result(result, store.begin_run("t", {}))
    out = tmp_path / "export"
    assert cli_main(["export", spec.trial_id[:10], str(out), "--db", str(db)]) == 0
    assert "exported the adapter of tallrec/RT/movie@K8/s1" in capsys.readouterr().out
    assert {"adapter_config.json", "adapter_model.safetensors", "README.md", "trial.json"} <= \
        {p.name for p in out.iterdir()}
    readme = (out / "README.md").read_text()
    assert spec.trial_id in readme and '"variant": "RT"' in readme
    auc = {m.eval_domain: m.auc for m in result.metrics}
    assert f"| movie | test | {auc['movie']:.4f} | 20 |" in readme

    # the round trip: a fresh base + the exported folder re-scores the stored samples
    stored = store.query(f"SELECT eval_domain, sample_id, score FROM predictions "
                         f"WHERE trial_id = '{spec.trial_id}'")
    model, tok = load_base(ModelConfig(name=str(tiny_dir)), tmp_path / "cache2", "cpu")
    before_scores = {}
    for domain in ("movie", "book"):
        frame = sys.modules["data.samples"].load_split(domain, "test")
        before_scores[domain] = YesNoScorer(model, tok).score(render_prompts(frame, "alpaca"))
    tuned = PeftModel.from_pretrained(model, str(out))
    for domain in ("movie", "book"):
        frame = sys.modules["data.samples"].load_split(domain, "test")
        again = YesNoScorer(tuned, tok).score(render_prompts(frame, "alpaca"))
        want = stored[stored.eval_domain == domain].set_index("sample_id").loc[frame["sample_id"], "score"]
        assert len(want) == SIZES["test"]
        assert np.abs(again - want.to_numpy()).max() < 1e-4
        assert np.abs(again - before_scores[domain]).max() > 1e-3   # the adapter is not a no-op


def test_nothing_is_kept_without_artifacts_dir_and_export_refuses(tiny_dir, tmp_path, capsys):
    spec = rt_spec(tiny_dir, seed=2)
    result = run_trial(spec, TrialContext(cache_dir=tmp_path / "cache"))
    assert result.status == "complete", result.error
    assert "kept_adapter" not in result.extra
    db = tmp_path / "results.duckdb"
    Store(db).write_result(result)
    assert cli_main(["export", spec.trial_id, str(tmp_path / "out"), "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert "kept no adapter" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
