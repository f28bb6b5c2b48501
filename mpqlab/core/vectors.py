"""Vector algebra on lists of tensors (one tensor per parameter): small pure helpers. ``cosine`` / ``cosine_of``
are mpqlab's one definition of the angle between two gradients (search telemetry, the sharpness-aware
optimizers' telemetry, the gradient-conflict analysis); ``ascent`` and ``displaced`` are its one perturbation
``e = (rho / ||g|| - beta) g`` and its one perturb-and-restore (the optimizers' rules, the surrogate gap, the
perturbation conflict)."""
from __future__ import annotations

import math
from contextlib import contextmanager

import torch


def cosine_of(dot_ab: float, norm_a: float, norm_b: float) -> float:
    """cos(a, b) from <a, b>, |a| and |b|, clamped to [-1, 1]; NaN when either vector is zero or not finite
    (an undefined angle is reported as undefined, not as 0 or 1)."""
    if not (norm_a > 0 and norm_b > 0 and math.isfinite(norm_a) and math.isfinite(norm_b) and math.isfinite(dot_ab)):
        return float("nan")
    return max(-1.0, min(1.0, dot_ab / (norm_a * norm_b)))


def cosine(xs, ys) -> float:
    """cos of two tensors or two lists of tensors (one host transfer); see :func:`cosine_of`."""
    xs = [xs] if torch.is_tensor(xs) else list(xs)
    ys = [ys] if torch.is_tensor(ys) else list(ys)
    d, na, nb = torch.stack([dot(xs, ys).double(), norm(xs).double(), norm(ys).double()]).tolist()
    return cosine_of(d, na, nb)


EPS = 1e-12  # keeps rho / ||g|| finite at a zero gradient


def ascent(g, gnorm, rho: float, beta: float = 0.0):
    """The ascent perturbation ``e = (rho / ||g|| - beta) g`` of a tensor or a tensor list, ``gnorm`` the global
    norm ||g|| (a float or a 0-d tensor): SAM's at beta = 0 (||e|| = rho), ASGA's aligned one at beta > 0."""
    c = rho / (gnorm + EPS) - beta
    return g * c if torch.is_tensor(g) else [t * c for t in g]


@contextmanager
def displaced(params, e):
    """Within the block the parameters sit at theta + e; restored on exit (an exception included)."""
    with torch.no_grad():
        for p, ei in zip(params, e):
            p.add_(ei)
    try:
        yield
    finally:
        with torch.no_grad():
            for p, ei in zip(params, e):
                p.sub_(ei)


def dot(xs, ys) -> torch.Tensor:
    """<xs, ys> summed over the tensors of two lists (a 0-d tensor)."""
    return sum((x * y).sum() for x, y in zip(xs, ys))


def norm(xs) -> torch.Tensor:
    """The 2-norm of a tensor list (a 0-d tensor)."""
    return dot(xs, xs).sqrt()


def axpy(a: float, xs, ys) -> list[torch.Tensor]:
    """a * x + y."""
    return [a * x + y for x, y in zip(xs, ys)]


def scale(a: float, xs) -> list[torch.Tensor]:
    """a * xs, tensor by tensor."""
    return [a * x for x in xs]


def normalize(xs) -> list[torch.Tensor]:
    """xs / ||xs|| (a unit vector of tensors)."""
    n = norm(xs)
    return [x / (n + 1e-12) for x in xs]


def orthogonalize(xs, basis) -> list[torch.Tensor]:
    """Remove from xs its components along each (orthonormal) vector of ``basis``."""
    for b in basis:
        xs = axpy(-dot(xs, b).item(), b, xs)
    return xs


def rademacher(like, generator: torch.Generator) -> list[torch.Tensor]:
    """A random +-1 vector shaped like ``like`` (one tensor per parameter), drawn from ``generator``."""
    return [(torch.randint(0, 2, p.shape, generator=generator, dtype=torch.int8).to(p.device, p.dtype) * 2 - 1)
            for p in like]


def gaussian(like, generator: torch.Generator) -> list[torch.Tensor]:
    """A standard normal vector shaped like ``like``, drawn from ``generator``."""
    return [torch.randn(p.shape, generator=generator).to(p.device, p.dtype) for p in like]


def flatten(xs) -> torch.Tensor:
    """A tensor list as one flat vector."""
    return torch.cat([x.reshape(-1) for x in xs])


def unflatten(flat: torch.Tensor, like) -> list[torch.Tensor]:
    """A flat vector cut back into tensors shaped like ``like``."""
    out, i = [], 0
    for p in like:
        out.append(flat[i:i + p.numel()].view_as(p))
        i += p.numel()
    return out
