"""The dense Hessian of a tiny model by double back-propagation, one row per parameter entry: the reference the
estimators in :mod:`mpqlab.analysis.hessian` are tested against."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from .params import as_batches, preserved, select_params


def exact_hessian(model: nn.Module, data, loss_fn: Callable = F.cross_entropy, params="weights") -> torch.Tensor:
    """The dense Hessian of a tiny model (reference for tests), in the parameter order of ``Hessian``."""
    named = select_params(model, params)
    ps = [p for _, p in named]
    x, y = as_batches(data)[0]
    with preserved(model):
        grads = torch.autograd.grad(loss_fn(model(x), y), ps, create_graph=True)
        flat = torch.cat([g.reshape(-1) for g in grads])
        rows = [torch.cat([h.reshape(-1) for h in torch.autograd.grad(flat[i], ps, retain_graph=True)])
                for i in range(flat.numel())]
    return torch.stack(rows).detach()
