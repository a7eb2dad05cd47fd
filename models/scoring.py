"""One-pass Yes/No scoring: P("Yes") from the next-token logits at the end of each prompt.

TALLRec's evaluate.py runs `generate(max_new_tokens=128, output_scores=True)` on batches of 32
left-padded prompts and keeps only the first step's scores. The first step is one forward pass
over the prompt, so this module runs exactly that pass and nothing else:

* prompts are tokenised as the model sees them (special tokens included), sorted by length and
  batched, so little padding is computed; padding is on the left with the attention mask and
  the position ids generate() derives from it (cumsum of the mask - 1), so a padded prompt gets
  the same positions as alone;
* only the last position's logits are projected onto the vocabulary (`logits_to_keep=1`);
* the longest token prefix every prompt shares (the template and the instruction: about a third
  of a movie prompt) is run once, and its key/value cache is reused by every batch: a batch is
  [shared prefix][left padding][rest of each prompt]. Causal attention makes a prefix's keys and
  values independent of what follows, so the scores are those of the full prompts (tested
  against generate() to 1e-4; see tests/unit/test_models_scoring.py).

Score modes (the answer ids come from the tokenizer, see `answer_token_ids`):
* "two-way" (default): softmax over the logits of the two answer tokens, i.e.
  P(Yes) / (P(Yes) + P(No)). An answer the model would give neither token to still gets a score.
* "tallrec": what TALLRec's evaluate.py computes: softmax over the vocabulary, then a second
  softmax over the two probabilities, i.e. sigmoid(P(Yes) - P(No)). It ranks samples differently
  (it is not a monotone function of the two-way score), so AUCs can differ from "two-way".
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from harness.errors import HarnessError

SCORE_MODES = ("two-way", "tallrec")
ANSWERS = ("Yes.", "No.")
MIN_PREFIX = 8  # shorter shared prefixes are not worth a cache


def answer_token_ids(tokenizer, prompt: str, answers: tuple[str, str] = ANSWERS) -> tuple[int, int]:
    """The first token of each answer as it follows `prompt`: tokenise the prompt and the prompt
    plus the answer, take the first token where they differ. Never hard-coded: LLaMA gives
    8241/3782 ("Yes"/"No" without the leading-space marker), SmolLM2 10539/5230."""
    base = tokenizer(prompt)["input_ids"]
    ids = []
    for answer in answers:
        full = tokenizer(prompt + answer)["input_ids"]
        i = next((j for j, (a, b) in enumerate(zip(base, full)) if a != b), min(len(base), len(full)))
        if i < len(base) or i >= len(full):
            raise HarnessError(f"the tokenizer merges the end of the prompt with the answer {answer!r}: "
                               "cannot read the answer token from the next-token logits")
        ids.append(int(full[i]))
    if ids[0] == ids[1]:
        raise HarnessError(f"answers {answers} start with the same token {ids[0]}")
    return ids[0], ids[1]


def common_prefix_len(seqs: list[list[int]]) -> int:
    if not seqs:
        return 0
    first, n = seqs[0], min(len(s) for s in seqs)
    for s in seqs[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
    return n


@dataclass
class ScoreStats:
    samples: int = 0
    batches: int = 0
    prefix_tokens: int = 0
    tokens: int = 0            # prompt tokens (without padding) the scores cover
    computed_tokens: int = 0   # token positions actually run (padding included, prefix once)
    seconds: float = 0.0
    answer_ids: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)


def _supports_prefix_cache(model) -> bool:
    config = getattr(model, "config", None)
    # Sliding-window layers drop old keys: a shared prefix cache would not be the same thing.
    return config is not None and not getattr(config, "sliding_window", None)


class YesNoScorer:
    """score(prompts) -> np.ndarray of P(Yes). Stateless between calls: the prefix cache is
    computed per call with the model as it is then (adapters included)."""

    def __init__(self, model, tokenizer, *, batch_size: int = 32, prefix_cache: bool = True,
                 mode: str = "two-way", answer_ids: tuple[int, int] | None = None):
        if mode not in SCORE_MODES:
            raise HarnessError(f"unknown score mode {mode!r}; known: {', '.join(SCORE_MODES)}")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.prefix_cache, self.mode = batch_size, prefix_cache, mode
        self.answer_ids = answer_ids
        self.last = ScoreStats()

    def score(self, prompts: list[str]) -> np.ndarray:
        import torch

        t0 = time.perf_counter()
        prompts = list(prompts)
        stats = ScoreStats(samples=len(prompts))
        if not prompts:
            self.last = stats
            return np.zeros(0)
        if self.answer_ids is None:
            self.answer_ids = answer_token_ids(self.tokenizer, prompts[0])
        stats.answer_ids = self.answer_ids
        enc = self.tokenizer(prompts)["input_ids"]
        stats.tokens = sum(len(e) for e in enc)
        plen = 0
        if self.prefix_cache and len(enc) > 1 and _supports_prefix_cache(self.model):
            plen = min(common_prefix_len(enc), min(len(e) for e in enc) - 1)
            plen = plen if plen >= MIN_PREFIX else 0
        stats.prefix_tokens = plen
        device = next(self.model.parameters()).device
        was_training = self.model.training
        self.model.eval()
        scores = np.empty(len(prompts), dtype=np.float64)
        try:
            with torch.inference_mode():
                prefix = self._prefix_kv(enc[0][:plen], device) if plen else None
                stats.computed_tokens += plen
                order = sorted(range(len(enc)), key=lambda i: len(enc[i]))
                for start in range(0, len(order), self.batch_size):
                    idx = order[start:start + self.batch_size]
                    probs, computed = self._batch([enc[i][plen:] for i in idx], plen, prefix, device)
                    scores[idx] = probs
                    stats.batches += 1
                    stats.computed_tokens += computed
        finally:
            self.model.train(was_training)
        stats.seconds = time.perf_counter() - t0
        self.last = stats
        return scores

    def _prefix_kv(self, ids: list[int], device):
        import torch

        out = self.model(input_ids=torch.tensor([ids], device=device), use_cache=True, logits_to_keep=1)
        return [(layer.keys, layer.values) for layer in out.past_key_values.layers]

    def _batch(self, suffixes: list[list[int]], plen: int, prefix, device):
        import torch
        from transformers import DynamicCache

        b, width = len(suffixes), max(len(s) for s in suffixes)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((b, width), pad, dtype=torch.long)
        mask = torch.zeros((b, width), dtype=torch.long)
        for row, s in enumerate(suffixes):  # left padding
            ids[row, width - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[row, width - len(s):] = 1
        position_ids = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 0) + plen
        kwargs = {}
        if prefix is not None:
            mask = torch.cat([torch.ones((b, plen), dtype=torch.long), mask], dim=1)
            kwargs["past_key_values"] = DynamicCache(
                ddp_cache_data=[(k.expand(b, -1, -1, -1), v.expand(b, -1, -1, -1)) for k, v in prefix])
            kwargs["use_cache"] = True
        else:
            kwargs["use_cache"] = False
        out = self.model(input_ids=ids.to(device), attention_mask=mask.to(device),
                         position_ids=position_ids.to(device), logits_to_keep=1, **kwargs)
        logits = out.logits[:, -1, :].float()
        yes, no = self.answer_ids
        if self.mode == "tallrec":
            pair = torch.softmax(logits, dim=-1)[:, [yes, no]]
        else:
            pair = logits[:, [yes, no]]
        return torch.softmax(pair, dim=-1)[:, 0].cpu().numpy().astype(np.float64), b * width


def render_prompts(frame, template: str) -> list[str]:
    """The prompts of a sample frame (columns instruction, input), in row order."""
    from models.prompts import render_prompt

    return [render_prompt(ins, inp, template) for ins, inp in zip(frame["instruction"], frame["input"])]


def score_frame(model, tokenizer, frame, template: str, **kwargs) -> tuple[np.ndarray, ScoreStats]:
    scorer = YesNoScorer(model, tokenizer, **kwargs)
    scores = scorer.score(render_prompts(frame, template))
    return scores, scorer.last
