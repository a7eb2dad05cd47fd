"""The paper's text-answer protocol for zero-shot LLM baselines (Figure 1 and Figure 3(a)).

The paper let its ICL baselines (Alpaca-LoRA, Text-Davinci-002/003, ChatGPT) *answer in text*
and reports that they "either refuse to answer or always give positive predictions"; the AUC was
computed "if we ignore the refused answers" (Figure 1's caption). So here each prompt gets a
greedy, bounded answer (`model.generate`, left-padded batches), the answer is mapped to
yes / no / refused (`map_answer`), refused samples are left out of the predictions, and the
answered ones are scored 1 (yes) or 0 (no): the AUC of a binary prediction, as the paper's.
The counts (and so the refusal and yes rates) go to the trial's extra, per domain.

This is not TALLRec's own evaluation, which reads P("Yes") from the next-token logits
(models/scoring.py, the `probability` protocol).
"""
from __future__ import annotations

import re
import time
from collections import Counter

from harness.core.errors import HarnessError

ANSWER_CLASSES = ("yes", "no", "refused")
DEFAULT_MAX_NEW_TOKENS = 8     # "Yes." / "No." take 2-3 tokens; anything longer is not an answer
MAX_NEW_TOKENS_LIMIT = 64
CPU_BATCH_TOKENS = 2048        # padded prompt tokens per generate() batch on a CPU
_FIRST_WORD = re.compile(r"[^\W_]+")


def map_answer(text: str) -> str:
    """'yes' / 'no' when the answer's first word is yes / no (any case, any punctuation or
    markup around it: "Yes.", " **no**", "YES, the user..."); anything else is 'refused'
    (an empty answer, "The user will...", "I cannot tell", "Not sure")."""
    match = _FIRST_WORD.search(text or "")
    word = match.group(0).lower() if match else ""
    return word if word in ("yes", "no") else "refused"


def generate_answers(model, tokenizer, prompts: list[str], *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                     batch_size: int = 16, max_batch_tokens: int | None | str = "auto",
                     chat_template: bool = False) -> list[str]:
    """Greedy answers (at most `max_new_tokens` tokens, stopping at EOS) to every prompt, in
    prompt order. Prompts are tokenised exactly as the scorer does (chat-template text without
    added special tokens), sorted by length and left-padded into batches (generate() derives
    position ids from the attention mask)."""
    import torch
    from transformers import GenerationConfig

    from models.scoring import _batches, _left_padded

    if not prompts:
        return []
    enc = tokenizer(list(prompts), **({"add_special_tokens": False} if chat_template else {}))["input_ids"]
    device = next(model.parameters()).device
    budget = (CPU_BATCH_TOKENS if device.type == "cpu" else None) if max_batch_tokens == "auto" else max_batch_tokens
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None) or tokenizer.eos_token_id
    # A fresh config: greedy whatever sampling defaults the model ships (SmolLM2 sets temperature).
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1,
                              pad_token_id=pad, eos_token_id=eos)
    answers: list[str] = [""] * len(enc)
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for rows in _batches(enc, [(i, 0, None) for i in range(len(enc))], batch_size, budget):
                ids, mask = _left_padded([enc[i] for i, _, _ in rows], pad)
                out = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                     generation_config=config)
                for row, (i, _, _) in enumerate(rows):
                    answers[i] = tokenizer.decode(out[row, ids.shape[1]:], skip_special_tokens=True)
    finally:
        model.train(was_training)
    return answers


def answer_domains(model, tokenizer, evals: dict, template: str, batch_size: int,
                   max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS, chat_template: bool = False) -> tuple[dict, dict]:
    """The text protocol on every eval domain: (predictions of the answered samples, per-domain
    counts). Same signature as models.tallrec.score_domains, so run_llm takes either."""
    from data.trial import as_predictions
    from models.scoring import render_prompts

    predictions, stats = {}, {}
    for domain, frame in evals.items():
        t0 = time.perf_counter()
        prompts = render_prompts(frame, template, tokenizer if chat_template else None)
        texts = generate_answers(model, tokenizer, prompts, max_new_tokens=max_new_tokens,
                                 batch_size=batch_size, chat_template=chat_template)
        classes = [map_answer(t) for t in texts]
        answered = [c != "refused" for c in classes]
        kept = frame[answered]
        predictions[domain] = as_predictions(kept, [1.0 if c == "yes" else 0.0 for c in classes if c != "refused"])
        stats[domain] = answer_stats(classes, texts, time.perf_counter() - t0, max_new_tokens)
    return predictions, stats


def answer_stats(classes: list[str], texts: list[str], seconds: float, max_new_tokens: int) -> dict:
    """Counts and rates of one domain; yes_rate is over the answered samples (the paper's
    "always give positive predictions"), refusal_rate over all of them."""
    count = Counter(classes)
    n, answered = len(classes), count["yes"] + count["no"]
    common = Counter(" ".join(t.split())[:60] for t in texts).most_common(5)
    return {"n": n, "answered": answered, "yes": count["yes"], "no": count["no"],
            "refused": count["refused"], "refusal_rate": count["refused"] / n if n else None,
            "yes_rate": count["yes"] / answered if answered else None,
            "max_new_tokens": max_new_tokens, "seconds": round(seconds, 3),
            "common_answers": [{"text": t, "count": c} for t, c in common]}


def check_max_new_tokens(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_NEW_TOKENS_LIMIT:
        raise HarnessError(f"max_new_tokens must be an integer in 1..{MAX_NEW_TOKENS_LIMIT}, got {value!r}")
    return value
