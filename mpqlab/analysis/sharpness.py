"""Sharpness of a (fake-quantized) model, all in one call: :func:`sharpness_report`.

- ``surrogate_gap``: ``L(theta + e) - L(theta)`` with ``e = rho * g / ||g||`` (one ascent step, SAM's
  approximation of ``max_{||delta|| <= rho} L``), averaged over batches: the paper's h at a fixed rho.
- ``worst_case``: the loss increase after ``steps`` projected gradient-ascent steps inside the rho-ball
  (a tighter lower bound on the true worst case than one step).
- ``sigma_max`` (top Hessian eigenvalue, Lanczos) and ``trace`` (Hutchinson, decoupled probes), from :class:`~mpqlab.analysis.hessian.Hessian`.

Perturbations move the latent weights (network weights, BatchNorm, biases; not quantizer steps or clips); the
model is evaluated in eval mode and restored exactly afterwards.
"""
from __future__ import annotations

import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import vectors as V
from .hessian import Hessian
from .params import preserved, select_params


def _loss_grad(model, params, x, y, need_grad=True, loss_fn=F.cross_entropy):
    loss = loss_fn(model(x), y)
    if not need_grad:
        return loss.item(), None
    g = torch.autograd.grad(loss, params)
    return loss.item(), [t.detach() for t in g]


def surrogate_gap(model: nn.Module, batches, rho: float = 0.05, params="weights", loss_fn=F.cross_entropy) -> dict:
    """Mean over batches of ``L(theta + rho g/||g||) - L(theta)``; also the mean losses (``loss_fn(output, y)``:
    cross-entropy by default)."""
    ps = [p for _, p in select_params(model, params)]
    gaps, l0s, l1s = [], [], []
    with preserved(model):
        model.eval()
        for x, y in batches:
            l0, g = _loss_grad(model, ps, x, y, loss_fn=loss_fn)
            e = V.ascent(g, V.norm(g).item(), rho)
            with V.displaced(ps, e), torch.no_grad():
                l1 = loss_fn(model(x), y).item()
            gaps.append(l1 - l0)
            l0s.append(l0)
            l1s.append(l1)
    n = len(gaps)
    return {"surrogate_gap": sum(gaps) / n, "loss": sum(l0s) / n, "loss_perturbed": sum(l1s) / n, "rho": rho,
            "batches": n}


def worst_case_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rho: float = 0.05, steps: int = 5,
                    params="weights") -> dict:
    """Projected gradient ascent in the ball ``||delta|| <= rho`` (normalised steps of ``2 rho / steps``)."""
    ps = [p for _, p in select_params(model, params)]
    with preserved(model):
        model.eval()
        origin = [p.detach().clone() for p in ps]
        l0, _ = _loss_grad(model, ps, x, y, need_grad=False)
        delta = [torch.zeros_like(p) for p in ps]
        best = l0
        try:
            for _ in range(steps):
                _, g = _loss_grad(model, ps, x, y)
                delta = V.axpy(2 * rho / steps / (V.norm(g).item() + 1e-12), g, delta)
                n = V.norm(delta).item()
                if n > rho:
                    delta = V.scale(rho / n, delta)
                with torch.no_grad():
                    for p, o, d in zip(ps, origin, delta):
                        p.copy_(o + d)
                best = max(best, _loss_grad(model, ps, x, y, need_grad=False)[0])
        finally:
            with torch.no_grad():
                for p, o in zip(ps, origin):
                    p.copy_(o)
    return {"worst_case_increase": best - l0, "loss": l0, "rho": rho, "steps": steps}


def sharpness_report(model: nn.Module, x: torch.Tensor, y: torch.Tensor, rho: float = 0.05, batch_size: int = 256,
                     ascent_steps: int = 5, eig_iters: int = 30, trace_probes: int = 30, seed: int = 0) -> dict:
    """Surrogate gap, worst-case increase, sigma_max and trace of ``model`` on (x, y), with timings."""
    t0 = time.time()
    batches = [(x[i:i + batch_size], y[i:i + batch_size]) for i in range(0, len(y), batch_size)]
    out = {"n": len(y)}
    out.update(surrogate_gap(model, batches, rho))
    out["worst_case_increase"] = worst_case_loss(model, batches[0][0], batches[0][1], rho, ascent_steps)[
        "worst_case_increase"]
    was = model.training
    model.eval()
    try:
        h = Hessian(model, batches[0])
        out["sigma_max"] = h.eigenvalues(top_k=1, max_iter=eig_iters, seed=seed)["eigenvalues"][0]
        out["trace"] = h.trace(n_probes=trace_probes, seed=seed)["trace"]
    finally:
        model.train(was)
    out["time_s"] = time.time() - t0
    return out
