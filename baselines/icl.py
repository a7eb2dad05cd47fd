"""`icl`: zero-shot LLM baselines, scored like TALLRec with no rec training (K = 0).

Variants:
* `base`        - the base model as loaded (no adapter).
* `alpaca-lora` - the base model with an AT adapter: LoRA instruction-tuned on Alpaca
                  ("Alpaca-LoRA" in the paper), the same cached artifact tallrec's AT and
                  full variants use (models/at_cache.py), or `at.adapter_path`.

Protocols (`params.protocol`, a free-form knob: `overrides.icl.params` in a grid; left out of
the spec while it is the default, so existing trial ids hold):
* `probability` (default) - TALLRec's evaluation: the prompts, template and one-pass scorer are
  tallrec's (models/scoring.py), the score is P("Yes") from the two answer-token logits at the
  end of the prompt, so a sample the model would answer with neither token still gets a score
  and AUC is defined on every sample.
* `text` - the paper's protocol for its ICL baselines (Figure 1, Figure 3(a)): a greedy answer of
  at most `params.max_new_tokens` tokens (default 8) mapped to yes / no / refused; refused
  samples are left out, the answered ones scored 1 / 0 (models/generation.py). Counts and
  rates per domain are in extra["score"].
"""
from __future__ import annotations

from harness.core.config import ATConfig, LoraConfig, ModelConfig
from harness.core.errors import HarnessError
from harness.core.methods import MethodInfo
from harness.core.result import MethodOutput
from models.loading import check_model

PROTOCOLS = ("probability", "text")

INFO = MethodInfo(variants=("base", "alpaca-lora"), zero_shot=True, uses_llm=True, check_model=check_model,
                  variant_blocks={"base": (), "alpaca-lora": ("lora", "at")})


def run(spec, ctx) -> MethodOutput:
    from models.tallrec import run_llm

    if spec.variant not in INFO.variants:
        raise HarnessError(f"icl has no variant {spec.variant!r}; variants: {', '.join(INFO.variants)}")
    try:
        model = ModelConfig.model_validate(spec.model or {})
        lora = at = None
        if spec.variant == "alpaca-lora":
            lora = LoraConfig.model_validate(spec.params.get("lora") or {})
            at = ATConfig.model_validate(spec.params.get("at") or {})
    except ValueError as exc:
        raise HarnessError(f"icl {spec.variant}: bad config: {' '.join(str(exc).split())[:400]}") from exc
    out = run_llm(spec, ctx, model, lora, None, at, answer_fn=answer_fn(spec))
    out.extra["protocol"] = spec.params.get("protocol", "probability")
    if out.extra["protocol"] == "text":
        out.extra.pop("score_mode", None)   # no probability is read
    return out


def answer_fn(spec):
    """None for the probability protocol (run_llm's scorer), the text protocol's otherwise."""
    from functools import partial

    protocol = spec.params.get("protocol", "probability")
    if protocol not in PROTOCOLS:
        raise HarnessError(f"icl: unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if protocol == "probability":
        if "max_new_tokens" in spec.params:
            raise HarnessError("icl: max_new_tokens applies to the text protocol only (set protocol: text)")
        return None
    if "score_mode" in spec.params:
        raise HarnessError("icl: score_mode applies to the probability protocol only")
    from models.generation import DEFAULT_MAX_NEW_TOKENS, answer_domains, check_max_new_tokens

    tokens = check_max_new_tokens(spec.params.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS))
    return partial(answer_domains, max_new_tokens=tokens)
