"""BatchNorm running statistics under a bit policy: re-estimated from forward passes, without touching a weight.

A checkpoint's BatchNorm statistics were gathered in full precision; quantizing the layers below them shifts the
means and variances each BatchNorm sees. :func:`reestimate_bn` replaces them with the exact (cumulative, not
exponential) averages over ``batches`` of the quantized model's own batch statistics (as
``torch.optim.swa_utils.update_bn`` does for averaged weights). Nothing but the running buffers changes: weights,
affine parameters and quantizer steps / clips are left as they are.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn as nn

from ..core.batchnorm_state import batchnorms  # noqa: F401 (re-exported)
from ..core.errors import MpqlabError


@torch.no_grad()
def reestimate_bn(model: nn.Module, batches: Iterable[torch.Tensor]) -> int:
    """Reset every BatchNorm's running statistics and re-estimate them as the plain mean over ``batches`` (input
    tensors) of the batch statistics, forward passes only; returns the number of images seen. The model's
    train / eval mode and each BatchNorm's momentum are restored."""
    bns = batchnorms(model)
    if not bns:
        raise MpqlabError("reestimate_bn: the model has no BatchNorm with running statistics")
    saved = [(m, m.momentum) for m in bns]
    was_training = model.training
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative moving average: every batch weighs the same
    seen = 0
    model.train()
    try:
        for x in batches:
            model(x)
            seen += len(x)
    finally:
        for m, momentum in saved:
            m.momentum = momentum
        model.train(was_training)
    if seen == 0:
        raise MpqlabError("reestimate_bn: no batch given")
    return seen
