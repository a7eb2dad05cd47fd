"""One-pass Yes/No scoring against TALLRec's generate()-based evaluation, on a tiny random Llama."""
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")

from harness.core.config import ModelConfig  # noqa: E402
from harness.core.errors import HarnessError  # noqa: E402
from models.loading import load_base  # noqa: E402
from models.scoring import YesNoScorer, answer_token_ids, common_prefix_len, render_prompts  # noqa: E402
from tests.helpers.llm import fake_samples, tiny_llama_dir  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.getbasetemp() / "models"
    model, tok = load_base(ModelConfig(name=str(tiny_llama_dir(root))), root, "cpu")
    return model, tok


def _prompts(n=40, domain="movie"):
    frame = fake_samples(domain, "test", n)
    # one prompt with an empty input (the other Alpaca template) and different lengths
    frame.loc[3, "input"] = ""
    return frame, render_prompts(frame, "alpaca")


def tallrec_generate_scores(model, tok, prompts, yes, no, mode, batch_size=32, max_new_tokens=128):
    """TALLRec's evaluate.py: batches of 32, left padding, generate(..., output_scores=True),
    the first step's scores. mode two-way: softmax over the two logits; tallrec: softmax over
    the vocabulary, then over the two probabilities."""
    from transformers import AutoTokenizer

    gtok = AutoTokenizer.from_pretrained(tok.name_or_path)
    gtok.padding_side = "left"
    gtok.pad_token_id = tok.pad_token_id
    out = []
    for i in range(0, len(prompts), batch_size):
        enc = gtok(prompts[i:i + batch_size], return_tensors="pt", padding=True)
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                                 output_scores=True, return_dict_in_generate=True,
                                 pad_token_id=gtok.pad_token_id)
        first = gen.scores[0].float()
        pair = torch.softmax(first, -1)[:, [yes, no]] if mode == "tallrec" else first[:, [yes, no]]
        out.append(torch.softmax(pair, -1)[:, 0].numpy())
    return np.concatenate(out)


@pytest.mark.parametrize("mode", ["two-way", "tallrec"])
def test_scores_equal_generate_first_step(tiny, mode):
    model, tok = tiny
    _, prompts = _prompts(40)
    yes, no = answer_token_ids(tok, prompts[0])
    ref = tallrec_generate_scores(model, tok, prompts, yes, no, mode, max_new_tokens=3)
    for prefix_cache in (True, False):
        scorer = YesNoScorer(model, tok, batch_size=8, prefix_cache=prefix_cache, mode=mode)
        got = scorer.score(prompts)
        assert np.abs(got - ref).max() < 1e-4, (prefix_cache, np.abs(got - ref).max())
        assert (scorer.last.prefix_tokens > 0) == prefix_cache
    if mode == "two-way":
        assert ref.std() > 1e-3  # the comparison is not between constants
    else:
        # sigmoid(P(Yes) - P(No)) of an untuned model sits within ~1e-5 of 0.5, yet it ranks:
        # the ranking is generate()'s too
        from scipy.stats import spearmanr

        assert spearmanr(got, ref).statistic > 0.99


def test_prefix_cache_reuse_and_length_sorting_keep_sample_order(tiny):
    model, tok = tiny
    _, prompts = _prompts(24)
    alone = np.array([YesNoScorer(model, tok, prefix_cache=False).score([p])[0] for p in prompts[:6]])
    batched = YesNoScorer(model, tok, batch_size=4).score(prompts)[:6]
    assert np.abs(alone - batched).max() < 1e-5
    # reversed input order gives the same per-prompt scores
    rev = YesNoScorer(model, tok, batch_size=5).score(prompts[::-1])[::-1]
    assert np.abs(rev - YesNoScorer(model, tok, batch_size=5).score(prompts)).max() < 1e-5


def test_identical_prompts_still_leave_a_token_to_score(tiny):
    model, tok = tiny
    _, prompts = _prompts(2)
    scorer = YesNoScorer(model, tok)
    scores = scorer.score([prompts[0]] * 3)
    assert np.allclose(scores, scores[0]) and scorer.last.prefix_tokens == len(tok(prompts[0])["input_ids"]) - 1


def test_answer_ids_come_from_the_tokenizer_in_context(tiny):
    _, tok = tiny
    _, prompts = _prompts(2)
    # SmolLM2: "Yes" right after "### Response:\n" is 10539, "No" 5230 (" Yes" would be 9230)
    assert answer_token_ids(tok, prompts[0]) == (10539, 5230)


