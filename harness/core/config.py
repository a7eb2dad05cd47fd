"""Hyper-parameter blocks shared by grid.yaml and the methods, with the paper's defaults.

The grid validates its blocks with these models; grid expansion stores their dumps in
TrialSpec.model / TrialSpec.params; methods read them back with `ModelConfig.model_validate(...)`
etc. One place for every default, so a grid, a spec and a method can never disagree.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator

WEIGHT_DECAYS = (1e-3, 1e-4, 1e-5, 1e-6, 1e-7)


class StableDump(BaseModel):
    """A block whose dump goes into a trial's hash. A field added after results were stored is
    listed in `ADDED_FIELDS`: it is left out of the dump while it holds its default, so adding a
    knob never changes the id (and so the stored results) of a trial that does not use it."""
    model_config = ConfigDict(frozen=True, extra="forbid")
    ADDED_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_added_defaults(self, handler) -> dict[str, Any]:
        data = handler(self)
        for name in self.ADDED_FIELDS:
            if name in data and getattr(self, name) == type(self).model_fields[name].default:
                del data[name]
        return data


class _Block(StableDump):
    pass


class ModelConfig(_Block):
    """The base LLM. `name` is an alias (smollm2-135m), an HF directory, or a hub id."""
    name: str = "smollm2-135m"
    gguf_file: str | None = None          # a GGUF file inside `name` (dir or hub repo), or a path
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    load_in_8bit: bool = False            # bitsandbytes: on CUDA, or on the CPU (slow, docs/gpu.md)
    gradient_checkpointing: bool = False
    template: Literal["alpaca", "alpaca-noqa"] = "alpaca"   # alpaca-noqa = the published prompts
    revision: str | None = None           # hub branch, tag or commit of `name` (pin it for results)
    trust_remote_code: bool = False       # run the model repository's own code (models that need it)
    # True: the prompt in the tokenizer's chat template (instruction-tuned models; the user turn is
    # the Alpaca instruction + input, P(Yes) read after the assistant turn's opening). False:
    # TALLRec's plain Alpaca prompt (`template`).
    chat_template: bool = False
    ADDED_FIELDS: ClassVar[frozenset[str]] = frozenset({"revision", "trust_remote_code", "chat_template"})

    @model_validator(mode="after")
    def _template_or_chat(self):
        if self.chat_template and self.template != "alpaca":
            raise ValueError(f"template {self.template!r} is the plain Alpaca prompt; with chat_template: true "
                             "the prompt is the tokenizer's chat template (leave template out)")
        return self


class LoraConfig(_Block):
    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("q_proj", "v_proj")


class StepsRule(StableDump):
    """Optimizer steps that scale with the number of training rows n (K per trained domain):
    clamp(ceil(per_sample * n), min, max). One rule for every K, stated in the grid."""
    per_sample: float = Field(gt=0)
    min: int = Field(default=1, ge=1)
    max: int | None = Field(default=None, ge=1)

    def steps(self, n_rows: int) -> int:
        import math

        steps = max(self.min, math.ceil(self.per_sample * n_rows))
        return min(steps, self.max) if self.max else steps


class TrainingConfig(_Block):
    """Rec-tuning (RT and the second stage of full), as TALLRec's finetune_rec.py."""
    learning_rate: float = Field(default=1e-4, gt=0)
    batch_size: int = Field(default=128, ge=1)        # effective batch (gradient accumulation)
    micro_batch_size: int = Field(default=32, ge=1)
    epochs: int = Field(default=200, ge=1)
    max_steps: int | None = Field(default=None, ge=1)  # cap on optimizer steps (quick runs)
    patience: int = Field(default=10, ge=1)           # early stopping on validation AUC, in evals
    cutoff_len: int = Field(default=512, ge=16)
    train_on_inputs: bool = True                      # TALLRec's default: loss on prompt + answer
    warmup_steps: int = Field(default=20, ge=0)
    valid_max_samples: int | None = Field(default=None, ge=1)  # cap per domain on the valid split
    score_batch_size: int = Field(default=32, ge=1)
    deepspeed: str | None = None      # a DeepSpeed JSON (ray_configs/deepspeed_zero2.json...), GPU or CPU
    # Added later (ids unchanged at their defaults). TALLRec's finetune_rec.py behaviour, for
    # measuring its defects (docs/models.md, "TALLRec-faithful training"):
    restore_best: bool = True         # False: keep the last step's adapter (TALLRec's state_dict patch)
    eval_every_steps: int | None = Field(default=None, ge=1)  # None: validate once per epoch
    reshuffle: bool = False           # True: shuffle the K samples again (datasets' shuffle(seed))
    padding_side: Literal["right", "left"] = "right"  # left: TALLRec's, one extra loss term per pad
    # Speed (bench/train_speed.py); off by default so stored trials keep their meaning:
    group_by_length: bool = False     # micro-batches of similar lengths (less padding)
    shared_prefix: bool = False       # the micro-batch's common prompt prefix computed once
    autocast_bf16: bool = False       # CPU: torch.autocast(bfloat16) for forward passes in training
    # Steps, not epochs, where K varies: optimizer steps from the number of training rows
    # (StepsRule); set, it replaces max_steps and `epochs` no longer ends training.
    steps: StepsRule | None = None
    ADDED_FIELDS: ClassVar[frozenset[str]] = frozenset({
        "restore_best", "eval_every_steps", "reshuffle", "padding_side", "group_by_length",
        "shared_prefix", "autocast_bf16", "steps"})

    def optimizer_steps(self, n_rows: int) -> int | None:
        """The fixed number of optimizer steps for n training rows (None: epochs decide)."""
        return self.steps.steps(n_rows) if self.steps else self.max_steps


