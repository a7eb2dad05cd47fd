"""Training and selection for the sequential baselines: MSE, Adam, one early-stopped model per
weight decay, the decay with the best validation AUC kept; `run_seqrec` is every baseline's `run`."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field

from baselines._encoding import NO_TEXT, UNKNOWN, Encoded, ItemVocab, TextTable, encode
from baselines._model import Arch, DroConfig, Dims, SeqRecModel, dro_term, propensity, score
from data import trial as trial_data
from harness.core.config import BaselineConfig
from harness.core.errors import HarnessError
from harness.core.result import MethodOutput


class TextModelConfig(BaseModel):
    """Size of the -BERT variants' GRU (the paper: 4 layers of hidden size 1024).

    Set in a grid through the `baseline` block (`text_hidden_size`, `text_num_layers`); kept as
    its own small model so `fit` can be called with a text size and no full BaselineConfig.
    """
    model_config = ConfigDict(frozen=True, extra="forbid")
    text_hidden_size: int = Field(default=1024, ge=1)
    text_num_layers: int = Field(default=4, ge=1)


def baseline_config(spec) -> tuple[BaselineConfig, TextModelConfig]:
    """The trial's `baseline` block as (BaselineConfig, TextModelConfig)."""
    cfg = BaselineConfig.model_validate(spec.params.get("baseline") or {})
    return cfg, TextModelConfig(text_hidden_size=cfg.text_hidden_size,
                                text_num_layers=cfg.text_num_layers)


def resolve_device(cfg_device: str, ctx_device: str | None = None) -> torch.device:
    """`auto`: the context's device if it names one, else cuda when available, else cpu."""
    if cfg_device == "auto":
        name = ctx_device or ("cuda" if torch.cuda.is_available() else "cpu")
    else:
        name = cfg_device
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise HarnessError(f"baseline device {name!r} requested but CUDA is not available; "
                           "use device: auto or cpu")
    return torch.device(name)


def valid_metric(labels: np.ndarray, scores: np.ndarray) -> float:
    """Validation AUC; where it is undefined (one class only), minus the MSE; nan if diverged."""
    from sklearn.metrics import roc_auc_score

    if not np.isfinite(scores).all():
        return float("nan")
    if len(np.unique(labels)) < 2:
        return -float(np.mean((scores - labels) ** 2))
    return float(roc_auc_score(labels, scores))


@dataclass
class DecayRun:
    weight_decay: float
    best_metric: float
    best_epoch: int
    epochs_run: int
    state: dict | None
    curve: list[float]
    seconds: float


def _build(arch: Arch, dims: Dims, seed: int) -> SeqRecModel:
    """The model's seeded initialisation (the caller's RNG state is left untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return arch.build(dims)


def train_one(arch: Arch, dims: Dims, train: Encoded, valid: Encoded, cfg: BaselineConfig,
              weight_decay: float, seed: int, device, dro: DroConfig | None = None,
              ps: torch.Tensor | None = None) -> DecayRun:
    """Train one model at one weight decay; keep the state of its best validation epoch."""
    t0 = time.perf_counter()
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device.index or 0]):
        model = _build(arch, dims, seed).to(device)
        torch.manual_seed(seed)                      # dropout masks
        opt = torch.optim.Adam(model.parameters(), lr=cfg.learning_rate, weight_decay=weight_decay)
        gen = torch.Generator().manual_seed(seed)
        train_d = train.to(device)
        valid_y = valid.labels.numpy()
        ps = ps.to(device) if ps is not None else None
        best, best_epoch, best_state, bad, curve = -math.inf, 0, None, 0, []
        epoch = 0
        for epoch in range(1, cfg.epochs + 1):
            model.train()
            for idx in torch.randperm(len(train), generator=gen).split(cfg.batch_size):
                b = train_d.subset(idx.to(device))
                scores, h = model(b, return_hidden=True)
                loss = torch.mean((scores - b.labels) ** 2)
                if dro is not None:
                    loss = loss + dro.alpha * dro_term(model.all_item_scores(h), b.target,
                                                       b.labels, ps, dro.beta)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            metric = valid_metric(valid_y, score(model, valid, device))
            curve.append(metric)
            if not math.isfinite(metric):
                break
            if metric > best:
                best, best_epoch, bad = metric, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                bad += 1
                if bad >= cfg.patience:
                    break
    return DecayRun(weight_decay, best, best_epoch, epoch, best_state, curve,
                    time.perf_counter() - t0)


@dataclass
class Fitted:
    """The chosen model plus what scoring a new frame needs (vocabulary, text table)."""
    arch: Arch
    model: SeqRecModel
    vocab: ItemVocab
    text: TextTable | None
    device: torch.device
    runs: list[DecayRun]
    chosen: DecayRun

    def encode(self, frame: pd.DataFrame) -> Encoded:
        return encode(frame, self.vocab, self.text, self.model.dims.history_len)

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return score(self.model, self.encode(frame), self.device)

    def extra(self) -> dict:
        """What a trial records: the chosen decay, its best epoch, every decay's valid AUC."""
        key = repr
        finite = (lambda x: x if math.isfinite(x) else None)   # JSON has no inf / nan
        return {
            "weight_decay": self.chosen.weight_decay,
            "best_epoch": self.chosen.best_epoch,
            "valid_auc": finite(self.chosen.best_metric),
            "valid_auc_by_decay": {key(r.weight_decay): finite(r.best_metric) for r in self.runs},
            "best_epoch_by_decay": {key(r.weight_decay): r.best_epoch for r in self.runs},
            "epochs_run_by_decay": {key(r.weight_decay): r.epochs_run for r in self.runs},
            "vocab_size": len(self.vocab),
            "n_parameters": sum(p.numel() for p in self.model.parameters()),
        }


