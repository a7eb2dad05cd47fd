"""tallrec AT / RT / full on a tiny random Llama with hand-made samples (no raw files needed)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
pytest.importorskip("torch")

from harness.core.context import TrialContext  # noqa: E402
from harness.core.methods import method_info  # noqa: E402
from harness.core.spec import TrialSpec  # noqa: E402
from harness.core.metrics import compute_auc  # noqa: E402
from harness.core.trial import run_trial  # noqa: E402
from tests.helpers import llm as testing  # noqa: E402
from models.cache import MODEL_CACHE  # noqa: E402

SIZES = {"train": 48, "valid": 24, "test": 24}
TRAINING = {"epochs": 3, "batch_size": 8, "micro_batch_size": 4, "learning_rate": 1e-2,
            "warmup_steps": 0, "valid_max_samples": 16, "patience": 2, "score_batch_size": 16}
AT = {"max_records": 8, "epochs": 1, "batch_size": 4, "micro_batch_size": 4, "warmup_steps": 0}


@pytest.fixture(autouse=True)
def fake_data(monkeypatch):
    for name, module in testing.fake_data_modules(SIZES).items():
        monkeypatch.setitem(sys.modules, name, module)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


def spec_for(tiny_dir, variant, **kw):
    params = {"lora": {}}
    if variant in ("RT", "full"):
        params["training"] = dict(TRAINING)
    if variant in ("AT", "full"):
        params["at"] = dict(AT)
    params.update(kw.pop("params", {}))
    base = dict(method="tallrec", variant=variant, seed=3, model={"name": str(tiny_dir)}, params=params)
    if variant != "AT":
        base.update(train_mix="movie", k=8)
    base.update(kw)
    return TrialSpec(**base)


def scores(result) -> dict[str, np.ndarray]:
    return {d: f.sort_values("sample_id")["score"].to_numpy() for d, f in result.predictions.items()}


def test_info_declares_the_variants():
    info = method_info("tallrec")
    assert info.variants == ("AT", "RT", "full") and info.is_zero_shot("AT") and not info.is_zero_shot("RT")
    assert info.first_phase_variants == ("AT",) and info.uses_llm
    assert info.blocks_for("full") == ("lora", "training", "at")


def test_rt_trial_trains_restores_best_and_saves_a_real_adapter(tiny_dir, cache_dir, tmp_path):
    from peft import PeftModel

    from models.loading import load_base
    from models.scoring import YesNoScorer, render_prompts
    from harness.core.config import ModelConfig

    spec = spec_for(tiny_dir, "RT")
    ctx = TrialContext(cache_dir=cache_dir, work_dir=tmp_path / "work")
    result = run_trial(spec, ctx)
    assert result.status == "complete", result.error
    ex = result.extra
    # cross-domain evaluation; AUC recomputed from the stored scores
    assert {m.eval_domain for m in result.metrics} == {"movie", "book"}
    for m in result.metrics:
        frame = result.predictions[m.eval_domain]
        assert m.n == len(frame) == SIZES["test"]
        assert m.auc == pytest.approx(compute_auc(frame["label"], frame["score"]))
    assert ex["train_rows"] == 8 and ex["valid_rows"] == 16 and ex["tokens_seen"] > 0
    assert set(result.timings) >= {"load_s", "train_s", "score_s"} and ex["peak_rss_mb"] > 0
    # the adapter is real (not the 4 KB empty one) and loads with PeftModel.from_pretrained
    assert ex["lora_B_norm"] > 0 and ex["adapter_tensors"] == 8
    model, tok = load_base(ModelConfig(name=str(tiny_dir)), cache_dir, "cpu")
    eval_frame = sys.modules["data.samples"].load_split("movie", "test")
    prompts = render_prompts(eval_frame, "alpaca")
    before = YesNoScorer(model, tok).score(prompts)
    tuned = PeftModel.from_pretrained(model, ex["adapter_dir"])
    after = YesNoScorer(tuned, tok).score(prompts)
    # training changed the scores, and the stored scores are the saved (best) adapter's
    assert np.abs(after - before).max() > 1e-4
    stored = result.predictions["movie"].set_index("sample_id").loc[eval_frame["sample_id"], "score"]
    assert np.abs(stored.to_numpy() - after).max() < 1e-5
    # the best checkpoint was restored: its validation AUC is the best of the history
    valid = sys.modules["data.samples"].load_split("movie", "valid").head(16)
    vauc = compute_auc(valid["label"], YesNoScorer(tuned, tok).score(render_prompts(valid, "alpaca")))
    history = [h["auc"] for h in ex["valid_history"]]
    assert ex["best_valid_auc"] == pytest.approx(max(history)) == pytest.approx(vauc, abs=1e-6)


def test_second_trial_reuses_the_base_and_equals_a_fresh_process(tiny_dir, cache_dir):
    spec = spec_for(tiny_dir, "RT", seed=5, params={"training": {**TRAINING, "epochs": 2}})
    ctx = TrialContext(cache_dir=cache_dir)
    MODEL_CACHE.clear()
    first = run_trial(spec, ctx)
    second = run_trial(spec, ctx)
    assert first.status == second.status == "complete", (first.error, second.error)
    assert first.extra["model_cache_hit"] is False and second.extra["model_cache_hit"] is True
    assert second.timings["load_s"] == 0.0
    code = (
        "import json, sys\n"
        "from tests.helpers import llm as testing\n"
        f"testing.install_fake_data({SIZES!r})\n"
        "from harness.core.spec import TrialSpec\nfrom harness.core.context import TrialContext\n"
        "from harness.core.trial import run_trial\n"
        "spec = TrialSpec.from_json(sys.argv[1])\n"
        "r = run_trial(spec, TrialContext(cache_dir=sys.argv[2]))\n"
        "print('RESULT' + json.dumps({d: f.sort_values('sample_id')['score'].tolist() "
        "for d, f in r.predictions.items()} if r.status == 'complete' else r.error))\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[3])}
    proc = subprocess.run([sys.executable, "-c", code, spec.canonical_json(), str(cache_dir)],
                          capture_output=True, text=True, env=env, timeout=300)
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT")]
    assert line, proc.stderr[-2000:]
    fresh = json.loads(line[0][6:])
    assert isinstance(fresh, dict), fresh
    for domain, values in scores(second).items():
        assert np.abs(values - scores(first)[domain]).max() == 0.0
        assert np.abs(values - np.array(fresh[domain])).max() < 1e-6


def test_at_adapter_is_built_once_and_reused_by_full(tiny_dir, cache_dir):
    ctx = TrialContext(cache_dir=cache_dir)
    at = run_trial(spec_for(tiny_dir, "AT", eval={"domains": ("movie",)}), ctx)
    assert at.status == "complete", at.error
    info = at.extra["at_adapter"]
    assert info["built"] is True and Path(info["path"]).is_dir()
    assert info["path"].startswith(str(cache_dir / "at_adapters"))
    assert {m.eval_domain for m in at.metrics} == {"movie"}
    full = run_trial(spec_for(tiny_dir, "full"), ctx)
    assert full.status == "complete", full.error
    assert full.extra["at_adapter"] == {**info, "built": False, "build_s": 0.0}
    assert full.extra["lora_B_norm"] > 0
    # a user-given adapter path is used as is (here: the cached one)
    again = run_trial(spec_for(tiny_dir, "AT", eval={"domains": ("movie",)},
                               params={"at": {**AT, "adapter_path": info["path"]}}), ctx)
    assert again.status == "complete", again.error
    assert again.extra["at_adapter"]["key"] is None
    assert np.abs(scores(again)["movie"] - scores(at)["movie"]).max() < 1e-6


@pytest.mark.parametrize("variant, kw, message", [
    ("XT", {}, "tallrec has no variant 'XT'"),
    ("AT", {"params": {"at": {"adapter_path": "/nonexistent/adapter"}}},
     "AT adapter path does not exist: /nonexistent/adapter"),
    ("RT", {"k": 0}, "set train_mix and k >= 1"),
    ("RT", {"model": {"name": "/no/such/model"}}, "unknown model '/no/such/model'"),
    ("RT", {"model": {"name": "no-such-org/no-such-model"}}, "unknown model 'no-such-org/no-such-model'"),
])
def test_bad_inputs_fail_with_one_clear_message(tiny_dir, cache_dir, variant, kw, message):
    from harness.core.errors import HarnessError
    from models import tallrec

    spec = spec_for(tiny_dir, variant, **kw)
    with pytest.raises(HarnessError) as err:
        tallrec.run(spec, TrialContext(cache_dir=cache_dir))
    assert message in str(err.value) and "\n" not in str(err.value)
    result = run_trial(spec, TrialContext(cache_dir=cache_dir))
    assert result.status == "failed" and message in result.error


@pytest.mark.parametrize("model_kw, params, message", [
    ({}, {"training": {**TRAINING, "deepspeed": "no/such/ds.json"}}, "DeepSpeed config not found"),
    ({}, {"training": {**TRAINING, "deepspeed": "README.md"}}, "DeepSpeed config README.md does not parse"),
])
def test_bad_deepspeed_options_fail_clearly(tiny_dir, cache_dir, model_kw, params, message):
    from harness.core.errors import HarnessError
    from models import tallrec

    spec = spec_for(tiny_dir, "RT", model={"name": str(tiny_dir), **model_kw}, params=params)
    with pytest.raises(HarnessError, match=message):
        tallrec.run(spec, TrialContext(cache_dir=cache_dir))


def test_deepspeed_configs_ship_and_parse():
    root = Path(__file__).resolve().parents[3] / "ray_configs"
    for stage in (2, 3):
        config = json.loads((root / f"deepspeed_zero{stage}.json").read_text())
        assert config["zero_optimization"]["stage"] == stage
        # the Trainer fills every "auto" from TrainingArguments: batch sizes must not be fixed here
        assert config["train_micro_batch_size_per_gpu"] == "auto"
        assert config["gradient_accumulation_steps"] == "auto"


def test_at_cache_race_builds_once(tmp_path, monkeypatch):
    """Two processes asking for the same missing adapter: one builds, the other waits and reuses."""
    import multiprocessing as mp

    from harness.core.config import ATConfig, LoraConfig, ModelConfig
    from models import at_cache

    ctx = TrialContext(cache_dir=tmp_path)
    ctx_args = (ModelConfig(), LoraConfig(), ATConfig(max_records=4), 0)
    counter = tmp_path / "builds.txt"

    def fake_build(target, *args, **kwargs):
        import time as _t

        with open(counter, "a") as fh:
            fh.write("build\n")
        _t.sleep(1.0)
        tmp = target.parent / f".{target.name}.tmp-test"
        tmp.mkdir(parents=True)
        (tmp / "adapter_config.json").write_text("{}")
        (tmp / "adapter_model.safetensors").write_bytes(b"x")
        (tmp / at_cache.META).write_text("{}")
        os.rename(tmp, target)
        return {}, False   # (metadata, left the base partitioned)

    monkeypatch.setattr(at_cache, "_build", fake_build)
    fork = mp.get_context("fork")
    procs = [fork.Process(target=at_cache.find_or_build, args=(*ctx_args, ctx, None, None, "cpu"))
             for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert counter.read_text().count("build") == 1
    found = at_cache.find_or_build(*ctx_args, ctx, None, None, "cpu")
    assert found.built is False and found.path == at_cache.adapter_dir(tmp_path, found.key)


def test_at_key_covers_model_lora_at_and_seed():
    from harness.core.config import ATConfig, LoraConfig, ModelConfig
    from models.at_cache import at_key

    k = at_key(ModelConfig(), LoraConfig(), ATConfig(), 0)
    assert k == at_key(ModelConfig(), LoraConfig(), ATConfig(), 0)
    assert len({k, at_key(ModelConfig(dtype="bfloat16"), LoraConfig(), ATConfig(), 0),
                at_key(ModelConfig(), LoraConfig(r=16), ATConfig(), 0),
                at_key(ModelConfig(), LoraConfig(), ATConfig(max_steps=5), 0),
                at_key(ModelConfig(), LoraConfig(), ATConfig(), 1)}) == 5
    # where a given adapter comes from does not change what a built one would be
    assert at_key(ModelConfig(), LoraConfig(), ATConfig(adapter_path="/x"), 0) == k
    # the Alpaca file read (subset or full) is part of the key
    sub = {"alpaca_file": "alpaca_data_first1727.json", "records": 1727}
    full = {"alpaca_file": "alpaca_data.json", "records": 52002}
    assert at_key(ModelConfig(), LoraConfig(), ATConfig(), 0, sub) != at_key(ModelConfig(), LoraConfig(), ATConfig(), 0, full)


def test_predictions_frame_shape(tiny_dir, cache_dir):
    """icl's `base` variant: the untuned model, zero-shot, same scorer (fast: no training)."""
    spec = TrialSpec(method="icl", variant="base", model={"name": str(tiny_dir)})
    result = run_trial(spec, TrialContext(cache_dir=cache_dir))
    assert result.status == "complete", result.error
    frame = result.predictions["movie"]
    assert list(frame.columns) == ["sample_id", "label", "score", "user_id"]
    assert frame["score"].between(0, 1).all() and isinstance(frame, pd.DataFrame)


