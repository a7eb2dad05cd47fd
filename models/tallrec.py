"""`tallrec`: TALLRec's AT, RT and full variants (LoRA through peft, the HF Trainer).

* AT   - LoRA instruction-tuned on Alpaca (no rec samples), evaluated zero-shot. The adapter is
         a cached artifact (models/at_cache.py) keyed by (model, lora, at, seed).
* RT   - a fresh LoRA rec-tuned on the K training samples (K per domain for `both`).
* full - the AT adapter, then rec-tuned on the K samples.

Rec-tuning validates once per epoch on the training domains' validation split (capped with
`training.valid_max_samples`), stops early after `patience` evaluations without a better AUC and
restores the best checkpoint. Every trial then scores the eval split of every domain in
`spec.eval.domains` (cross-domain) with the one-pass scorer (models/scoring.py); run_trial
computes the AUCs from those scores.

The base model comes from the worker's model cache (models/cache.py): a second trial on the same
base reuses the loaded weights; each trial attaches its own adapter and detaches it at the end.
A rec-tuned adapter is kept under `ctx.artifacts_dir/adapters/<trial id>/` when the context
has one (`harness run` sets it to the run directory) and recorded in extra["kept_adapter"].
"""
from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from harness.core.config import ATConfig, LoraConfig, ModelConfig, TrainingConfig
from harness.core.errors import HarnessError
from harness.core.methods import MethodInfo
from harness.core.result import MethodOutput
from data.trial import as_predictions, eval_samples, train_samples, valid_samples
from models.loading import check_model

INFO = MethodInfo(variants=("AT", "RT", "full"), zero_shot_variants=("AT",), uses_llm=True,
                  first_phase_variants=("AT",), check_model=check_model,
                  variant_blocks={"AT": ("lora", "at"), "RT": ("lora", "training"),
                                  "full": ("lora", "training", "at")})


def parse_blocks(spec) -> tuple[ModelConfig, LoraConfig, TrainingConfig | None, ATConfig | None]:
    if spec.variant not in INFO.variants:
        raise HarnessError(f"tallrec has no variant {spec.variant!r}; variants: {', '.join(INFO.variants)}")
    blocks = INFO.blocks_for(spec.variant)
    try:
        model = ModelConfig.model_validate(spec.model or {})
        lora = LoraConfig.model_validate(spec.params.get("lora") or {})
        training = TrainingConfig.model_validate(spec.params.get("training") or {}) \
            if "training" in blocks else None
        at = ATConfig.model_validate(spec.params.get("at") or {}) if "at" in blocks else None
    except ValueError as exc:
        raise HarnessError(f"tallrec {spec.variant}: bad config: {' '.join(str(exc).split())[:400]}") from exc
    return model, lora, training, at


def score_mode(spec) -> str:
    """`params.score_mode` (a free-form knob, `overrides.<method>.params` in a grid): "two-way"
    (default) or "tallrec" (TALLRec's softmax over the two probabilities, models/scoring.py)."""
    from models.scoring import SCORE_MODES

    mode = spec.params.get("score_mode", "two-way")
    if mode not in SCORE_MODES:
        raise HarnessError(f"unknown score_mode {mode!r}; known: {', '.join(SCORE_MODES)}")
    return mode


def score_domains(model, tokenizer, evals: dict, template: str, batch_size: int,
                  mode: str = "two-way", chat_template: bool = False) -> tuple[dict, dict]:
    """Scores of every eval domain: (predictions, per-domain stats)."""
    from models.scoring import YesNoScorer, render_prompts

    predictions, stats = {}, {}
    for domain, frame in evals.items():
        scorer = YesNoScorer(model, tokenizer, batch_size=batch_size, mode=mode, chat_template=chat_template)
        scores = scorer.score(render_prompts(frame, template, tokenizer if chat_template else None))
        predictions[domain] = as_predictions(frame, scores)
        s = scorer.last
        stats[domain] = {"n": s.samples, "seconds": round(s.seconds, 3), "prefix_tokens": s.prefix_tokens,
                         "grouped_samples": s.grouped_samples, "computed_tokens": s.computed_tokens,
                         "packed_linears": s.packed_linears,
                         "tokens": s.tokens, "answer_ids": list(s.answer_ids or ())}
    return predictions, stats


