"""The shared protocol of the sequential-recommender baselines (TALLRec, Section 4.1).

Every baseline (gru4rec, caser, sasrec, dros, gru-bert, dros-bert) goes through `run_seqrec`:

* **Input**: the (up to) 10 history item ids of a sample with their like/dislike labels; a
  history shorter than 10 is padded on the right with the user's last item (and its label), an
  empty one with the unknown item. Each position is `item_embedding + label_embedding` (the
  -BERT variants concatenate the frozen text embedding of the item).
* **Ids**: one vocabulary built from the training samples (history items and targets), keyed by
  (domain, item_id) so a movie id and an ISBN never collide (train_mix `both` shares it); index 0
  is the shared unknown item every id unseen in training maps to.
* **Output**: `score = <h, q_target> + b_target`, with h the backbone's state after the history
  and q / b an output embedding and bias per item (the original models' final
  `Linear(hidden, n_items)`).
* **Training**: MSE between the score and the 0/1 label; Adam, learning rate `cfg.learning_rate`
  (1e-3); one model per weight decay in `cfg.weight_decays`, each early-stopped on validation AUC
  (`cfg.patience` epochs without a new best, at most `cfg.epochs`); the decay whose best epoch has
  the highest validation AUC is kept (ties: the first in the list) and only that model scores the
  eval split. The test split is never looked at before the choice.
* **Determinism**: every decay starts from the same seeded initialisation and the same seeded
  batch order, inside `torch.random.fork_rng`, so a run never disturbs the caller's RNG.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from harness import trial_data
from harness.config import BaselineConfig
from harness.errors import HarnessError
from harness.result import MethodOutput

HISTORY_LEN = 10
UNKNOWN = 0            # vocabulary index of the shared unknown item
NO_TEXT = 0            # text-table row of "no text" (a zero vector)
SCORE_CHUNK = 1024     # rows per forward pass when scoring


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------

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


# --------------------------------------------------------------------------------------------
# Encoding samples
# --------------------------------------------------------------------------------------------

def item_key(domain, item_id) -> tuple[str, str]:
    return (str(domain), str(item_id))


def sample_keys(frame: pd.DataFrame) -> Iterable[tuple[str, str]]:
    """Every (domain, item_id) a sample frame mentions: history items and targets."""
    for domain, items, target in zip(frame["domain"], frame["history_item_ids"],
                                     frame["target_item_id"]):
        for item in list(items):
            yield item_key(domain, item)
        yield item_key(domain, target)


class ItemVocab:
    """Item ids seen in training -> 1..n (sorted keys, so deterministic); anything else -> 0."""

    def __init__(self, keys: Iterable[tuple[str, str]]):
        self.keys = sorted(set(keys))
        self._index = {k: i + 1 for i, k in enumerate(self.keys)}

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> "ItemVocab":
        return cls(sample_keys(frame))

    def __len__(self) -> int:           # including the unknown item
        return len(self.keys) + 1

    def index(self, key: tuple[str, str]) -> int:
        return self._index.get(key, UNKNOWN)


@dataclass
class TextTable:
    """Frozen text embeddings: row 0 = zeros (no text), then one row per (domain, item_id)."""
    keys: list[tuple[str, str]]
    matrix: torch.Tensor                   # [len(keys) + 1, dim], float32
    _index: dict = field(default_factory=dict, repr=False)

    def __post_init__(self):
        if self.matrix.shape[0] != len(self.keys) + 1:
            raise ValueError("text table: matrix needs one row per key plus the zero row")
        self._index = {k: i + 1 for i, k in enumerate(self.keys)}

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def index(self, key: tuple[str, str]) -> int:
        return self._index.get(key, NO_TEXT)

    @classmethod
    def from_vectors(cls, vectors: dict[tuple[str, str], np.ndarray]) -> "TextTable":
        keys = sorted(vectors)
        dim = len(next(iter(vectors.values()))) if vectors else 1
        rows = [np.zeros(dim, dtype=np.float32)] + [np.asarray(vectors[k], np.float32) for k in keys]
        return cls(keys, torch.from_numpy(np.stack(rows)))


@dataclass
class Encoded:
    """A sample frame as tensors (one row per sample)."""
    hist: torch.Tensor                  # [N, L] vocab indices
    hist_labels: torch.Tensor           # [N, L] 0/1
    target: torch.Tensor                # [N] vocab indices
    labels: torch.Tensor                # [N] float 0/1
    hist_text: torch.Tensor | None = None    # [N, L] text-table rows
    target_text: torch.Tensor | None = None  # [N]

    def __len__(self) -> int:
        return int(self.target.shape[0])

    def _map(self, fn) -> "Encoded":
        return Encoded(*(None if t is None else fn(t) for t in
                         (self.hist, self.hist_labels, self.target, self.labels,
                          self.hist_text, self.target_text)))

    def subset(self, index: torch.Tensor | slice) -> "Encoded":
        return self._map(lambda t: t[index])

    def to(self, device) -> "Encoded":
        return self._map(lambda t: t.to(device))


def pad_history(items, labels, length: int = HISTORY_LEN) -> tuple[list, list[int]]:
    """Keep the last `length` (item, label) pairs; pad on the right with the last one.

    An empty history becomes `length` unknown items (None) with label 0.
    """
    items, labels = list(items)[-length:], [int(x) for x in list(labels)[-length:]]
    if len(items) != len(labels):
        raise ValueError(f"history has {len(items)} items but {len(labels)} labels")
    if not items:
        return [None] * length, [0] * length
    pad = length - len(items)
    return items + [items[-1]] * pad, labels + [labels[-1]] * pad


def encode(frame: pd.DataFrame, vocab: ItemVocab, text: TextTable | None = None,
           length: int = HISTORY_LEN) -> Encoded:
    n = len(frame)
    hist = np.zeros((n, length), dtype=np.int64)
    hist_labels = np.zeros((n, length), dtype=np.int64)
    target = np.zeros(n, dtype=np.int64)
    hist_text = np.zeros((n, length), dtype=np.int64) if text is not None else None
    target_text = np.zeros(n, dtype=np.int64) if text is not None else None
    rows = zip(frame["domain"], frame["history_item_ids"], frame["history_labels"],
               frame["target_item_id"])
    for r, (domain, items, labels, tgt) in enumerate(rows):
        items, labels = pad_history(items, labels, length)
        keys = [None if i is None else item_key(domain, i) for i in items]
        hist[r] = [UNKNOWN if k is None else vocab.index(k) for k in keys]
        hist_labels[r] = labels
        target[r] = vocab.index(item_key(domain, tgt))
        if text is not None:
            hist_text[r] = [NO_TEXT if k is None else text.index(k) for k in keys]
            target_text[r] = text.index(item_key(domain, tgt))
    y = frame["label"].astype(int).to_numpy() if "label" in frame else np.zeros(n, dtype=int)
    if not set(np.unique(y)) <= {0, 1}:
        raise ValueError("labels must be 0/1")
    as_t = (lambda a: None if a is None else torch.from_numpy(a))
    return Encoded(as_t(hist), as_t(hist_labels), as_t(target),
                   torch.from_numpy(y.astype(np.float32)), as_t(hist_text), as_t(target_text))


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Dims:
    """What a model's constructor needs to know about the data and the config."""
    n_items: int                               # vocabulary size, unknown included
    embedding_dim: int = 64
    hidden_size: int = 64
    history_len: int = HISTORY_LEN
    num_layers: int = 1                        # GRU layers (the -BERT variants: 4)
    text: torch.Tensor | None = None           # frozen text table [T, D]
    vocab_text: torch.Tensor | None = None     # [n_items] text row of every vocabulary item


