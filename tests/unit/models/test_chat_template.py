"""model.chat_template: the Alpaca prompt in the tokenizer's chat template, in scoring (P(Yes)
right after the assistant turn's opening), training (the templated prompt masked) and generation;
off (the default) nothing changes, trial ids included; no template: one line before any trial."""
import shutil

import numpy as np
import pytest

from harness.core.config import ModelConfig
from harness.core.errors import HarnessError
from harness.core.spec import TrialSpec
from tests.helpers import llm as testing

pytest.importorskip("transformers")

# A tiny template of its own (not the tokenizer's shipped one), so the test knows every token.
TINY = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
OPENING = "<|im_start|>assistant\n"


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    tok.chat_template = TINY
    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval(), tok


def _direct_scores(model, tok, prompts):
    """P(Yes) of each prompt alone: one forward pass, the answer ids read after this prompt."""
    import torch

    out = []
    for p in prompts:
        ids = tok(p, add_special_tokens=False)["input_ids"]
        yes, no = (tok(p + a, add_special_tokens=False)["input_ids"][len(ids)] for a in ("Yes.", "No."))
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
        out.append(torch.softmax(logits[[yes, no]], -1)[0].item())
    return np.array(out)


def test_scores_are_read_right_after_the_generation_prompt(tiny):
    from models.scoring import YesNoScorer, render_prompts

    model, tok = tiny
    frame = testing.fake_samples("movie", "test", 12)
    prompts = render_prompts(frame, "alpaca", tok)
    row = frame.iloc[0]
    assert prompts[0] == f"<|im_start|>user\n{row['instruction']}\n\n{row['input']}<|im_end|>\n{OPENING}"
    scorer = YesNoScorer(model, tok, batch_size=4, chat_template=True)
    scores = scorer.score(prompts)
    assert np.abs(scores - _direct_scores(model, tok, prompts)).max() < 1e-4
    # the template's opening and the instruction are the shared prefix run once
    opening = len(tok("<|im_start|>user\n" + row["instruction"], add_special_tokens=False)["input_ids"])
    assert scorer.last.prefix_tokens >= opening
    plain = YesNoScorer(model, tok, batch_size=4, chat_template=True, prefix_cache=False).score(prompts)
    assert np.abs(plain - scores).max() < 1e-4
    # the answer ids are those that follow the assistant turn's opening in this tokenizer
    ids = tok(prompts[0], add_special_tokens=False)["input_ids"]
    assert scorer.last.answer_ids == tuple(tok(prompts[0] + a, add_special_tokens=False)["input_ids"][len(ids)]
                                           for a in ("Yes.", "No."))


def test_training_labels_mask_exactly_the_templated_prompt(tiny):
    from models.prompting import chat_prompt
    from models.training import tokenize_examples

    _, tok = tiny
    frame = testing.fake_samples("movie", "train", 3)
    masked = tokenize_examples(tok, frame, "alpaca", 512, False, chat_template=True)
    full = tokenize_examples(tok, frame, "alpaca", 512, True, chat_template=True)
    for i, (m, f) in enumerate(zip(masked, full)):
        prompt = tok(chat_prompt(tok, frame["instruction"][i], frame["input"][i]), add_special_tokens=False)["input_ids"]
        n = len(prompt)
        assert m["input_ids"] == f["input_ids"] and f["labels"] == f["input_ids"] and f["input_ids"][:n] == prompt
        assert m["labels"][:n] == [-100] * n and m["labels"][n:] == m["input_ids"][n:]
        # what is trained on: the answer and the template's end of turn, no extra EOS
        assert tok.decode(m["input_ids"][n:]) == f"{frame['output'][i]}<|im_end|>\n"
    assert len(tokenize_examples(tok, frame, "alpaca", 32, False, chat_template=True)[0]["input_ids"]) == 32


