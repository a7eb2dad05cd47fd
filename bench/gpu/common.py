"""Shared pieces of the GPU check: one step's record, device facts, peak FLOP/s, memory, MFU."""
from __future__ import annotations

import gc
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# Dense bf16/fp16 tensor-core peak (no sparsity), from NVIDIA's data sheets. Matched on
# torch.cuda.get_device_name(): the first key contained in the name wins.
PEAK_TFLOPS = (("H200", 989.0), ("H100 NVL", 835.0), ("H100 PCIe", 756.0), ("H100", 989.0),
               ("GH200", 989.0), ("A100", 312.0), ("L40S", 362.0), ("A10G", 70.0))


def peak_tflops(name: str) -> float | None:
    for key, value in PEAK_TFLOPS:
        if key.lower() in name.lower():
            return value
    return None


@dataclass
class Step:
    name: str
    status: str = "not run"           # ok | failed | skipped | not run
    seconds: float = 0.0
    error: str | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"name": self.name, "status": self.status, "seconds": round(self.seconds, 2),
                "error": self.error, **self.data}


def overall(rows: list[dict]) -> str:
    """A step's status from its rows: ok when none failed, failed when none ran, else partial."""
    failed = sum(r.get("status") == "failed" for r in rows)
    ran = sum(r.get("status") == "ok" for r in rows)
    return "ok" if not failed and ran else ("failed" if not ran else "partial")


def one_line(exc: BaseException, limit: int = 300) -> str:
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text[:limit] + ("..." if len(text) > limit else "")


def run_step(name: str, fn: Callable[[], dict], *, deadline: float | None = None) -> Step:
    """Run one step; any exception becomes a `failed` record (with its traceback's tail), never a
    stop. A step whose turn comes after `deadline` (time.monotonic()) is `skipped`."""
    step = Step(name)
    if deadline is not None and time.monotonic() > deadline:
        step.status, step.error = "skipped", "out of time (the check's --budget-s was spent)"
        return step
    t0 = time.perf_counter()
    try:
        out = fn() or {}
        step.status = out.pop("status", "ok")
        step.error = out.pop("error", None)
        step.data = out
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        step.status, step.error = "failed", one_line(exc)
        step.data = {"traceback": "".join(traceback.format_exception(exc))[-3000:]}
    finally:
        step.seconds = time.perf_counter() - t0
        free_cuda()
    return step


def free_cuda() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001
        pass


def device_facts(device: str) -> dict:
    import platform

    import torch

    facts = {"device": device, "python": platform.python_version(), "torch": torch.__version__,
             "cuda": torch.version.cuda}
    for mod in ("transformers", "peft", "accelerate", "bitsandbytes", "deepspeed", "ray", "flash_attn"):
        try:
            facts[mod] = __import__(mod).__version__
        except Exception:  # noqa: BLE001 - absent or broken: recorded as None
            facts[mod] = None
    if device.startswith("cuda"):
        props = torch.cuda.get_device_properties(0)
        facts.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                     gpu_mem_gb=round(props.total_memory / 1e9, 1), capability=f"{props.major}.{props.minor}",
                     peak_tflops_bf16=peak_tflops(torch.cuda.get_device_name(0)))
    else:
        facts.update(gpu=None, peak_tflops_bf16=None, cpu=platform.processor() or platform.machine())
    return facts


def reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_mb(device: str) -> float | None:
    import torch

    if not device.startswith("cuda"):
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def sync(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def llama_matmul_params(config) -> int:
    """Parameters that take part in a matmul per token: every decoder linear plus the LM head
    (embedding lookups and norms excluded)."""
    h, i, L = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    kv = h * config.num_key_value_heads // config.num_attention_heads
    return L * (2 * h * h + 2 * h * kv + 3 * h * i) + config.vocab_size * h


def lora_mfu(n_params: int, tokens: int, seconds: float, peak: float | None) -> float | None:
    """Model FLOP utilisation of LoRA training on a frozen base: 4 * N FLOPs per token (forward
    2N, backward through the activations 2N; the frozen weights get no gradient, the LoRA
    matrices and attention scores are left out), over the card's dense bf16 peak."""
    if not peak or seconds <= 0:
        return None
    return 4.0 * n_params * tokens / seconds / (peak * 1e12)