class SeqRecModel(nn.Module):
    """Base of every baseline: embeds (item, label) histories, scores a target item.

    A subclass builds its backbone in __init__ (input width `self.input_dim`) and implements
    `backbone(x: [B, L, input_dim]) -> [B, out_dim]`.
    """

    def __init__(self, dims: Dims, out_dim: int):
        super().__init__()
        self.dims, self.out_dim = dims, out_dim
        self.item_in = nn.Embedding(dims.n_items, dims.embedding_dim)
        self.label_in = nn.Embedding(2, dims.embedding_dim)
        self.item_out = nn.Embedding(dims.n_items, out_dim)
        self.item_bias = nn.Embedding(dims.n_items, 1)
        self.global_bias = nn.Parameter(torch.zeros(()))
        nn.init.normal_(self.item_in.weight, std=0.1)
        nn.init.normal_(self.label_in.weight, std=0.1)
        nn.init.normal_(self.item_out.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)
        with torch.no_grad():
            # The shared unknown item starts as "no information": an unknown history item adds
            # only its label embedding, an unknown target scores the global bias (-BERT: plus
            # what its text says). K-shot training never shows it, so it stays that way.
            self.item_in.weight[UNKNOWN].zero_()
            self.item_out.weight[UNKNOWN].zero_()
        self.uses_text = dims.text is not None
        text_dim = 0
        if self.uses_text:
            # Frozen, and not part of state_dict(): only the trainable weights are checkpointed.
            self.register_buffer("text", dims.text.float(), persistent=False)
            vocab_text = (dims.vocab_text if dims.vocab_text is not None
                          else torch.zeros(dims.n_items, dtype=torch.long))
            self.register_buffer("vocab_text", vocab_text.long(), persistent=False)
            text_dim = int(dims.text.shape[1])
            self.out_proj = nn.Linear(out_dim + text_dim, out_dim)
        self.input_dim = dims.embedding_dim + text_dim

    def tokens(self, b: Encoded) -> torch.Tensor:
        x = self.item_in(b.hist) + self.label_in(b.hist_labels)
        if self.uses_text:
            x = torch.cat([x, self.text[b.hist_text]], dim=-1)
        return x

    def backbone(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def item_vectors(self, ids: torch.Tensor, text_rows: torch.Tensor | None) -> torch.Tensor:
        q = self.item_out(ids)
        if self.uses_text:
            q = self.out_proj(torch.cat([q, self.text[text_rows]], dim=-1))
        return q

    def forward(self, b: Encoded, return_hidden: bool = False):
        h = self.backbone(self.tokens(b))
        q = self.item_vectors(b.target, b.target_text)
        scores = (h * q).sum(-1) + self.item_bias(b.target).squeeze(-1) + self.global_bias
        return (scores, h) if return_hidden else scores

    def all_item_scores(self, h: torch.Tensor) -> torch.Tensor:
        """Scores of every known item (vocabulary 1..n-1) for each state: [B, n_items - 1]."""
        ids = torch.arange(1, self.dims.n_items, device=h.device)
        q = self.item_vectors(ids, self.vocab_text[ids] if self.uses_text else None)
        return h @ q.T + self.item_bias.weight[1:, 0] + self.global_bias


# --------------------------------------------------------------------------------------------
# Losses
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DroConfig:
    """DROS (Yang et al., SIGIR 2023): weight of the robust term and its temperature."""
    alpha: float = 0.1
    beta: float = 1.0
    propensity_power: float = 0.05


def propensity(train: Encoded, n_items: int, power: float = 0.05) -> torch.Tensor:
    """DROS's nominal distribution: ((target count + 1) / total) ** power, items 1..n-1."""
    counts = torch.bincount(train.target, minlength=n_items)[1:].double() + 1.0
    return (counts / counts.sum()).pow(power).float()


def dro_term(all_scores: torch.Tensor, target: torch.Tensor, labels: torch.Tensor,
             ps: torch.Tensor, beta: float) -> torch.Tensor:
    """log( sum_j exp(ps_j * s_j^2 / beta), with the target's term using its label ), averaged.

    DROS's implicit-feedback objective treats every catalogue item as a 0 and the target as a 1;
    here the target keeps its explicit label (a disliked target is pushed toward 0 like the rest).
    Computed with a max shift, so large scores cannot overflow.
    """
    a = ps * all_scores.pow(2) / beta                         # [B, V-1]
    known = target > UNKNOWN
    col = (target - 1).clamp(min=0).unsqueeze(1)
    s_t = all_scores.gather(1, col).squeeze(1)
    ps_t = ps[col.squeeze(1)]
    b = ps_t * s_t.pow(2) / beta                              # the target's "toward 0" term
    c = ps_t * (s_t - labels).pow(2) / beta                   # ... replaced by "toward label"
    m = torch.maximum(a.max(dim=1).values, c).detach()
    inner = torch.exp(a - m.unsqueeze(1)).sum(1)
    inner = inner + known.float() * (torch.exp(c - m) - torch.exp(b - m))
    return (torch.log(inner.clamp_min(1e-24)) + m).mean()


# --------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Arch:
    """One baseline: its YAML name, how to build it, and which protocol options it uses."""
    name: str
    build: Callable[[Dims], SeqRecModel]
    text: bool = False           # the -BERT variants
    dro: bool = False            # DROS objective
    text_sized: bool = False     # GRU sized by TextModelConfig (4 x 1024) instead of hidden_size


def score(model: SeqRecModel, data: Encoded, device, chunk: int = SCORE_CHUNK) -> np.ndarray:
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), chunk):
            out.append(model(data.subset(slice(start, start + chunk)).to(device)).float().cpu())
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0, dtype=np.float32)


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


# --------------------------------------------------------------------------------------------
# The method entry point
# --------------------------------------------------------------------------------------------

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
        text = _text.text_table(cfg.encoder, [train, valid, *evals.values()], ctx, str(device))
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
