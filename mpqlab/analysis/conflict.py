"""Gradient-conflict angles, on demand (the search also logs them per step, see :mod:`mpqlab.core.telemetry`).

- :func:`perturbation_conflict`: cos(g, g_p) between the gradient at theta and at the (SAM / ASGA) perturbed
  point, globally and per layer: how much the sharpness term pulls against the loss.
- :func:`proxy_target_conflict`: cos between the mean gradient on proxy batches and on target batches, globally
  and per layer: does a policy's gradient on the proxy point where the target's does?
- :func:`task_cost_conflict`: cos between the bit-logit gradients of the task loss and of the cost term.
- :func:`alignment_summary`: the answer in words for a few searches' logged cos(g, g_p): the angle the sharpness
  term turns the gradient by, and whether one rule's runs keep the two closer than another's.
- :func:`chance_cosine`: the noise baseline: the band within which the cosine of two unrelated directions in the
  same number of dimensions falls.
"""
from __future__ import annotations

import math
from statistics import NormalDist, quantiles

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import vectors as V
from .params import preserved, select_params


def chance_cosine(dim: int, level: float = 0.95) -> float:
    """Half-width of the central ``level`` band of the cosine between two independent, isotropic random vectors in
    ``dim`` dimensions (the cosine is symmetric about 0 with variance exactly 1 / dim; for dim > 30 the band is
    z / sqrt(dim)). A measured cosine inside ±band says no more than two random directions would."""
    if dim < 2:
        raise ValueError(f"dim must be at least 2, got {dim}")
    return NormalDist().inv_cdf(0.5 + level / 2) / dim ** 0.5


def alignment_summary(cosines: dict, last: int = 10) -> str:
    """In words, from each run's logged cos(g, g_p) (``{method: values per step}``; NaN steps dropped): over each
    run's ``last`` steps, its median, the interquartile range and the angle in degrees; then, for the first two
    methods, whether the second keeps the gradients closer together than the first (its median higher, with the
    interquartile ranges apart), further apart, or neither. One run per method describes those runs: it tests no
    method (that takes seeds)."""
    stats = {}
    for name, values in cosines.items():
        tail = [float(v) for v in values if not math.isnan(float(v))][-last:]
        if len(tail) < 2:
            raise ValueError(f"{name}: {len(tail)} logged cos(g, g_p) value(s), need at least 2 for quartiles")
        q1, med, q3 = quantiles(tail, n=4, method="inclusive")
        stats[name] = (med, q1, q3, len(tail))
    parts = [f"{n}: median cos(g, g_p) {m:+.3f} (IQR {a:+.3f} to {b:+.3f}, last {k} steps), the gradients "
             f"{math.degrees(math.acos(max(-1.0, min(1.0, m)))):.0f}° apart" for n, (m, a, b, k) in stats.items()]
    text = "; ".join(parts) + "."
    if len(stats) >= 2:
        (na, (ma, a1, a3, _)), (nb, (mb, b1, b3, _)) = list(stats.items())[:2]
        if b1 > a3:
            how = f"{nb} keeps the gradients closer together than {na} (its interquartile range lies above)"
        elif b3 < a1:
            how = f"{nb} leaves the gradients further apart than {na} (its interquartile range lies below)"
        else:
            how = f"{nb} and {na} do not differ (their interquartile ranges overlap)"
        text += f" In these runs {how}; one run per method, so this describes them and tests no method."
    return text


def per_layer_cosine(names, a, b) -> dict[str, float]:
    """Cosine per module (parameters of one module concatenated), keyed by module name."""
    groups: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        groups.setdefault(n.rsplit(".", 1)[0], []).append(i)
    return {k: V.cosine([a[i] for i in idx], [b[i] for i in idx]) for k, idx in groups.items()}


def mean_gradient(model: nn.Module, batches, params="weights", loss_fn=F.cross_entropy
                  ) -> tuple[list[str], list[torch.Tensor]]:
    """The mean gradient of ``loss_fn(output, y)`` (cross-entropy by default) over ``batches`` w.r.t. the selected
    parameters (a list of tensors)."""
    named = select_params(model, params)
    ps = [p for _, p in named]
    total, acc = 0, None
    with preserved(model):
        for x, y in batches:
            g = torch.autograd.grad(loss_fn(model(x), y), ps)
            g = [t.detach() * len(y) for t in g]
            acc = g if acc is None else [u + v for u, v in zip(acc, g)]
            total += len(y)
    return [n for n, _ in named], [t / total for t in acc]


def perturbation_conflict(model: nn.Module, x, y, rho: float = 0.05, beta: float = 0.0, params="weights",
                          loss_fn=F.cross_entropy) -> dict:
    """cos(g, g_p) with e = (rho / ||g|| - beta) g (beta = 0: SAM's perturbation)."""
    names, g = mean_gradient(model, [(x, y)], params, loss_fn)
    ps = [p for _, p in select_params(model, params)]
    e = V.ascent(g, V.norm(g).item(), rho, beta)
    with V.displaced(ps, e):
        _, gp = mean_gradient(model, [(x, y)], params, loss_fn)
    return {"global": V.cosine(g, gp), "per_layer": per_layer_cosine(names, g, gp), "rho": rho, "beta": beta}


def proxy_target_conflict(model: nn.Module, proxy_batches, target_batches, params="weights") -> dict:
    """Angle between the proxy and the target loss gradients at the same weights: global and per layer."""
    names, gp = mean_gradient(model, proxy_batches, params)
    _, gt = mean_gradient(model, target_batches, params)
    return {"global": V.cosine(gp, gt), "per_layer": per_layer_cosine(names, gp, gt)}


def task_cost_conflict(supernet, x, y, cost_fn) -> float:
    """cos between d(CE)/d(alpha) and d(cost_fn(supernet))/d(alpha) for a supernet with ``bit_logits()``."""
    logits = supernet.bit_logits()
    with preserved(supernet):
        gt = torch.autograd.grad(F.cross_entropy(supernet(x), y), logits)
        gc = torch.autograd.grad(cost_fn(supernet), logits, allow_unused=True)
    gc = [torch.zeros_like(a) if g is None else g for a, g in zip(logits, gc)]
    return V.cosine(list(gt), gc)