def test_examples_are_prompt_answer_eos_with_optional_prompt_masking(tiny_dir):
    from transformers import AutoTokenizer

    from data.prompts import render_prompt
    from models.training import PadCollator, tokenize_examples

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    frame = testing.fake_samples("movie", "train", 3)
    full = tokenize_examples(tok, frame, "alpaca", 512, train_on_inputs=True)
    masked = tokenize_examples(tok, frame, "alpaca", 512, train_on_inputs=False)
    n_prompt = len(tok(render_prompt(frame["instruction"][0], frame["input"][0]))["input_ids"])
    assert full[0]["input_ids"][-1] == tok.eos_token_id and full[0]["labels"] == full[0]["input_ids"]
    assert masked[0]["labels"][:n_prompt] == [-100] * n_prompt
    assert masked[0]["labels"][n_prompt:] == full[0]["input_ids"][n_prompt:]  # answer + EOS
    assert len(tokenize_examples(tok, frame, "alpaca", 32, True)[0]["input_ids"]) == 32  # cutoff_len
    batch = PadCollator(tok.pad_token_id)(full)
    assert batch["input_ids"].shape[1] % 8 == 0 and (batch["labels"] == -100).any()
    assert batch["attention_mask"].sum().item() == sum(len(x["input_ids"]) for x in full)


def test_gradient_checkpointing_trial_leaves_the_cached_base_clean(tiny_dir, cache_dir):
    from models.cache import MODEL_CACHE, checkpointing_on

    spec = spec_for(tiny_dir, "RT", model={"name": str(tiny_dir), "gradient_checkpointing": True},
                    params={"training": {**TRAINING, "epochs": 1, "train_on_inputs": False}},
                    eval={"domains": ("movie",)})
    ctx = TrialContext(cache_dir=cache_dir)
    MODEL_CACHE.clear()
    first = run_trial(spec, ctx)
    assert first.status == "complete", first.error
    entry = MODEL_CACHE._entry
    assert entry is not None and not checkpointing_on(entry.model)  # kept, and clean
    second = run_trial(spec, ctx)
    assert second.extra["model_cache_hit"] is True
    assert np.abs(scores(first)["movie"] - scores(second)["movie"]).max() == 0.0