def run(spec, ctx) -> MethodOutput:
    model_cfg, lora, training, at = parse_blocks(spec)
    if training is not None and (spec.train_mix is None or spec.k < 1):
        raise HarnessError(f"tallrec {spec.variant} rec-tunes on K samples: set train_mix and k >= 1")
    return run_llm(spec, ctx, model_cfg, lora, training, at)


def run_llm(spec, ctx, model_cfg: ModelConfig, lora: LoraConfig | None,
            training: TrainingConfig | None, at: ATConfig | None, answer_fn=None) -> MethodOutput:
    """Score spec.eval's domains with the base model plus: the AT adapter (at), rec-tuned on the
    K samples (training), both (full), a fresh LoRA rec-tuned (lora + training), or nothing
    (all None: the untuned base, the `icl` baseline's `base` variant).

    `answer_fn(model, tokenizer, evals, template, batch_size) -> (predictions, stats)` replaces
    the one-pass scorer (`icl`'s text protocol, models/generation.py); under
    `model.chat_template` it is also passed `chat_template=True`."""
    from models.cache import borrow
    from models.loading import check_8bit, resolve_device
    from models.monitor import PeakMemory
    from models.deepspeed_env import check_deepspeed, trial_environment

    mode = score_mode(spec)
    device = resolve_device(ctx.device)
    check_8bit(model_cfg, device)
    deepspeed = check_deepspeed(training.deepspeed) if training else None
    if at is not None and at.adapter_path:
        from models.adapters import check_adapter_dir

        check_adapter_dir(at.adapter_path, "AT adapter")

    timings: dict[str, float] = {}
    extra: dict = {"variant": spec.variant, "device": device, "score_mode": mode}
    t0 = time.perf_counter()
    evals = eval_samples(spec, ctx)
    train = valid = None
    if training is not None:
        train = train_samples(spec, ctx)
        valid = valid_samples(spec, ctx, training.valid_max_samples)
    timings["data_s"] = time.perf_counter() - t0

    with ExitStack() as stack:
        if deepspeed:   # launcher variables, os.environ and accelerate restored on exit
            stack.enter_context(trial_environment(device))
        mem = stack.enter_context(PeakMemory())
        work = Path(ctx.work_dir) if ctx.work_dir else Path(stack.enter_context(
            tempfile.TemporaryDirectory(prefix="tallrec-")))
        base = stack.enter_context(borrow(model_cfg, ctx.cache_dir, device, cacheable=deepspeed is None))
        timings["load_s"] = base.load_s
        extra["model_cache_hit"] = base.reused
        predictions, score_stats = _run_on_base(spec, ctx, base, model_cfg, lora, training, at, evals,
                                                train, valid, work, device, deepspeed, timings, extra,
                                                mode, answer_fn)
    extra.update(mem.as_extra())
    extra["score"] = score_stats
    return MethodOutput(predictions=predictions, split=spec.eval.split, timings=timings, extra=extra)


