"""`icl`: zero-shot LLM baselines, scored like TALLRec with no rec training (K = 0).

Variants:
* `base`        - the base model as loaded (no adapter).
* `alpaca-lora` - the base model with an AT adapter: LoRA instruction-tuned on Alpaca
                  ("Alpaca-LoRA" in the paper), the same cached artifact tallrec's AT and
                  full variants use (models/at_cache.py), or `at.adapter_path`.

The prompts, the template and the one-pass scorer are tallrec's (models/scoring.py): the score
is P("Yes") from the two answer-token logits at the end of the prompt, so a sample the model
would answer with neither token still gets a score and AUC is defined on every sample.
"""
from __future__ import annotations

from harness.config import ATConfig, LoraConfig, ModelConfig
from harness.errors import HarnessError
from harness.methods import MethodInfo
from harness.result import MethodOutput

INFO = MethodInfo(variants=("base", "alpaca-lora"), zero_shot=True, uses_llm=True,
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
    return run_llm(spec, ctx, model, lora, None, at)
