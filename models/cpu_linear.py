"""Inference-only float32 linear layers through oneDNN with pre-packed weights, on a CPU.

torch runs `nn.Linear` on a CPU through MKL's sgemm, which reads the weight in its plain layout
on every call. oneDNN with the weight reordered once into its blocked layout (what
torch.compile's CPU weight freezing does, through the same two ops) runs the same float32
products faster: 12-13% less scoring time on the 2-core AMD EPYC of docs/performance.md. The
arithmetic stays float32 (sums in another order: differences of ~1e-6 relative), so scores
stay equal to generate()'s within the tested 1e-4.

The ops are torch's own (`torch.ops.mkldnn`) but not a documented API, so they are probed once
against `F.linear`; where they are missing or disagree, nothing is patched.
"""
from __future__ import annotations

import contextlib
import functools

MIN_PACKED_WEIGHT = 65_536  # elements: a LoRA A/B (rank x hidden) is not worth a packed copy
MAX_PACKED_BYTES = 2 << 30  # the packed copies live while a call scores: a 7B fp32 model is left alone
BATCH_HINT = 1024  # rows oneDNN picks its blocking for (the scorer's CPU batch budget)


@functools.cache
def available() -> bool:
    """oneDNN's packed linear exists in this torch and agrees with F.linear on a probe."""
    import torch

    try:
        if not torch.backends.mkldnn.is_available():
            return False
        gen = torch.Generator().manual_seed(0)
        x, w, b = (torch.randn(*s, generator=gen) for s in ((5, 3, 64), (96, 64), (96,)))
        with torch.inference_mode():
            got = _packed_forward(x, _pack(w), b)
            want = torch.nn.functional.linear(x, w, b)
        return got.shape == want.shape and bool(torch.allclose(got, want, rtol=1e-4, atol=1e-4))
    except Exception:  # an op renamed or removed in this torch: keep the plain path
        return False


def _pack(weight):
    import torch

    return torch.ops.mkldnn._reorder_linear_weight(weight.detach(), BATCH_HINT)


def _packed_forward(x, packed, bias):
    import torch

    return torch.ops.mkldnn._linear_pointwise(x, packed, bias, "none", [], "")


def packable(model) -> list:
    """The float32 CPU `nn.Linear` modules worth packing (not the vocabulary projection, which
    sees one row per prompt; not modules whose forward a library has already wrapped)."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    mods = [m for m in model.modules()
            if type(m) is torch.nn.Linear and m is not head and "forward" not in m.__dict__
            and m.weight.device.type == "cpu" and m.weight.dtype == torch.float32
            and m.weight.numel() >= MIN_PACKED_WEIGHT]
    return mods if sum(m.weight.numel() * 4 for m in mods) <= MAX_PACKED_BYTES else []


@contextlib.contextmanager
def packed_linears(model):
    """Within the block (which must not need gradients), the model's packable linears run on
    weights packed at entry; yields how many. The weights must not change inside the block."""
    import torch

    if torch.is_grad_enabled() or not available():
        yield 0
        return
    mods = packable(model)
    try:
        for m in mods:
            plain = m.forward
            m.forward = functools.partial(_forward, plain, _pack(m.weight), m.bias)
        yield len(mods)
    finally:
        for m in mods:
            m.__dict__.pop("forward", None)


def _forward(plain, packed, bias, x, *args, **kwargs):
    import torch

    if x.dtype != torch.float32 or x.device.type != "cpu" or args or kwargs:
        return plain(x, *args, **kwargs)
    return _packed_forward(x, packed, bias)
