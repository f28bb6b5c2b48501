"""The directions a landscape is sliced along, each one of the paper's quantities.

Every function returns a direction ``{parameter name: tensor}`` over the quantized weights (the parameters a search
perturbs), ready for :func:`mpqlab.analysis.landscape.slice_1d` / ``slice_2d``:

- ``random``: filter-normalised Gaussian (Li et al., 2018), one per seed; a band over seeds shows how much one
  random direction tells;
- ``eigen``: the top Hessian eigenvector of the loss on a sample (the direction of sigma_max);
- ``ascent``: a sharpness-aware rule's own ascent perturbation e(g) (SAM: rho g / ||g||; ASGA: (rho / ||g|| - beta) g,
  the same line through theta; :func:`rule_ascent` takes any registered rule), the direction the surrogate gap h
  is measured along;
- ``gradient_gap``: g_target - g_proxy, the difference of the target and proxy losses' gradients at the same
  weights: the direction in which the two losses disagree to first order, what gradient aligning acts on.

A random direction has the weights' filter norms; every other direction is rescaled to the same global norm
(:func:`scaled_to`), so that ``a = 1`` moves the weights by the norm of the weights along any direction and the spans
of different directions are comparable. :func:`trajectory_plane` gives the plane of a run's own weight trajectory
(the top two principal components of its saved states) with the path's coordinates in it.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from ..core import vectors
from ..core.errors import MpqlabError
from ..optim.rules import RULES
from .conflict import mean_gradient
from .hessian import Hessian
from .landscape import random_direction
from .params import as_batches, preserved, select_params

KINDS = ("random", "eigen", "ascent", "gradient_gap")  # every kind of direction this module makes


def _values(d: dict, keys=None) -> list[torch.Tensor]:
    """A direction's tensors in float64 (metadata entries, named ``__…``, left out)."""
    return [d[k].double() for k in (keys or d) if not k.startswith("__")]


def norm(d: dict) -> float:
    """The global norm of a direction (entries whose name starts with ``__`` are metadata, not counted)."""
    return float(vectors.norm(_values(d)))


def cosine(a: dict, b: dict) -> float:
    """The cosine between two directions over their common parameters."""
    keys = [k for k in a if k in b]
    return vectors.cosine(_values(a, keys), _values(b, keys))


def scaled_to(d: dict, target_norm: float) -> dict:
    """``d`` rescaled to global norm ``target_norm`` (metadata entries kept as they are)."""
    n = norm(d)
    if not n > 0:
        raise MpqlabError("a zero direction cannot be rescaled (the gradient or eigenvector vanished)")
    return {k: (v if k.startswith("__") else v * (target_norm / n)) for k, v in d.items()}


def weight_norm(model: nn.Module, params="weights") -> float:
    """The norm of the weights a direction moves: a filter-normalised random direction has this norm."""
    return float(vectors.norm([p.detach().double() for _, p in select_params(model, params) if p.dim() > 1]))


def _as_direction(model, tensors, params="weights") -> dict:
    names = [n for n, _ in select_params(model, params)]
    return {n: t.detach().clone() for n, t in zip(names, tensors)}


def eigen(model: nn.Module, data, seed: int = 0, max_iter: int = 20, k: int = 1, params="weights") -> list[dict]:
    """The top ``k`` Hessian eigenvectors of the loss on ``data`` ((x, y) or batches), each rescaled to the weights'
    norm, with its eigenvalue under ``"__eigenvalue__"`` (a 0-d tensor)."""
    res = Hessian(model, data, params=params).eigenvalues(top_k=k, max_iter=max_iter, seed=seed)
    out = []
    for value, vec in zip(res["eigenvalues"], res["eigenvectors"]):
        d = scaled_to(_as_direction(model, vec, params), weight_norm(model, params))
        d["__eigenvalue__"] = torch.tensor(float(value))
        out.append(d)
    return out


def rule_ascent(model: nn.Module, data, rule: str = "sam", rho: float = 0.05, params="weights", **options) -> dict:
    """The ascent perturbation e that the registered sharpness-aware ``rule`` takes from the weights on ``data``:
    the rule's own ``first_step`` on the mean gradient (so ASAM's per-weight geometry and ASGA's beta are in it),
    read back and undone; unscaled, so ||e|| is the rule's radius. ``options`` go to the rule's constructor."""
    entry = RULES.get(rule)
    if entry is None or entry.optimizer is None:
        raise MpqlabError(f"{rule!r} is not a sharpness-aware rule; known: "
                          f"{[n for n, r in RULES.items() if r.optimizer]}")
    named = select_params(model, params)
    _, g = mean_gradient(model, as_batches(data), params)
    ps = [p for _, p in named]
    opt = entry.optimizer(ps, torch.optim.SGD, rho=rho, lr=0.0, **options)
    saved = [p.detach().clone() for p in ps]
    with preserved(model):
        for p, gi in zip(ps, g):
            p.grad = gi.clone()
        try:
            opt.first_step()
            e = [opt.state[p]["e"].detach().clone() for p in ps]
        finally:
            with torch.no_grad():  # the weights exactly as they were ((w + e) - e is not w in floating point)
                for p, w in zip(ps, saved):
                    p.copy_(w)
    return {name: ei for (name, _), ei in zip(named, e)}


