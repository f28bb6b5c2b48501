"""Vector algebra on lists of tensors (one tensor per parameter): small pure helpers."""
from __future__ import annotations

import torch


def dot(xs, ys) -> torch.Tensor:
    return sum((x * y).sum() for x, y in zip(xs, ys))


def norm(xs) -> torch.Tensor:
    return dot(xs, xs).sqrt()


def axpy(a: float, xs, ys) -> list[torch.Tensor]:
    """a * x + y."""
    return [a * x + y for x, y in zip(xs, ys)]


def scale(a: float, xs) -> list[torch.Tensor]:
    return [a * x for x in xs]


def normalize(xs) -> list[torch.Tensor]:
    n = norm(xs)
    return [x / (n + 1e-12) for x in xs]


def orthogonalize(xs, basis) -> list[torch.Tensor]:
    """Remove from xs its components along each (orthonormal) vector of ``basis``."""
    for b in basis:
        xs = axpy(-dot(xs, b).item(), b, xs)
    return xs


def rademacher(like, generator: torch.Generator) -> list[torch.Tensor]:
    return [(torch.randint(0, 2, p.shape, generator=generator, dtype=torch.int8).to(p.device, p.dtype) * 2 - 1)
            for p in like]


def gaussian(like, generator: torch.Generator) -> list[torch.Tensor]:
    return [torch.randn(p.shape, generator=generator).to(p.device, p.dtype) for p in like]


def flatten(xs) -> torch.Tensor:
    return torch.cat([x.reshape(-1) for x in xs])


def unflatten(flat: torch.Tensor, like) -> list[torch.Tensor]:
    out, i = [], 0
    for p in like:
        out.append(flat[i:i + p.numel()].view_as(p))
        i += p.numel()
    return out
