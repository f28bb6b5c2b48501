"""BatchNorm's running statistics as state, in one place: which modules hold them, a pass that leaves them
exactly as they were, and BatchNorm on its running statistics during training (the search's ``freeze_bn``)."""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn


def batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every BatchNorm module of ``model`` that tracks running statistics."""
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]


@contextlib.contextmanager
def frozen_bn_stats(model: nn.Module):
    """Run forward passes without changing any BatchNorm running statistics (restored exactly on exit)."""
    saved = [(m, [b.clone() for b in (m.running_mean, m.running_var, m.num_batches_tracked)])
             for m in batchnorms(model)]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, (mean, var, n) in saved:
                m.running_mean.copy_(mean)
                m.running_var.copy_(var)
                m.num_batches_tracked.copy_(n)


def use_running_stats(model: nn.Module) -> None:
    """Put every BatchNorm in eval mode (normalise with its running statistics, update none) while the rest of the
    model trains."""
    for m in batchnorms(model):
        m.eval()