def test_llama_answer_ids_are_tallrecs(tmp_path):
    pytest.importorskip("sentencepiece")
    path = "/work/shared/datasets/tokenizers/llama"
    raw = os.environ.get("HARNESS_RAW_DIR")
    if raw:
        path = os.path.join(raw, "tokenizers", "llama")
    if not os.path.isfile(os.path.join(path, "tokenizer.model")):
        pytest.skip("LLaMA tokenizer.model not present")
    from transformers import LlamaTokenizer

    from data.prompts import render_prompt

    tok = LlamaTokenizer.from_pretrained(path)
    # the ids TALLRec's evaluate.py hard-codes for the token after "### Response:\n"
    assert answer_token_ids(tok, render_prompt("Say yes or no.", "Input", "alpaca-noqa")) == (8241, 3782)


def test_a_tokenizer_that_merges_prompt_and_answer_is_an_error():
    class Merging:
        def __call__(self, text):
            # "\n" followed by "Yes" becomes one token: the prompt's last token changes
            return {"input_ids": [ord(c) for c in text.replace("\nYes", "\x01").replace("\nNo", "\x02")]}

    with pytest.raises(HarnessError, match="merges the end of the prompt"):
        answer_token_ids(Merging(), "### Response:\n")


def test_common_prefix_len():
    assert common_prefix_len([[1, 2, 3], [1, 2, 4], [1, 2]]) == 2
    assert common_prefix_len([[5], [6]]) == 0
    assert common_prefix_len([]) == 0


def test_unknown_score_mode(tiny):
    model, tok = tiny
    with pytest.raises(HarnessError, match="unknown score mode"):
        YesNoScorer(model, tok, mode="three-way")


def _grouped_prompts():
    """Prompts that share long openings beyond the template, as a user's consecutive movie
    windows do: the same liked list followed by different dislikes, extra likes and targets."""
    from tests.helpers.llm import MOVIE_INSTRUCTION, TITLES
    from data.prompts import render_prompt

    prompts = []
    for g in range(3):
        liked = ", ".join(f'"{t}"' for t in TITLES[g:g + 6])
        for j in range(4 + g):
            extra = "".join(f', "{t}"' for t in TITLES[10:10 + j % 3])
            prompts.append(render_prompt(MOVIE_INSTRUCTION, f'User Preference: {liked}{extra}\nUser Unpreference: '
                                         f'"{TITLES[(j + 7) % 20]}"\nWhether the user will like the target '
                                         f'movie "{TITLES[(3 * j + g) % 20]}"?'))
    return prompts + render_prompts(fake_samples("movie", "test", 10), "alpaca")


@pytest.mark.parametrize("chunk", [256, 5])
def test_grouped_prefixes_score_like_generate_and_like_each_prompt_alone(tiny, monkeypatch, chunk):
    import models.scoring as scoring

    monkeypatch.setattr(scoring, "GROUP_CHUNK", chunk)
    model, tok = tiny
    prompts = _grouped_prompts()
    yes, no = answer_token_ids(tok, prompts[0])
    ref = tallrec_generate_scores(model, tok, prompts, yes, no, "two-way", max_new_tokens=2)
    scorer = YesNoScorer(model, tok, batch_size=4, max_batch_tokens=300)
    got = scorer.score(prompts)
    assert scorer.last.grouped_samples >= 15   # the three groups at least
    plain = YesNoScorer(model, tok, batch_size=4, group_prefixes=False)
    flat = plain.score(prompts)
    assert scorer.last.computed_tokens < plain.last.computed_tokens - 200
    alone = np.array([YesNoScorer(model, tok, prefix_cache=False).score([p])[0] for p in prompts])
    assert np.abs(got - ref).max() < 1e-4 and np.abs(got - flat).max() < 1e-5
    assert np.abs(got - alone).max() < 1e-5


def test_prefix_groups_keep_a_token_to_run_and_need_min_shared():
    from models.scoring import prefix_groups

    enc = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 7], [1, 2, 9, 9, 9], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4]]
    # sorted: 4 ([1,2,3,4]) shares 4 tokens with 0, 1, 3 but must keep its last token to run
    assert prefix_groups(enc, plen=2, min_shared=1) == [(3, [4, 0, 3, 1]), (2, [2])]
    assert prefix_groups(enc, plen=2, min_shared=2) == [(2, [4]), (5, [0, 3, 1]), (2, [2])]
    assert prefix_groups(enc, plen=2, min_shared=4) == [(2, [i]) for i in (4, 0, 3, 1, 2)]


def test_batches_respect_rows_and_padded_token_caps():
    from models.scoring import _batches

    enc = [[0] * n for n in (10, 50, 12, 40, 11, 45)]
    rows = [(i, 0, None) for i in range(len(enc))]
    batches = list(_batches(enc, rows, batch_size=2, max_tokens=None))
    assert [[r[0] for r in b] for b in batches] == [[0, 4], [2, 3], [5, 1]]  # sorted by length
    capped = list(_batches(enc, rows, batch_size=8, max_tokens=100))
    assert all(len(b) * max(len(enc[r[0]]) for r in b) <= 100 for b in capped)
    assert sorted(r[0] for b in capped for r in b) == list(range(6))
