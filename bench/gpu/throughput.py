"""Step c: LoRA training throughput on a LLaMA-7B-shaped model, three set-ups side by side.

* `tallrec-8bit-fp16-pad`: TALLRec's: int8 base (bitsandbytes LLM.int8, threshold 6.0, as
  `BitsAndBytesConfig(load_in_8bit=True)`), `prepare_model_for_kbit_training`, fp16 autocast
  with a gradient scaler, batches right-padded to the longest (models/training.PadCollator).
* `bf16-pad`: bfloat16 base, bf16 autocast, the same padded batches.
* `bf16-packed`: bfloat16 base, padding-free: transformers' DataCollatorWithFlattening (one
  row, position ids restarting per example); attention is flash-attention varlen where
  `flash_attn` is importable, else SDPA with the block-diagonal mask transformers derives from
  the position ids.

The base is random-initialised from a config (no weights travel); LoRA r=8, alpha 16 on q_proj
and v_proj (TALLRec's). Examples are real TALLRec prompts plus answers (gpu_assets/samples.json)
tokenised with the LLaMA tokenizer, cut at `cutoff` tokens. A plain loop (forward, backward,
AdamW step) times `steps` micro-batches after `warmup`; tokens/s counts real (non-padding)
tokens, MFU = 4 * N * tokens / s / peak (bench/gpu/common.lora_mfu).
"""
from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from bench.gpu.common import (
    free_cuda,
    llama_matmul_params,
    lora_mfu,
    one_line,
    peak_mb,
    reset_peak,
    sync,
)

SETUPS = ("tallrec-8bit-fp16-pad", "bf16-pad", "bf16-packed")


def training_examples(tokenizer, samples_path: Path, n: int, cutoff: int, template: str = "alpaca") -> list[dict]:
    """n tokenised examples (cycling through every row of samples.json)."""
    import pandas as pd

    from models.training import tokenize_examples

    blob = json.loads(Path(samples_path).read_text())
    rows = [r for splits in blob["domains"].values() for split in ("train", "valid", "test")
            for r in splits.get(split, [])]
    frame = pd.DataFrame(list(itertools.islice(itertools.cycle(rows), n)))
    return tokenize_examples(tokenizer, frame, template, cutoff, train_on_inputs=True)


def quantize_8bit(model, device: str):
    """Swap every decoder linear for a bitsandbytes int8 one, as from_pretrained(load_in_8bit)
    does (the LM head stays in 16 bits, as transformers keeps it)."""
    import bitsandbytes as bnb
    import torch

    for layer in model.model.layers:
        for parent in (layer.self_attn, layer.mlp):
            for name, lin in list(parent.named_children()):
                if not isinstance(lin, torch.nn.Linear):
                    continue
                new = bnb.nn.Linear8bitLt(lin.in_features, lin.out_features, bias=lin.bias is not None,
                                          has_fp16_weights=False, threshold=6.0)
                new.weight = bnb.nn.Int8Params(lin.weight.data.to("cpu", torch.float16), requires_grad=False,
                                               has_fp16_weights=False)
                setattr(parent, name, new.to(device))  # moving to CUDA quantises
                del lin
    model.is_loaded_in_8bit = True
    free_cuda()
    return model


def build_base(kind: str, tokenizer_dir: Path, shape: str, device: str):
    import torch

    from bench.gpu.assets import build_random_llama

    dtype = torch.float16 if kind == "8bit" else torch.bfloat16
    model = build_random_llama(tokenizer_dir, shape, None, device=device, dtype=dtype)
    model.config.use_cache = False
    if kind == "8bit":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(quantize_8bit(model, device), use_gradient_checkpointing=False)
    return model


def with_lora(model, seed: int = 0):
    import torch
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    cfg = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["q_proj", "v_proj"],
                     bias="none", task_type="CAUSAL_LM")
    return get_peft_model(model, cfg)


def collator(kind: str, pad_id: int):
    if kind == "packed":
        from transformers import DataCollatorWithFlattening

        flat = DataCollatorWithFlattening(return_position_ids=True, separator_id=-100)
        return lambda batch: flat([{"input_ids": b["input_ids"], "labels": b["labels"]} for b in batch])
    from models.training import PadCollator

    return PadCollator(pad_id)


