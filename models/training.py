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
* DeepSpeed: `deepspeed: <json>` goes to TrainingArguments, on a GPU or on the CPU
  (models/deepspeed_env.py sets up and restores the process). The adapter is saved through
  `Trainer.save_model`, which gathers ZeRO-3's partitioned LoRA weights (PEFT's own
  `save_pretrained` would write `[0]`-shaped tensors).
* TALLRec-faithful knobs (docs/models.md): `restore_best: false` keeps the last step's adapter,
  `eval_every_steps`, `reshuffle` (the K rows permuted once more), `padding_side: left`.
* Speed knobs (bench/train_speed.py): `group_by_length`, `shared_prefix`, `autocast_bf16`
  (models/batching.py holds the collator, the grouping and the prefix loss).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path

from data.prompts import render_example, render_prompt
from harness.core.errors import HarnessError
from models.batching import PadCollator


def tokenize_examples(tokenizer, frame, template: str, cutoff_len: int, train_on_inputs: bool,
                      chat_template: bool = False) -> list[dict]:
    if chat_template:
        return _chat_examples(tokenizer, frame, cutoff_len, train_on_inputs)
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


def _chat_examples(tokenizer, frame, cutoff_len: int, train_on_inputs: bool) -> list[dict]:
    """The conversation in the tokenizer's chat template (models/prompting.py), cut at
    `cutoff_len`. No EOS is appended: the template's end of turn closes the answer. Masking
    covers exactly the templated prompt's tokens (checked: they are the example's first ones)."""
    from models.prompting import chat_example, encode

    out = []
    for ins, inp, ans in zip(frame["instruction"], frame["input"], frame["output"]):
        prompt, full = chat_example(tokenizer, ins, inp, ans)
        ids = encode(tokenizer, [full], True, truncation=True, max_length=cutoff_len)[0]
        labels = list(ids)
        if not train_on_inputs:
            p_ids = encode(tokenizer, [prompt], True, truncation=True, max_length=cutoff_len)[0]
            if ids[:len(p_ids)] != p_ids:
                raise HarnessError("the tokenizer merges the end of the chat prompt with the answer: "
                                   "train_on_inputs: false cannot mask the prompt")
            labels[:len(p_ids)] = [-100] * len(p_ids)
        out.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return out


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
    partitioned: bool = False   # ZeRO-3: the model in memory holds shards, not usable weights


class LengthGroupedSampler:
    """Indices of length-grouped micro-batches (models.batching), a new grouping every epoch."""

    def __init__(self, lengths: list[int], micro: int, seed: int):
        import random

        self.lengths, self.micro, self.rng = lengths, micro, random.Random(seed)

    def __len__(self) -> int:
        return len(self.lengths)

    def __iter__(self):
        from models.batching import length_grouped_batches

        return iter([i for b in length_grouped_batches(self.lengths, self.micro, self.rng) for i in b])


def _make_trainer_class():
    from transformers import Trainer

    class AUCTrainer(Trainer):
        """Trainer whose evaluation is the validation AUC of the one-pass Yes/No scorer."""

        def __init__(self, *args, valid=None, scorer_kwargs=None, tokenizer=None, speed=None, **kwargs):
            super().__init__(*args, **kwargs)
            self._valid_prompts, self._valid_labels = (valid or ([], []))[:2]
            self._valid_ids = valid[2] if valid and len(valid) > 2 else None  # sample_id, user_id
            self._scorer_kwargs = scorer_kwargs or {}
            self._tok = tokenizer
            self._speed = speed or {}   # group_by_length (lengths, seed), shared_prefix, autocast_bf16
            self.eval_history: list[dict] = []
            self.valid_score_s = 0.0

        def _get_train_sampler(self, train_dataset=None):
            if self._speed.get("lengths") is None:
                return super()._get_train_sampler(train_dataset)
            return LengthGroupedSampler(self._speed["lengths"], self.args.per_device_train_batch_size,
                                        self._speed["seed"])

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            import contextlib

            import torch

            from models.batching import shared_prefix_loss

            cast = torch.autocast("cpu", dtype=torch.bfloat16) if self._speed.get("autocast_bf16") \
                else contextlib.nullcontext()
            with cast:
                if self._speed.get("shared_prefix") and not return_outputs and model.training:
                    return shared_prefix_loss(model, inputs, num_items_in_batch=num_items_in_batch)
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval"):
            from harness.core.metrics import compute_auc
            from models.deepspeed_env import from_rank0
            from models.scoring import YesNoScorer

            t0 = time.perf_counter()
            scores = YesNoScorer(self.model, self._tok, **self._scorer_kwargs).score(self._valid_prompts)
            # every rank scores the whole split; rank 0's scores decide for all, else ranks whose
            # AUCs differ disagree on saving a best checkpoint or stopping early, and the
            # collectives inside those pair up wrongly (a hang or a crash)
            scores = from_rank0(scores)
            auc = compute_auc(self._valid_labels, scores)
            seconds = time.perf_counter() - t0
            self.valid_score_s += seconds
            metrics = {f"{metric_key_prefix}_auc": 0.5 if auc is None else auc,
                       f"{metric_key_prefix}_runtime": seconds}
            self.eval_history.append({"step": self.state.global_step, "epoch": self.state.epoch,
                                      "auc": auc, "seconds": seconds})
            if self._valid_ids is not None:   # a protocol search's hook (harness.core.objective)
                from harness.core.objective import report_validation

                report_validation(self.state.global_step, self._valid_ids.assign(
                    label=self._valid_labels, score=list(scores)))
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return AUCTrainer


