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
  against generate() to 1e-4; see tests/unit/test_models_scoring.py);
* prompts that share a longer prefix still (a user's consecutive movie windows often open with
  the same liked titles) form a group: one of them, the leader, runs in the first pass and the
  keys and values of the group's prefix are kept from it; the others then run only what follows
  that prefix, from a cache of [shared prefix][left padding][group prefix];
* on a CPU a batch holds at most 1024 padded tokens: smaller batches run faster there; and
  float32 linear layers run through oneDNN on weights packed once per call
  (models/cpu_linear.py), the same float32 arithmetic at less time.

Score modes (the answer ids come from the tokenizer, see `answer_token_ids`):
* "two-way" (default): softmax over the logits of the two answer tokens, i.e.
  P(Yes) / (P(Yes) + P(No)). An answer the model would give neither token to still gets a score.
* "tallrec": what TALLRec's evaluate.py computes: softmax over the vocabulary, then a second
  softmax over the two probabilities, i.e. sigmoid(P(Yes) - P(No)). It ranks samples differently
  (it is not a monotone function of the two-way score), so AUCs can differ from "two-way".
"""
from __future__ import annotations

import inspect
import time
from contextlib import nullcontext
from dataclasses import dataclass, field

import numpy as np

from harness.core.errors import HarnessError
from models.cpu_linear import packed_linears

SCORE_MODES = ("two-way", "tallrec")
ANSWERS = ("Yes.", "No.")
MIN_PREFIX = 8  # shorter shared prefixes are not worth a cache
MIN_GROUP_PREFIX = 16  # tokens beyond the shared prefix a group of prompts must share
CPU_BATCH_TOKENS = 1024  # padded tokens per batch on a CPU (see YesNoScorer)
GROUP_CHUNK = 256  # prompts whose group prefixes are held at once


def answer_token_ids(tokenizer, prompt: str, answers: tuple[str, str] = ANSWERS,
                     chat_template: bool = False) -> tuple[int, int]:
    """The first token of each answer as it follows `prompt`: tokenise the prompt and the prompt
    plus the answer, take the first token where they differ. Never hard-coded: LLaMA gives
    8241/3782 ("Yes"/"No" without the leading-space marker), SmolLM2 10539/5230. A chat-template
    prompt (ending with the assistant turn's opening) holds its own special tokens."""
    special = {"add_special_tokens": False} if chat_template else {}
    base = tokenizer(prompt, **special)["input_ids"]
    ids = []
    for answer in answers:
        full = tokenizer(prompt + answer, **special)["input_ids"]
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


def prefix_groups(enc: list[list[int]], plen: int, min_shared: int) -> list[tuple[int, list[int]]]:
    """Prompts that share at least `min_shared` tokens beyond the common prefix `plen`, as
    (shared length, member indices); every other prompt is a group of its own with shared length
    `plen`. Sorting the token sequences puts prompts with long common prefixes next to each
    other. A shared length always leaves each member at least one token to run."""
    groups: list[tuple[int, list[int]]] = []
    for i in sorted(range(len(enc)), key=lambda j: enc[j]):
        if groups:
            shared, members = groups[-1]
            last = enc[members[-1]]
            c = min(shared, common_prefix_len([last, enc[i]]), len(enc[i]) - 1)
            if c - plen >= min_shared:
                members.append(i)
                groups[-1] = (c, members)
                continue
        groups.append((len(enc[i]) - 1, [i]))  # a lone prompt's shared length is provisional
    return [(shared if len(members) > 1 else plen, members) for shared, members in groups]


@dataclass
class ScoreStats:
    samples: int = 0
    batches: int = 0
    prefix_tokens: int = 0
    grouped_samples: int = 0   # samples scored after a group prefix longer than the shared one
    tokens: int = 0            # prompt tokens (without padding) the scores cover
    computed_tokens: int = 0   # token positions actually run (padding included, prefixes once)
    packed_linears: int = 0    # linear layers run on oneDNN-packed weights (CPU, float32)
    seconds: float = 0.0
    answer_ids: tuple[int, int] | None = None
    extra: dict = field(default_factory=dict)


def _supports_prefix_cache(model) -> bool:
    config = getattr(model, "config", None)
    # Sliding-window layers drop old keys: a shared prefix cache would not be the same thing.
    return config is not None and not getattr(config, "sliding_window", None)


def _cache_kwarg(model) -> str:
    """transformers 5.24 renamed the forward argument `past_key_values` to `cache`."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(type(base).forward).parameters else "past_key_values"


def _layers_kv(out) -> list:
    cache = getattr(out, "cache", None)
    cache = cache if cache is not None else out.past_key_values
    return [(layer.keys, layer.values) for layer in cache.layers]


class YesNoScorer:
    """score(prompts) -> np.ndarray of P(Yes). Stateless between calls: the prefix caches are
    computed per call with the model as it is then (adapters included).

    `max_batch_tokens` caps a batch's padded token count as well as its `batch_size` rows:
    "auto" is 1024 on a CPU, where batches that small run faster than large ones (their
    activations stay in cache and memory is not faulted in anew for every layer; measured in
    docs/performance.md), and no cap on an accelerator. `group_prefixes` also shares longer
    prefixes among groups of prompts (a user's consecutive movie windows often share their
    liked-list opening): a group's tokens beyond the common prefix are run once, by its leader.
    `packed_linears` runs the model's float32 CPU linear layers on oneDNN-packed weights (a
    model on an accelerator has none). `chat_template`: the prompts are chat-template text
    (models/prompting.py), tokenised without adding special tokens; the template's opening is
    then part of the shared prefix like the Alpaca preamble."""

    def __init__(self, model, tokenizer, *, batch_size: int = 32, prefix_cache: bool = True,
                 mode: str = "two-way", answer_ids: tuple[int, int] | None = None,
                 max_batch_tokens: int | str | None = "auto", group_prefixes: bool = True,
                 packed_linears: bool = True, chat_template: bool = False):
        if mode not in SCORE_MODES:
            raise HarnessError(f"unknown score mode {mode!r}; known: {', '.join(SCORE_MODES)}")
        self.model, self.tokenizer = model, tokenizer
        self.batch_size, self.prefix_cache, self.mode = batch_size, prefix_cache, mode
        self.answer_ids = answer_ids
        self.max_batch_tokens, self.group_prefixes = max_batch_tokens, group_prefixes
        self.packed_linears, self.chat_template = packed_linears, chat_template
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
            self.answer_ids = answer_token_ids(self.tokenizer, prompts[0], chat_template=self.chat_template)
        stats.answer_ids = self.answer_ids
        enc = self.tokenizer(prompts, **({"add_special_tokens": False} if self.chat_template else {}))["input_ids"]
        stats.tokens = sum(len(e) for e in enc)
        plen = 0
        if self.prefix_cache and len(enc) > 1 and _supports_prefix_cache(self.model):
            plen = min(common_prefix_len(enc), min(len(e) for e in enc) - 1)
            plen = plen if plen >= MIN_PREFIX else 0
        stats.prefix_tokens = plen
        if plen and self.group_prefixes:
            groups = prefix_groups(enc, plen, MIN_GROUP_PREFIX)
        else:
            groups = [(plen, [i]) for i in range(len(enc))]
        stats.grouped_samples = sum(len(m) for s, m in groups if s > plen)
        device = next(self.model.parameters()).device
        budget = self.max_batch_tokens
        if budget == "auto":
            budget = CPU_BATCH_TOKENS if device.type == "cpu" else None
        self._cache_kw = _cache_kwarg(self.model)
        was_training = self.model.training
        self.model.eval()
        scores = np.empty(len(prompts), dtype=np.float64)
        try:
            with torch.inference_mode(), (packed_linears(self.model) if self.packed_linears else nullcontext(0)) as n:
                stats.packed_linears = n
                prefix = self._prefix_kv(enc[0][:plen], device) if plen else None
                stats.computed_tokens += plen
                for chunk in _chunks(groups, GROUP_CHUNK):
                    self._score_chunk(enc, chunk, plen, prefix, budget, device, scores, stats)
        finally:
            self.model.train(was_training)
        stats.seconds = time.perf_counter() - t0
        self.last = stats
        return scores

    def _score_chunk(self, enc, groups, plen, prefix, budget, device, scores, stats):
        """First each group's leader (one prompt of it) after the shared prefix, keeping the
        group prefix's keys and values from that pass; then the group's other members, each
        continuing from its group prefix. A lone prompt is a leader without followers."""
        segments = {}  # group -> per-layer (keys, values) of its prefix beyond the shared one
        leaders = [(members[0], plen, shared) for shared, members in groups]
        for rows in _batches(enc, leaders, self.batch_size, budget):
            past = _expand(prefix, len(rows)) if prefix is not None else None
            layers = self._run(enc, rows, past, _ones(len(rows), plen), device, scores, stats)
            width = max(len(enc[i]) - plen for i, _, _ in rows)
            for row, (i, _, shared) in enumerate(rows):
                if shared > plen:  # where this row's tokens plen:shared sit in its padded cache
                    at = plen + width - (len(enc[i]) - plen)
                    segments[i] = [(k[row, :, at:at + shared - plen].clone(), v[row, :, at:at + shared - plen].clone())
                                   for k, v in layers]
        followers = [(i, shared, members[0]) for shared, members in groups for i in members[1:]]
        for rows in _batches(enc, followers, self.batch_size, budget):
            past, past_mask = _join_segments(prefix, [segments[lead] for _, _, lead in rows])
            self._run(enc, rows, past, past_mask, device, scores, stats)

    def _run(self, enc, rows, past, past_mask, device, scores, stats):
        """Score `rows` (prompt, tokens already in its past, tag) from their pasts; returns the
        per-layer keys and values of the pass (None without a past)."""
        import torch
        from transformers import DynamicCache

        ids, mask = _left_padded([enc[i][start:] for i, start, _ in rows], self._pad_id())
        starts = torch.tensor([start for _, start, _ in rows])[:, None]
        kwargs = {"use_cache": past is not None}
        if past is not None:
            kwargs[self._cache_kw] = DynamicCache(ddp_cache_data=past)
        out = self.model(input_ids=ids.to(device), attention_mask=torch.cat([past_mask, mask], 1).to(device),
                         position_ids=((mask.cumsum(-1) - 1).masked_fill(mask == 0, 0) + starts).to(device),
                         logits_to_keep=1, **kwargs)
        logits = out.logits[:, -1, :].float()
        yes, no = self.answer_ids
        pair = torch.softmax(logits, dim=-1)[:, [yes, no]] if self.mode == "tallrec" else logits[:, [yes, no]]
        scores[[i for i, _, _ in rows]] = torch.softmax(pair, dim=-1)[:, 0].cpu().numpy().astype(np.float64)
        stats.batches += 1
        stats.computed_tokens += ids.numel()
        return _layers_kv(out) if past is not None else None

    def _prefix_kv(self, ids: list[int], device):
        import torch

        out = self.model(input_ids=torch.tensor([ids], device=device), use_cache=True, logits_to_keep=1)
        return _layers_kv(out)

    def _pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0


def _ones(rows: int, width: int):
    import torch

    return torch.ones((rows, width), dtype=torch.long)


def _expand(prefix, rows: int) -> list:
    return [(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1)) for k, v in prefix]


def _join_segments(prefix, segments: list[list]):
    """Per-layer past of rows that continue from [shared prefix][own group prefix]: group
    prefixes of different lengths are padded on the left with masked zeros."""
    import torch

    b, plen = len(segments), prefix[0][0].shape[2]
    lengths = [seg[0][0].shape[1] for seg in segments]
    width = max(lengths)
    past = []
    for layer, (pk, pv) in enumerate(prefix):
        h, d = pk.shape[1], pk.shape[3]
        k, v = pk.new_zeros(b, h, plen + width, d), pv.new_zeros(b, h, plen + width, d)
        k[:, :, :plen], v[:, :, :plen] = pk, pv
        for row, seg in enumerate(segments):
            sk, sv = seg[layer]
            k[row, :, plen + width - sk.shape[1]:], v[row, :, plen + width - sv.shape[1]:] = sk, sv
        past.append((k, v))
    mask = torch.zeros((b, plen + width), dtype=torch.long)
    mask[:, :plen] = 1
    for row, n in enumerate(lengths):
        mask[row, plen + width - n:] = 1
    return past, mask


def _left_padded(seqs: list[list[int]], pad: int):
    """(ids, attention mask) of sequences padded on the left. Position ids follow generate():
    cumsum of the mask - 1, so a padded sequence gets the positions it has alone."""
    import torch

    b, width = len(seqs), max(len(s) for s in seqs)
    ids = torch.full((b, width), pad, dtype=torch.long)
    mask = torch.zeros((b, width), dtype=torch.long)
    for row, s in enumerate(seqs):
        ids[row, width - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[row, width - len(s):] = 1
    return ids, mask


def _chunks(groups, max_prompts: int):
    """Consecutive groups of at most `max_prompts` prompts (a larger group stays whole): group
    prefixes are kept only while their chunk is scored, which bounds the memory they take."""
    chunk, n = [], 0
    for group in groups:
        if chunk and n + len(group[1]) > max_prompts:
            yield chunk
            chunk, n = [], 0
        chunk.append(group)
        n += len(group[1])
    if chunk:
        yield chunk


def _batches(enc, rows, batch_size: int, max_tokens: int | None):
    """Rows (prompt, start, _) sorted by the length of what is left to run, in batches of at
    most `batch_size` rows and `max_tokens` padded tokens."""
    batch, width = [], 0
    for row in sorted(rows, key=lambda r: len(enc[r[0]]) - r[1]):
        w = max(width, len(enc[row[0]]) - row[1])
        if batch and (len(batch) >= batch_size or (max_tokens and w * (len(batch) + 1) > max_tokens)):
            yield batch
            batch, w = [], len(enc[row[0]]) - row[1]
        batch.append(row)
        width = w
    if batch:
        yield batch


def render_prompts(frame, template: str, chat_tokenizer=None) -> list[str]:
    """The prompts of a sample frame (columns instruction, input), in row order: TALLRec's
    Alpaca text, or with `chat_tokenizer` the user turn in that tokenizer's chat template."""
    from data.prompts import render_prompt
    from models.prompting import chat_prompt

    pairs = zip(frame["instruction"], frame["input"])
    if chat_tokenizer is not None:
        return [chat_prompt(chat_tokenizer, ins, inp) for ins, inp in pairs]
    return [render_prompt(ins, inp, template) for ins, inp in pairs]


def score_frame(model, tokenizer, frame, template: str, chat_template: bool = False,
                **kwargs) -> tuple[np.ndarray, ScoreStats]:
    scorer = YesNoScorer(model, tokenizer, chat_template=chat_template, **kwargs)
    scores = scorer.score(render_prompts(frame, template, tokenizer if chat_template else None))
    return scores, scorer.last