def train_steps(model, batches: list[dict], device: str, amp_dtype, steps: int, warmup: int) -> dict:
    """Forward/backward/AdamW on `warmup` then `steps` batches; the timed part is the latter."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    scaler = torch.amp.GradScaler("cuda") if amp_dtype == torch.float16 and device.startswith("cuda") else None
    autocast = torch.autocast(device_type=device.split(":")[0], dtype=amp_dtype,
                              enabled=amp_dtype is not None)
    model.train()
    computed = 0
    losses = []
    t0 = None
    for i, batch in enumerate(batches[: warmup + steps]):
        if i == warmup:
            sync(device)
            t0 = time.perf_counter()
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast:
            loss = model(**batch, use_cache=False).loss  # with a cache, packing is not detected
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        else:
            loss.backward()
            opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if i >= warmup:
            computed += int(batch["input_ids"].numel())
    sync(device)
    seconds = time.perf_counter() - t0
    model.eval()
    return {"seconds": seconds, "computed_tokens": computed, "losses": losses}


def measure(setup: str, base, tokenizer, examples: list[dict], device: str, micro_batch: int, steps: int,
            warmup: int, n_params: int, peak: float | None) -> dict:
    import torch

    packed = setup.endswith("packed")
    amp = torch.float16 if setup.startswith("tallrec") else torch.bfloat16
    if not device.startswith("cuda") and amp == torch.float16:
        amp = None  # fp16 autocast is a GPU thing; the CPU rehearsal runs fp32 there
    row = {"setup": setup, "micro_batch": micro_batch, "attention": base.config._attn_implementation}
    if packed:
        import importlib.util

        if importlib.util.find_spec("flash_attn") is not None and device.startswith("cuda"):
            base.set_attn_implementation("flash_attention_2")
        row["attention"] = base.config._attn_implementation
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    while True:
        collate = collator("packed" if packed else "pad", pad)
        chunks = [examples[i:i + micro_batch] for i in range(0, (warmup + steps) * micro_batch, micro_batch)]
        batches = [collate(c) for c in chunks]
        model = with_lora(base)
        reset_peak(device)
        try:
            out = train_steps(model, batches, device, amp, steps, warmup)
            out["real_tokens"] = sum(len(e["input_ids"]) for c in chunks[warmup:] for e in c)
            break
        except torch.OutOfMemoryError as exc:
            row.setdefault("oom", []).append(f"micro_batch {micro_batch}: {one_line(exc, 120)}")
            free_cuda()
            if micro_batch <= 1:
                raise
            micro_batch //= 2
            row["micro_batch"] = micro_batch
        finally:
            model.unload() if hasattr(model, "unload") else None
            if packed and base.config._attn_implementation != "sdpa":
                base.set_attn_implementation("sdpa")
    tps = out["real_tokens"] / out["seconds"]
    row.update(steps=steps, seconds=round(out["seconds"], 3), tokens_per_s=round(tps, 1),
               computed_tokens_per_s=round(out["computed_tokens"] / out["seconds"], 1),
               padding_share=round(1 - out["real_tokens"] / max(out["computed_tokens"], 1), 3),
               s_per_step=round(out["seconds"] / steps, 3),
               mfu=None if lora_mfu(n_params, out["real_tokens"], out["seconds"], peak) is None
               else round(lora_mfu(n_params, out["real_tokens"], out["seconds"], peak), 4),
               peak_mb=peak_mb(device), final_loss=round(out["losses"][-1], 4))
    return row


def run(device: str, assets: Path, *, tiny: bool = False, peak: float | None = None, steps: int = 6,
        warmup: int = 2, micro_batch: int = 16, cutoff: int = 512, setups=SETUPS, keep: dict | None = None) -> dict:
    """Every set-up in one process; a set-up's failure is recorded in its row. With `keep`, the
    bf16 base is left in keep["bf16_base"] for step d."""
    import torch
    from transformers import AutoTokenizer

    tok_dir = Path(assets) / "tokenizers" / "llama"
    tok = AutoTokenizer.from_pretrained(str(tok_dir))
    if tok.pad_token_id is None:
        tok.pad_token = tok.unk_token or tok.eos_token
    shape = "tiny" if tiny else "llama7b"
    examples = training_examples(tok, Path(assets) / "samples.json", (warmup + steps) * micro_batch, cutoff)
    lengths = [len(e["input_ids"]) for e in examples]
    rows, bases = [], {}
    order = sorted(setups, key=lambda s: s.startswith("tallrec"))  # bf16 first: its base is shared
    for setup in order:
        kind = "8bit" if setup.startswith("tallrec") else "bf16"
        t0 = time.perf_counter()
        try:
            if kind == "8bit" and not device.startswith("cuda"):
                rows.append({"setup": setup, "status": "skipped", "error": "8-bit needs CUDA (bitsandbytes)"})
                continue
            if kind not in bases:
                bases[kind] = build_base(kind, tok_dir, shape, device)
            build_s = time.perf_counter() - t0
            n_params = llama_matmul_params(bases[kind].config)
            row = measure(setup, bases[kind], tok, examples, device, micro_batch, steps, warmup, n_params, peak)
            rows.append({"status": "ok", "build_s": round(build_s, 2), **row})
        except Exception as exc:  # noqa: BLE001 - recorded; the other set-ups still run
            rows.append({"setup": setup, "status": "failed", "error": one_line(exc)})
        finally:
            if kind == "8bit" and "8bit" in bases:
                del bases["8bit"]
                free_cuda()
    rows.sort(key=lambda r: SETUPS.index(r["setup"]) if r["setup"] in SETUPS else 99)
    if keep is not None and "bf16" in bases:
        keep["bf16_base"], keep["tokenizer"] = bases.pop("bf16"), tok
    bases.clear()
    free_cuda()
    from transformers import LlamaConfig

    from bench.gpu.assets import SHAPES
    from bench.gpu.common import overall

    return {"status": overall(rows),
            "model_shape": shape,
            "matmul_params": llama_matmul_params(LlamaConfig(vocab_size=len(tok), **SHAPES[shape])),
            "mfu_formula": "4 * matmul_params * real_tokens / seconds / peak_bf16_dense",
            "cutoff": cutoff, "tokens_per_example": {"mean": round(sum(lengths) / len(lengths), 1),
                                                      "max": max(lengths), "min": min(lengths)},
            "torch_dtype_default": str(torch.get_default_dtype()), "rows": rows}