def _run_on_base(spec, ctx, base, model_cfg, lora, training, at, evals, train, valid, work: Path,
                 device, deepspeed, timings, extra, mode, answer_fn=None):
    from models.adapters import adapter_summary, attach_new, attach_saved, detach

    model, tok = base.model, base.tokenizer
    chat = model_cfg.chat_template
    if chat:   # the pre-flight (check_model) checked it too; a worker's tokenizer may differ
        from models.prompting import check_chat_template

        check_chat_template(tok, model_cfg.name)
    if at is not None:
        from models.at_cache import find_or_build

        t0 = time.perf_counter()
        adapter = find_or_build(model_cfg, lora, at, spec.seed, ctx, model, tok, device, deepspeed)
        if adapter.partitioned:
            model = _fresh_base(model_cfg, ctx, device)   # AT left this base in ZeRO-3 shards
        timings["at_s"] = time.perf_counter() - t0
        extra["at_adapter"] = {"path": str(adapter.path), "key": adapter.key, "built": adapter.built,
                               "build_s": round(adapter.build_s, 3)}
        peft_model = attach_saved(model, adapter.path, trainable=training is not None)
    elif lora is not None and training is not None:
        peft_model = attach_new(model, lora, spec.seed)
    else:  # the untuned base model
        peft_model = None
    try:
        scored = peft_model if peft_model is not None else model
        extra["trainable_params"] = sum(p.numel() for p in scored.parameters() if p.requires_grad) \
            if peft_model is not None else 0
        if training is not None:
            from models.training import train_lora

            extra.update(train_rows=len(train), valid_rows=len(valid))
            outcome = train_lora(peft_model, tok, train, cfg=training, template=model_cfg.template,
                                 seed=spec.seed, output_dir=work / "checkpoints", device=device,
                                 valid_frame=valid, deepspeed=deepspeed,
                                 gradient_checkpointing=model_cfg.gradient_checkpointing,
                                 dtype=model_cfg.dtype, score_mode=mode, save_dir=work / "adapter",
                                 chat_template=chat)
            from models.deepspeed_env import rank, world_size

            # several ranks share `work`: a rank that finished early would delete the ZeRO shards
            # a slower rank is still restoring (load_best_model_at_end); the Train run's driver
            # removes the whole work folder once every rank is done (harness/tune/multiworker.py)
            if world_size() == 1:
                shutil.rmtree(work / "checkpoints", ignore_errors=True)

            if rank() != 0:   # one process per device: rank 0 saved the adapter and scores
                return {}, {"rank": rank()}
            timings["train_s"] = outcome.train_s
            timings["valid_score_s"] = outcome.valid_score_s
            extra.update(tokens_seen=outcome.tokens_seen, global_step=outcome.global_step,
                         epochs=outcome.epochs, best_valid_auc=outcome.best_auc,
                         best_step=outcome.best_step, valid_history=outcome.history,
                         final_loss=outcome.losses[-1] if outcome.losses else None)
            extra.update(adapter_summary(work / "adapter"))
            if ctx.work_dir:
                extra["adapter_dir"] = str(work / "adapter")
            if ctx.artifacts_dir:
                from models.adapters import keep_adapter

                extra["kept_adapter"] = keep_adapter(work / "adapter", Path(ctx.artifacts_dir), spec.trial_id)
            if outcome.partitioned:   # ZeRO-3 left shards in memory: score what was saved
                t0 = time.perf_counter()
                scored = _reload_trained(model_cfg, ctx, device, work / "adapter")
                timings["reload_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        batch = training.score_batch_size if training is not None else 32
        if answer_fn is not None:
            predictions, stats = answer_fn(scored, tok, evals, model_cfg.template, batch,
                                           **({"chat_template": True} if chat else {}))
        else:
            predictions, stats = score_domains(scored, tok, evals, model_cfg.template, batch, mode, chat)
        timings["score_s"] = time.perf_counter() - t0
    finally:
        if peft_model is not None:
            detach(peft_model)
    return predictions, stats


def _reload_trained(model_cfg: ModelConfig, ctx, device: str, adapter_dir: Path):
    """A fresh base with the saved adapter: what ZeRO-3 trials score, since their model in
    memory holds parameter shards."""
    from models.adapters import attach_saved

    return attach_saved(_fresh_base(model_cfg, ctx, device), adapter_dir, trainable=False).eval()


def _fresh_base(model_cfg: ModelConfig, ctx, device: str):
    """The base model loaded again, outside the worker cache."""
    from models.deepspeed_env import forget_zero3
    from models.loading import load_base

    forget_zero3()   # else from_pretrained partitions the fresh base too
    base, _ = load_base(model_cfg, ctx.cache_dir, device)
    return base
