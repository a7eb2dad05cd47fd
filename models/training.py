"""LoRA training through the HF Trainer, as TALLRec's finetune_rec.py and alpaca-lora's finetune.py.

* Examples are the Alpaca prompt plus the answer plus EOS (alpaca-lora's `tokenize`), cut at
  `cutoff_len`; the LM loss covers prompt and answer (`train_on_inputs: true`, TALLRec's
  default) or the answer only.
* Micro-batches of `micro_batch_size`, gradient accumulation to the effective `batch_size`,
  linear warm-up and decay, AdamW (torch).
* Rec-tuning evaluates once per epoch: the validation AUC of the one-pass scorer
  (`AUCTrainer.evaluate`), early stopping after `patience` evaluations without improvement, and
  the best checkpoint (adapter only) restored at the end (`load_best_model_at_end`).
  TALLRec's own loop scores validation through full-vocabulary logits of every position; the
  scorer computes the same next-token probabilities at a fraction of the cost.
* DeepSpeed: `deepspeed: <json>` goes to TrainingArguments (CUDA only; checked here).
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError
from models.prompts import render_example, render_prompt


def tokenize_examples(tokenizer, frame, template: str, cutoff_len: int, train_on_inputs: bool) -> list[dict]:
    out = []
    eos = tokenizer.eos_token_id
    for ins, inp, ans in zip(frame["instruction"], frame["input"], frame["output"]):
        ids = tokenizer(render_example(ins, inp, ans, template), truncation=True,
                        max_length=cutoff_len)["input_ids"]
        if eos is not None and ids[-1] != eos and len(ids) < cutoff_len:
            ids = ids + [eos]
        labels = list(ids)
        if not train_on_inputs:
            n_prompt = len(tokenizer(render_prompt(ins, inp, template), truncation=True,
                                     max_length=cutoff_len)["input_ids"])
            labels[:n_prompt] = [-100] * min(n_prompt, len(labels))
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return out


class PadCollator:
    """Right padding to the longest example (a multiple of 8), labels padded with -100. The
    shared tokenizer is never mutated (its padding side stays as loaded)."""

    def __init__(self, pad_id: int, multiple: int = 8):
        self.pad_id, self.multiple = pad_id, multiple

    def __call__(self, batch: list[dict]):
        import torch

        width = max(len(b["input_ids"]) for b in batch)
        width = int(math.ceil(width / self.multiple) * self.multiple)
        n = len(batch)
        ids = torch.full((n, width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((n, width), dtype=torch.long)
        labels = torch.full((n, width), -100, dtype=torch.long)
        for i, b in enumerate(batch):
            k = len(b["input_ids"])
            ids[i, :k] = torch.tensor(b["input_ids"])
            mask[i, :k] = 1
            labels[i, :k] = torch.tensor(b["labels"])
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@dataclass
class TrainOutcome:
    global_step: int = 0
    epochs: float = 0.0
    best_auc: float | None = None
    best_step: int | None = None
    tokens_seen: int = 0
    train_s: float = 0.0
    valid_score_s: float = 0.0
    history: list[dict] = field(default_factory=list)  # one row per evaluation
    losses: list[float] = field(default_factory=list)


def _make_trainer_class():
    from transformers import Trainer

    class AUCTrainer(Trainer):
        """Trainer whose evaluation is the validation AUC of the one-pass Yes/No scorer."""

        def __init__(self, *args, valid=None, scorer_kwargs=None, tokenizer=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._valid_prompts, self._valid_labels = valid or ([], [])
            self._scorer_kwargs = scorer_kwargs or {}
            self._tok = tokenizer
            self.eval_history: list[dict] = []
            self.valid_score_s = 0.0

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
            from harness.trial import compute_auc
            from models.scoring import YesNoScorer

            t0 = time.perf_counter()
            scores = YesNoScorer(self.model, self._tok, **self._scorer_kwargs).score(self._valid_prompts)
            auc = compute_auc(self._valid_labels, scores)
            seconds = time.perf_counter() - t0
            self.valid_score_s += seconds
            metrics = {f"{metric_key_prefix}_auc": 0.5 if auc is None else auc,
                       f"{metric_key_prefix}_runtime": seconds}
            self.eval_history.append({"step": self.state.global_step, "epoch": self.state.epoch,
                                      "auc": auc, "seconds": seconds})
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return AUCTrainer


def check_deepspeed(config: str | None, device: str) -> str | None:
    if not config:
        return None
    path = Path(config)
    if not path.is_file():
        from harness.provenance import PROJECT_ROOT

        if (PROJECT_ROOT / config).is_file():
            path = PROJECT_ROOT / config
        else:
            raise HarnessError(f"DeepSpeed config not found: {config}")
    if not device.startswith("cuda"):
        raise HarnessError("DeepSpeed training needs a CUDA GPU; this machine has none: "
                           "remove training.deepspeed")
    import importlib.util

    if importlib.util.find_spec("deepspeed") is None:
        raise HarnessError("DeepSpeed training needs deepspeed: pip install 'tallrec-harness[deepspeed]'")
    for var, value in (("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29511"), ("RANK", "0"),
                       ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1")):
        os.environ.setdefault(var, value)  # a single-process run without a launcher
    return str(path.resolve())


def train_lora(peft_model, tokenizer, train_frame, *, cfg, template: str, seed: int, output_dir: Path,
               device: str, valid_frame=None, deepspeed: str | None = None,
               gradient_checkpointing: bool = False, dtype: str = "float32",
               score_mode: str = "two-way") -> TrainOutcome:
    """Train the adapter of `peft_model` in place. `cfg` is a TrainingConfig (with validation,
    early stopping and best-checkpoint restore when `valid_frame` is given) or an ATConfig."""
    import torch
    from transformers import EarlyStoppingCallback, TrainingArguments

    from models.scoring import render_prompts

    train = tokenize_examples(tokenizer, train_frame, template, cfg.cutoff_len, cfg.train_on_inputs)
    micro = min(cfg.micro_batch_size, cfg.batch_size)
    accumulation = max(1, cfg.batch_size // micro)
    with_valid = valid_frame is not None and len(valid_frame) > 0
    cuda = device.startswith("cuda")
    args = dict(
        output_dir=str(output_dir), per_device_train_batch_size=micro,
        gradient_accumulation_steps=accumulation, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, max_steps=cfg.max_steps or -1, warmup_steps=cfg.warmup_steps,
        lr_scheduler_type="linear", optim="adamw_torch", weight_decay=0.0, seed=seed, data_seed=seed,
        logging_strategy="steps", logging_steps=1, report_to="none", disable_tqdm=True,
        save_total_limit=1, remove_unused_columns=False, dataloader_num_workers=0,
        include_num_input_tokens_seen="non_padding", use_cpu=not cuda,
        fp16=cuda and dtype == "float16", bf16=cuda and dtype == "bfloat16",
        deepspeed=deepspeed,
    )
    if gradient_checkpointing:  # transformers 5 renamed it; the old name warns
        names = {f.name for f in dataclasses.fields(TrainingArguments)}
        prefix = "activation" if "activation_checkpointing" in names else "gradient"
        args[f"{prefix}_checkpointing"] = True
        args[f"{prefix}_checkpointing_kwargs"] = {"use_reentrant": False}
    if with_valid:
        args.update(eval_strategy="epoch", save_strategy="best", load_best_model_at_end=True,
                    metric_for_best_model="auc", greater_is_better=True,
                    save_only_model=deepspeed is None)
    else:
        args.update(eval_strategy="no", save_strategy="no")
    callbacks, valid = [], None
    if with_valid:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
        valid = (render_prompts(valid_frame, template), valid_frame["label"].astype(int).tolist())
    trainer_cls = _make_trainer_class()
    trainer = trainer_cls(
        model=peft_model, args=TrainingArguments(**args), train_dataset=train,
        eval_dataset=valid[0] if valid else None,
        data_collator=PadCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0),
        callbacks=callbacks, valid=valid, tokenizer=tokenizer,
        scorer_kwargs={"batch_size": getattr(cfg, "score_batch_size", 32), "mode": score_mode})
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # the log lands in TrainOutcome, not on stdout
    peft_model.config.use_cache = False
    t0 = time.perf_counter()
    try:
        trainer.train()
    except torch.OutOfMemoryError as exc:  # pragma: no cover - GPU only
        raise HarnessError(f"out of memory while training (micro_batch_size {micro}): "
                           f"{' '.join(str(exc).split())[:300]}") from exc
    finally:
        peft_model.config.use_cache = True
    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    outcome = TrainOutcome(
        global_step=state.global_step, epochs=float(state.epoch or 0.0),
        best_auc=state.best_metric if with_valid else None,
        best_step=state.best_global_step if with_valid else None,
        tokens_seen=int(state.num_input_tokens_seen or 0),
        train_s=time.perf_counter() - t0 - trainer.valid_score_s,
        valid_score_s=trainer.valid_score_s, history=trainer.eval_history, losses=losses)
    peft_model.eval()
    del trainer
    return outcome
