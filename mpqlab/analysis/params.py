"""What every analysis shares: which parameters it differentiates, a model's state kept intact around it, the data
as a list of batches."""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from ..core.errors import MpqlabError
from ..quant.quantizers import is_bit_logit, is_quantizer_param


def is_search_param(name: str) -> bool:
    """Whether a parameter name is a quantizer's (step, clip) or a bit logit: not a network weight."""
    return is_quantizer_param(name) or is_bit_logit(name)


def select_params(model: nn.Module, params="weights") -> list[tuple[str, nn.Parameter]]:
    """The (name, parameter) pairs an analysis differentiates: ``"weights"`` (network weights, BatchNorm, biases;
    not quantizer steps / clips or bit logits), ``"all"`` trainable parameters, or a list of names."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if params == "all":
        return named
    if params == "weights":
        return [(n, p) for n, p in named if not is_search_param(n)]
    if isinstance(params, (list, tuple)):
        wanted = set(params)
        unknown = wanted - {n for n, _ in named}
        if unknown:
            raise MpqlabError(f"no trainable parameters named {', '.join(sorted(unknown))}")
        return [(n, p) for n, p in named if n in wanted]
    raise MpqlabError(f"params must be 'weights', 'all' or a list of names, got {params!r}")


@contextlib.contextmanager
def ieee_float32():
    """Matrix products and convolutions in IEEE float32 while inside: TensorFloat-32 off on CUDA (restored on exit).
    Curvature is a second derivative, and TF32's 10-bit mantissa shows in it: on an H200, a ResNet-20
    Hessian-vector product with TF32 convolutions was 5e-3 (relative) off the CPU's."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def preserved(model: nn.Module):
    """Restore train/eval mode of every module, every buffer (BatchNorm statistics) and every ``.grad``; inside,
    arithmetic is IEEE float32 (:func:`ieee_float32`)."""
    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    grads = [(p, None if p.grad is None else p.grad.detach().clone()) for p in model.parameters()]
    try:
        with ieee_float32():
            yield
    finally:
        for m, t in modes:
            m.training = t
        with torch.no_grad():
            for b, v in buffers:
                if not torch.equal(b, v):  # an unchanged buffer keeps its version (it may be in a saved graph)
                    b.copy_(v)
        for p, g in grads:
            p.grad = g


def as_batches(data) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One ``(x, y)`` batch or an iterable of them, as a non-empty list of batches."""
    if isinstance(data, tuple) and len(data) == 2 and isinstance(data[0], torch.Tensor):
        return [data]
    batches = list(data)
    if not batches:
        raise MpqlabError("Hessian needs at least one (inputs, targets) batch")
    return batches


def uses_batch_statistics(model: nn.Module) -> bool:
    """True when a normalisation layer in training mode couples the samples of a batch (then the Hessian of a
    batch is not the average of the Hessians of its parts, and the data must not be split)."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None)
               for m in model.modules())
