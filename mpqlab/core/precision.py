"""Arithmetic precision of full-precision training: float32, or bfloat16 autocast (mixed precision).

Under ``bf16`` the forward pass runs its convolutions and matrix products in bfloat16 (``torch.autocast``);
weights, gradients, optimizer state and the loss stay float32, and evaluation is always float32. On a CPU with
AMX tiles (Intel Sapphire Rapids and later) oneDNN runs bfloat16 convolutions on them, which
``benchmarks/train_step.py`` measured at 1.89x and 1.86x a float32 step (two runs of 100 rounds); without AMX
bfloat16 is emulated and no faster, so ``auto`` keeps float32 there. **[choice]** ``auto`` is the default of
``mpqlab train`` only: the quantized fine-tunes and searches keep float32, where the fake quantizers' rounding
steps would otherwise meet bfloat16's 8-bit mantissa (at low bits, values moved across a 2-bit rounding boundary
compound over the layers). A search, a transfer or
a grid (``precision`` in its ``search`` and ``target`` blocks) opts in; what that does to a whole cell's top-1 and
cost is measured by ``benchmarks/cell_precision.py``.
"""
from __future__ import annotations

import contextlib

import torch

from .errors import MpqlabError

PRECISIONS = {"auto": "bf16 where the device runs it natively (CUDA with bf16, a CPU with AMX), else fp32",
              "fp32": "float32 throughout",
              "bf16": "bfloat16 autocast in the forward pass; float32 weights, gradients and optimizer state"}


def native_bf16(device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively: a CUDA device that supports bf16, or a CPU with
    AMX tiles (checked through torch's CPU feature probe; False where this torch lacks the probe)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
        return bool(probe()) if probe is not None else False
    return False


def resolve_precision(precision: str, device) -> str:
    """``fp32`` or ``bf16`` for ``precision`` (``auto`` decided by :func:`native_bf16`); a clear error for
    anything else."""
    if precision not in PRECISIONS:
        raise MpqlabError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    return precision


def autocast(precision: str, device):
    """The context the forward pass runs in: ``torch.autocast`` in bfloat16 for ``bf16``, nothing for ``fp32``."""
    if precision == "bf16":
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batch_layout(x, channels_last: bool):
    """A batch in the memory layout its network runs in: channels-last for an image batch (4-d) when
    ``channels_last``, else unchanged. Training and the search convert every batch through this one function."""
    return x.contiguous(memory_format=torch.channels_last) if channels_last and x.dim() == 4 else x


def weights_layout(module, channels_last: bool):
    """``module`` with its 4-d tensors (convolution weights and any 4-d buffer) in channels-last when
    ``channels_last``; tensors of any other rank untouched (``Module.to(memory_format=...)`` would try 5-d ones
    too). Returns the module."""
    if channels_last:
        for t in [*module.parameters(), *module.buffers()]:
            if t.dim() == 4:
                t.data = t.data.contiguous(memory_format=torch.channels_last)
    return module