def ascent(model: nn.Module, data, rule: str = "sam", params="weights", **options) -> dict:
    """The rule's ascent direction (:func:`rule_ascent`) rescaled to the weights' norm."""
    return scaled_to(rule_ascent(model, data, rule, params=params, **options), weight_norm(model, params))


def gradient_gap(model: nn.Module, proxy_data, target_data, params="weights") -> dict:
    """g_target - g_proxy at the model's weights, rescaled to the weights' norm, with the cosine of the two
    gradients under ``"__cos__"`` (a 0-d tensor): how far apart the two losses pull."""
    names, gp = mean_gradient(model, as_batches(proxy_data), params)
    _, gt = mean_gradient(model, as_batches(target_data), params)
    d = {n: t - p for n, t, p in zip(names, gt, gp)}
    c = vectors.cosine([t.double() for t in gt], [t.double() for t in gp])
    d = scaled_to(d, weight_norm(model, params))
    d["__cos__"] = torch.tensor(c)
    return d


def make(kind: str, model: nn.Module, data, seed: int = 0, target_data=None, rule: str = "sam",
         params="weights") -> dict:
    """One direction of ``kind`` (see :data:`KINDS`) at the model's weights; ``data`` is the sample the loss is taken
    on, ``target_data`` the target sample (``gradient_gap`` only)."""
    if kind == "random":
        return random_direction(model, seed=seed, params=params)
    if kind == "eigen":
        return eigen(model, data, seed=seed, params=params)[0]
    if kind == "ascent":
        return ascent(model, data, rule, params=params)
    if kind == "gradient_gap":
        if target_data is None:
            raise MpqlabError("the gradient_gap direction needs target_data (a target sample)")
        return gradient_gap(model, data, target_data, params)
    raise MpqlabError(f"unknown direction kind {kind!r}; known: {', '.join(KINDS)}")


def trajectory_plane(states: list[dict], params: list[str] | None = None) -> dict:
    """The plane of a run's weight trajectory (Li et al., 2018, Sec. 7): the top two principal components of the
    saved states' offsets from the final state. ``states``: state dicts in run order, the last one the centre.
    Returns {"d1", "d2": directions (unit norm), "path": (n, 2) coordinates of every state in the plane,
    "explained": the share of the offsets' variance each component explains}."""
    if len(states) < 3:
        raise MpqlabError(f"a trajectory plane needs at least 3 saved states, got {len(states)}")
    keys = params or [k for k, v in states[-1].items() if torch.is_tensor(v) and v.dim() > 1]
    like = [states[-1][k] for k in keys]
    final = vectors.flatten([t.double() for t in like])
    offsets = torch.stack([vectors.flatten([s[k].double() for k in keys]) - final for s in states])
    centred = offsets - offsets.mean(0)
    _, sv, vt = torch.linalg.svd(centred, full_matrices=False)
    basis = vt[:2]
    path = (offsets @ basis.T).numpy()
    explained = (sv[:2] ** 2 / (sv ** 2).sum()).numpy()

    def as_direction(v):
        return {k: t.to(ref.dtype).clone() for k, t, ref in zip(keys, vectors.unflatten(v, like), like)}

    return {"d1": as_direction(basis[0]), "d2": as_direction(basis[1]), "path": path, "explained": explained,
            "params": keys}


def width(curve_ts, curve_loss, k: float = 2.0) -> float:
    """The half-width of a 1-D slice: the smallest |a| at which the loss reaches ``k`` times its value at a = 0 on
    either side (linear interpolation between grid points); ``inf`` when it never does within the slice. A flatter
    landscape is a wider one."""
    ts, loss = np.asarray(curve_ts, float), np.asarray(curve_loss, float)
    c = int(np.argmin(np.abs(ts)))
    level = k * loss[c]
    best = np.inf
    for step in (1, -1):
        i = c
        while 0 <= i + step < len(ts):
            j = i + step
            if loss[j] >= level:
                frac = (level - loss[i]) / (loss[j] - loss[i]) if loss[j] != loss[i] else 0.0
                best = min(best, abs(ts[i] + frac * (ts[j] - ts[i])))
                break
            i = j
    return float(best)