def test_a_template_whose_conversation_does_not_open_with_its_prompt_is_refused(tiny_dir):
    from transformers import AutoTokenizer

    from models.training import tokenize_examples

    tok = AutoTokenizer.from_pretrained(tiny_dir)
    tok.chat_template = ("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                         "{% if add_generation_prompt %}[assistant, thinking]\n{% endif %}")
    with pytest.raises(HarnessError, match="does not start with its generation prompt"):
        tokenize_examples(tok, testing.fake_samples("movie", "train", 1), "alpaca", 512, False, chat_template=True)


def test_generation_answers_the_chat_prompt(tiny, monkeypatch):
    from models import generation

    model, tok = tiny
    frame = testing.fake_samples("movie", "test", 4)
    seen = {}

    def fake_generate(model, tokenizer, prompts, **kwargs):
        seen.update(prompts=prompts, **kwargs)
        return ["Yes."] * len(prompts)

    monkeypatch.setattr(generation, "generate_answers", fake_generate)
    generation.answer_domains(model, tok, {"movie": frame}, "alpaca", 4, chat_template=True)
    assert seen["chat_template"] is True and all(p.endswith(OPENING) for p in seen["prompts"])
    # the real generate path tokenises the template's own special tokens once (no BOS added)
    monkeypatch.undo()
    from models.scoring import render_prompts

    prompts = render_prompts(frame, "alpaca", tok)
    batched = generation.generate_answers(model, tok, prompts, max_new_tokens=2, batch_size=4, chat_template=True)
    assert len(batched) == 4 and all(isinstance(a, str) for a in batched)


def test_off_by_default_and_no_trial_id_changes():
    from models.scoring import render_prompts
    from data.prompts import render_prompt

    assert ModelConfig().model_dump() == ModelConfig(chat_template=False).model_dump()
    assert "chat_template" in ModelConfig.ADDED_FIELDS and "chat_template" not in ModelConfig().model_dump()
    plain = TrialSpec(method="tallrec", variant="RT", train_mix="movie", k=16, model=ModelConfig().model_dump())
    off = plain.model_copy(update={"model": ModelConfig(chat_template=False).model_dump()})
    on = plain.model_copy(update={"model": ModelConfig(chat_template=True).model_dump()})
    assert off.trial_id == plain.trial_id and on.trial_id != plain.trial_id
    frame = testing.fake_samples("book", "test", 2)
    assert render_prompts(frame, "alpaca") == [render_prompt(a, b) for a, b in zip(frame["instruction"], frame["input"])]
    with pytest.raises(ValueError, match="chat_template"):
        ModelConfig(chat_template=True, template="alpaca-noqa")


@pytest.fixture
def bare(tiny_dir, tmp_path):
    """The tiny model with a tokenizer that has no chat template."""
    from transformers import AutoTokenizer

    bare = tmp_path / "no-template"
    bare.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_dir / name, bare / name)
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    tok.chat_template = None
    tok.save_pretrained(bare)
    assert not AutoTokenizer.from_pretrained(bare).chat_template
    return bare


def test_preflight_refuses_a_tokenizer_without_a_chat_template(tiny_dir, bare):
    from harness.run.runner import check_models
    from models.loading import check_model

    check_model({"name": str(bare)})                                  # off: not looked at
    check_model({"name": str(tiny_dir), "chat_template": True})       # the SmolLM2 tokenizer has one
    spec = TrialSpec(method="tallrec", variant="AT", model=ModelConfig(name=str(bare), chat_template=True).model_dump())
    with pytest.raises(HarnessError) as err:
        check_models([spec], "grid.yaml")
    assert str(err.value).startswith("grid.yaml: model.chat_template:") and "no chat template" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_trial_whose_tokenizer_has_no_template_fails_in_one_line(bare, tmp_path):
    from harness.core.context import TrialContext
    from harness.core.trial import run_trial

    spec = TrialSpec(method="icl", variant="base", model={"name": str(bare), "chat_template": True})
    result = run_trial(spec, TrialContext(cache_dir=tmp_path / "cache"))
    assert result.status == "failed" and "has no chat template" in result.error.splitlines()[-1]


@pytest.mark.slow   # an AT and a rec-tuning run on the tiny model: ~15 s CPU, more on a busy machine
def test_a_full_trial_passes_the_template_to_at_training_validation_and_scoring(tiny_dir, tmp_path, monkeypatch):
    import sys

    from harness.core.context import TrialContext
    from harness.core.trial import run_trial
    from models import prompting

    for name, module in testing.fake_data_modules({"train": 16, "valid": 8, "test": 8}).items():
        monkeypatch.setitem(sys.modules, name, module)
    calls = {"prompt": [], "example": []}
    chat_prompt, chat_example = prompting.chat_prompt, prompting.chat_example
    monkeypatch.setattr(prompting, "chat_prompt", lambda tok, ins, inp="": calls["prompt"].append(ins) or chat_prompt(tok, ins, inp))
    monkeypatch.setattr(prompting, "chat_example", lambda tok, *a: calls["example"].append(a[-1]) or chat_example(tok, *a))
    params = {"lora": {}, "at": {"max_records": 4, "epochs": 1, "batch_size": 4, "micro_batch_size": 4, "warmup_steps": 0},
              "training": {"epochs": 1, "batch_size": 4, "micro_batch_size": 4, "warmup_steps": 0,
                           "valid_max_samples": 4, "train_on_inputs": False}}
    spec = TrialSpec(method="tallrec", variant="full", train_mix="movie", k=4, seed=1, params=params,
                     model={"name": str(tiny_dir), "chat_template": True})
    result = run_trial(spec, TrialContext(cache_dir=tmp_path / "cache"))
    assert result.status == "complete", result.error
    outputs = calls["example"]
    assert len(outputs) == 8 and set(outputs[4:]) <= {"Yes.", "No."}   # 4 Alpaca records, then 4 rec samples
    assert len(calls["prompt"]) >= 4 + 8 + 8 and result.extra["score"]["movie"]["answer_ids"] == [10539, 5230]
