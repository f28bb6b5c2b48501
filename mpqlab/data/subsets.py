"""Seeded, class-balanced subsets: the proxy set of a search and the fine-tune subset of a transfer."""
from __future__ import annotations

import torch

from ..core.errors import MpqlabError
from .tensors import TensorData
from ..core.seeding import generator


def class_balanced_indices(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """``per_class`` random indices of every class (sorted), drawn with a seeded generator."""
    g = generator(seed)
    out = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise MpqlabError(f"class {c} has {len(idx)} samples, fewer than the {per_class} asked for")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.sort(torch.cat(out)).values


def proxy_subset(data: TensorData, size: int | None = None, fraction: float | None = None, seed: int = 0,
                 val_fraction: float = 0.0) -> tuple[TensorData, TensorData | None]:
    """A seeded, class-balanced subset of ``data`` (``size`` samples or ``fraction`` of them), split into a
    proxy-train and a held-out proxy-val part (``val_fraction``, for the bi-level search). Returns (train, val)."""
    if (size is None) == (fraction is None):
        if size is None and fraction is None:
            size = len(data)
        else:
            raise MpqlabError("give the proxy subset a size or a fraction, not both")
    k = data.num_classes
    if size is None:
        if not 0 < fraction <= 1:
            raise MpqlabError(f"proxy fraction must be in (0, 1], got {fraction}")
        size = int(round(fraction * len(data)))
    if size < k or size > len(data):
        raise MpqlabError(f"proxy size {size} must be between {k} (one per class) and {len(data)}")
    idx = class_balanced_indices(data.labels, size // k, seed)
    sub = data.subset(idx, name=data.name)
    sub.info.update(proxy_seed=seed, proxy_size=len(idx))
    if val_fraction <= 0:
        return sub, None
    nval = max(1, int(round(val_fraction * size / k)))
    vidx = class_balanced_indices(sub.labels, nval, seed + 1)
    mask = torch.ones(len(sub), dtype=torch.bool)
    mask[vidx] = False
    return sub.subset(torch.nonzero(mask).flatten()), sub.subset(vidx)


def split_holdout(data: TensorData, size: int, seed: int = 0) -> tuple[TensorData, TensorData]:
    """``(rest, held_out)``: a seeded, class-balanced set of ``size`` samples taken out of ``data`` (a validation
    set no search sees) and everything else."""
    k = data.num_classes
    if not k <= size < len(data):
        raise MpqlabError(f"holdout of {size} samples must be between {k} (one per class) and {len(data) - 1}")
    held = class_balanced_indices(data.labels, size // k, seed)
    mask = torch.ones(len(data), dtype=torch.bool)
    mask[held] = False
    rest = data.subset(torch.nonzero(mask).flatten(), name=data.name)
    return rest, data.subset(held, name=data.name)