class ATConfig(_Block):
    """Alpaca instruction tuning (the AT stage), as alpaca-lora's finetune.py."""
    learning_rate: float = Field(default=3e-4, gt=0)
    batch_size: int = Field(default=128, ge=1)
    micro_batch_size: int = Field(default=4, ge=1)
    epochs: int = Field(default=3, ge=1)
    max_steps: int | None = Field(default=None, ge=1)
    max_records: int | None = Field(default=None, ge=1)   # None: every record of the Alpaca file
    cutoff_len: int = Field(default=256, ge=16)
    train_on_inputs: bool = True
    warmup_steps: int = Field(default=100, ge=0)
    adapter_path: str | None = None   # an existing adapter (e.g. alpaca-lora weights) instead


class BaselineConfig(_Block):
    """Sequential-recommender baselines: the paper's protocol."""
    learning_rate: float = Field(default=1e-3, gt=0)
    weight_decays: tuple[float, ...] = WEIGHT_DECAYS   # searched; chosen on validation AUC
    epochs: int = Field(default=200, ge=1)
    patience: int = Field(default=10, ge=1)
    batch_size: int = Field(default=256, ge=1)
    embedding_dim: int = Field(default=64, ge=1)
    hidden_size: int = Field(default=64, ge=1)
    valid_max_samples: int | None = Field(default=None, ge=1)
    encoder: str = "minilm"           # -BERT variants: alias or HF encoder path (paper: bert-base-uncased)
    text_hidden_size: int = Field(default=1024, ge=1)   # -BERT variants: GRU width (paper: 1024)
    text_num_layers: int = Field(default=4, ge=1)       # -BERT variants: GRU layers (paper: 4)
    device: Literal["auto", "cpu", "cuda"] = "auto"


def deepspeed_config_path(value: str) -> Path:
    """A DeepSpeed JSON named in a grid: relative to the current directory, else to the project
    root (where ray_configs/ ships). Missing, unreadable or not a JSON object: one line."""
    from harness.core.errors import HarnessError
    from harness.core.provenance import PROJECT_ROOT

    path = Path(value).expanduser()
    if not path.is_file() and not path.is_absolute() and (PROJECT_ROOT / value).is_file():
        path = PROJECT_ROOT / value
    if not path.is_file():
        raise HarnessError(f"DeepSpeed config not found: {value}")
    try:
        parsed = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise HarnessError(f"DeepSpeed config {value} does not parse: {' '.join(str(exc).split())[:200]}") from None
    if not isinstance(parsed, dict):
        raise HarnessError(f"DeepSpeed config {value} does not parse: a JSON object is expected, "
                           f"not {type(parsed).__name__}")
    return path.resolve()