def _speed_options(cfg, train: list[dict], seed: int, device: str) -> dict:
    """The TrainingConfig speed knobs the trainer applies (AT's block has none)."""
    if getattr(cfg, "autocast_bf16", False) and not device.startswith("cpu"):
        raise HarnessError("training.autocast_bf16 is for CPUs; on a GPU set model.dtype: bfloat16")
    if getattr(cfg, "shared_prefix", False) and getattr(cfg, "padding_side", "right") == "left":
        raise HarnessError("training.shared_prefix needs padding_side: right")
    return {"lengths": [len(t["input_ids"]) for t in train] if getattr(cfg, "group_by_length", False) else None,
            "seed": seed, "shared_prefix": getattr(cfg, "shared_prefix", False),
            "autocast_bf16": getattr(cfg, "autocast_bf16", False)}


def _optimizer_steps(cfg, n_rows: int) -> int | None:
    """TrainingConfig's steps rule or max_steps; ATConfig's max_steps."""
    return cfg.optimizer_steps(n_rows) if hasattr(cfg, "optimizer_steps") else cfg.max_steps


def train_lora(peft_model, tokenizer, train_frame, *, cfg, template: str, seed: int, output_dir: Path,
               device: str, valid_frame=None, deepspeed: str | None = None,
               gradient_checkpointing: bool = False, dtype: str = "float32",
               score_mode: str = "two-way", save_dir: Path | None = None,
               chat_template: bool = False) -> TrainOutcome:
    """Train the adapter of `peft_model` in place. `cfg` is a TrainingConfig (with validation,
    early stopping and best-checkpoint restore when `valid_frame` is given) or an ATConfig.
    With `save_dir` the trained adapter is saved there (a standard PEFT folder). `chat_template`:
    examples and validation prompts in the tokenizer's chat template (models/prompting.py)."""
    import torch
    from transformers import EarlyStoppingCallback, TrainingArguments

    from models.scoring import render_prompts

    train = tokenize_examples(tokenizer, train_frame, template, cfg.cutoff_len, cfg.train_on_inputs,
                              chat_template)
    if getattr(cfg, "reshuffle", False):  # finetune_rec.py: the K picked rows .shuffle(seed=seed) again
        import numpy as np

        train = [train[i] for i in np.random.default_rng(seed).permutation(len(train))]
    speed = _speed_options(cfg, train, seed, device)
    from models.deepspeed_env import world_size

    micro = min(cfg.micro_batch_size, cfg.batch_size)
    # one process per device (harness/tune/multiworker.py): each rank takes `micro` rows per
    # micro-batch, so the effective batch stays batch_size
    accumulation = max(1, cfg.batch_size // (micro * world_size()))
    with_valid = valid_frame is not None and len(valid_frame) > 0
    cuda = device.startswith("cuda")
    args = dict(
        output_dir=str(output_dir), per_device_train_batch_size=micro,
        gradient_accumulation_steps=accumulation, learning_rate=cfg.learning_rate,
        num_train_epochs=cfg.epochs, max_steps=_optimizer_steps(cfg, len(train)) or -1, warmup_steps=cfg.warmup_steps,
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
        every = getattr(cfg, "eval_every_steps", None)
        args.update(eval_strategy="steps" if every else "epoch", metric_for_best_model="auc",
                    greater_is_better=True, **({"eval_steps": every} if every else {}))
        if getattr(cfg, "restore_best", True):
            args.update(save_strategy="best", load_best_model_at_end=True, save_only_model=deepspeed is None)
        else:  # TALLRec's outcome: best AUC tracked, early stopping acts, the last step's adapter kept
            args.update(save_strategy="no")
    else:
        args.update(eval_strategy="no", save_strategy="no")
    callbacks, valid = [], None
    if with_valid:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=cfg.patience))
        ids = valid_frame[["sample_id", "user_id"]].reset_index(drop=True) \
            if {"sample_id", "user_id"} <= set(valid_frame.columns) else None
        valid = (render_prompts(valid_frame, template, tokenizer if chat_template else None), valid_frame["label"].astype(int).tolist(), ids)
    trainer_cls = _make_trainer_class()
    trainer = trainer_cls(
        model=peft_model, args=TrainingArguments(**args), train_dataset=train,
        eval_dataset=valid[0] if valid else None,
        data_collator=PadCollator(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0,
                                  multiple=1 if speed.get("lengths") else 8,
                                  side=getattr(cfg, "padding_side", "right")),
        callbacks=callbacks, valid=valid, tokenizer=tokenizer, speed=speed,
        scorer_kwargs={"batch_size": getattr(cfg, "score_batch_size", 32), "mode": score_mode,
                       **({"chat_template": True} if chat_template else {})})
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
    if save_dir is not None:
        _save_adapter(trainer, Path(save_dir))
    state = trainer.state
    losses = [h["loss"] for h in state.log_history if "loss" in h]
    outcome = TrainOutcome(
        global_step=state.global_step, epochs=float(state.epoch or 0.0),
        best_auc=state.best_metric if with_valid else None,
        best_step=state.best_global_step if with_valid else None,
        tokens_seen=int(state.num_input_tokens_seen or 0),
        train_s=time.perf_counter() - t0 - trainer.valid_score_s,
        valid_score_s=trainer.valid_score_s, history=trainer.eval_history, losses=losses,
        partitioned=bool(deepspeed) and _zero3(deepspeed))
    peft_model.eval()
    del trainer
    return outcome


def _zero3(config: str) -> bool:
    from models.deepspeed_env import zero_stage

    return zero_stage(config) == 3


def _save_adapter(trainer, target: Path) -> None:
    """`Trainer.save_model` gathers ZeRO-3 shards (stage3_gather_16bit_weights_on_model_save)
    and writes the PEFT adapter; the Trainer's own training_args.bin is not part of an adapter."""
    trainer.save_model(str(target))
    (target / "training_args.bin").unlink(missing_ok=True)