def make_dims(arch: Arch, cfg: BaselineConfig, text_cfg: TextModelConfig, vocab: ItemVocab,
              text: TextTable | None) -> Dims:
    vocab_text = None
    if text is not None:
        vocab_text = torch.tensor([NO_TEXT] + [text.index(k) for k in vocab.keys], dtype=torch.long)
    hidden, layers = cfg.hidden_size, 1
    if arch.text_sized:
        hidden, layers = text_cfg.text_hidden_size, text_cfg.text_num_layers
    return Dims(n_items=len(vocab), embedding_dim=cfg.embedding_dim, hidden_size=hidden,
                num_layers=layers, text=None if text is None else text.matrix,
                vocab_text=vocab_text)


def fit(arch: Arch, train_frame: pd.DataFrame, valid_frame: pd.DataFrame, cfg: BaselineConfig,
        seed: int, device=None, text: TextTable | None = None,
        text_cfg: TextModelConfig | None = None, dro: DroConfig | None = None) -> Fitted:
    """The weight-decay search: one early-stopped model per decay, the best on validation kept."""
    device = torch.device(device or "cpu")
    if len(train_frame) == 0:
        raise ValueError(f"{arch.name}: no training samples")
    if len(valid_frame) == 0:
        raise ValueError(f"{arch.name}: no validation samples (needed for early stopping)")
    if arch.text and text is None:
        raise ValueError(f"{arch.name} needs a text table")
    text_cfg = text_cfg or TextModelConfig()
    dro = (dro or DroConfig()) if arch.dro else None
    vocab = ItemVocab.from_frame(train_frame)
    text = text if arch.text else None
    dims = make_dims(arch, cfg, text_cfg, vocab, text)
    train = encode(train_frame, vocab, text)
    valid = encode(valid_frame, vocab, text)
    ps = propensity(train, len(vocab), dro.propensity_power) if dro else None
    runs = [train_one(arch, dims, train, valid, cfg, wd, seed, device, dro, ps)
            for wd in cfg.weight_decays]
    chosen = max(runs, key=lambda r: r.best_metric)       # max() keeps the first of equals
    model = _build(arch, dims, seed).to(device)
    if chosen.state is not None:
        model.load_state_dict(chosen.state)
    model.eval()
    for r in runs:                                          # free the other checkpoints
        if r is not chosen:
            r.state = None
    return Fitted(arch, model, vocab, text, device, runs, chosen)


def run_seqrec(spec, ctx, arch: Arch) -> MethodOutput:
    """`run(spec, ctx)` of every baseline: K-shot train, validate, score each eval domain."""
    cfg, text_cfg = baseline_config(spec)
    device = resolve_device(cfg.device, getattr(ctx, "device", None))
    t0 = time.perf_counter()
    train = trial_data.train_samples(spec, ctx)
    valid = trial_data.valid_samples(spec, ctx, cfg.valid_max_samples)
    evals = trial_data.eval_samples(spec, ctx)
    timings = {"load_s": time.perf_counter() - t0}
    text = None
    if arch.text:
        from baselines import _text

        t1 = time.perf_counter()
        text = _text.text_table(cfg.encoder, [train, valid, *evals.values()], ctx, str(device),
                                datasets=spec.data.datasets)
        timings["text_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    fitted = fit(arch, train, valid, cfg, spec.seed, device, text, text_cfg)
    timings["train_s"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    predictions, unknown = {}, {}
    for domain, frame in evals.items():
        encoded = fitted.encode(frame)
        predictions[domain] = trial_data.as_predictions(
            frame, score(fitted.model, encoded, device))
        unknown[domain] = float((encoded.target == UNKNOWN).float().mean()) if len(frame) else 0.0
    timings["score_s"] = time.perf_counter() - t1
    extra = fitted.extra()
    extra.update({"device": str(device), "n_train": len(train), "n_valid": len(valid),
                  "unknown_target_rate": unknown})
    if arch.text:
        extra["encoder"] = cfg.encoder
    if arch.text_sized:
        extra.update(text_cfg.model_dump())
    return MethodOutput(predictions=predictions, split=spec.eval.split, timings=timings,
                        extra=extra)
