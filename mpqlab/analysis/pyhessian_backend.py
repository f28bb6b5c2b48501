"""The ``"pyhessian"`` backend of :class:`mpqlab.analysis.hessian.Hessian`: PyHessian 0.1 from PyPI with its faults
wrapped (the removed ``torch.eig``, the forced ``eval()``, leftover graph-holding ``.grad``, and torch's warning
about the reference cycle its ``backward(create_graph=True)`` makes: the cycle is broken when the ``.grad`` are
restored, so the warning would only alarm)."""
from __future__ import annotations

import contextlib
import math
import time
import warnings

import numpy as np
import torch

from ..core.errors import MpqlabError
from ..core.seeding import seed_global
from .params import preserved


def pyhessian_quantity(model, loss_fn, batches, params, device, what: str, seed: int = 0, **kw) -> dict:
    """``what`` ("eigenvalues", "trace" or "density") by PyHessian 0.1 on one batch, with mpqlab's conventions:
    only ``params`` are differentiated (the others are frozen while it runs), the model's modes, buffers and
    ``.grad`` are restored, ``torch.eig`` is supplied. Returns the same dict shape as :class:`Hessian`'s methods."""
    if len(batches) != 1:
        raise MpqlabError("the pyhessian backend is used here with one batch; concatenate the data")
    if device.type not in ("cpu", "cuda"):
        raise MpqlabError(f"pyhessian supports cpu and cuda devices, not {device.type}")
    from pyhessian import hessian as PyHessian  # deferred: optional (PyHessian cross-check)

    t0 = time.time()
    chosen = {id(p) for p in params}
    with preserved(model), _eig_shim(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Using backward\(\) with create_graph=True", category=UserWarning)
        frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in chosen]
        for p in frozen:
            p.requires_grad_(False)
        for p in model.parameters():
            p.grad = None
        try:
            seed_global(seed)
            h = PyHessian(model, loss_fn, data=batches[0], cuda=device.type == "cuda")
            if what == "eigenvalues":
                vals, vecs = h.eigenvalues(maxIter=kw["max_iter"], tol=kw["tol"], top_n=kw["top_k"])
                res = {"eigenvalues": [float(v) for v in vals],
                       "eigenvectors": [[t.detach() for t in v] for v in vecs]}
            elif what == "trace":
                samples = h.trace(maxIter=kw["n_probes"], tol=0.0)
                res = {"trace": float(np.mean(samples)), "samples": [float(s) for s in samples],
                       "std_error": float(np.std(samples, ddof=1) / math.sqrt(len(samples)))
                       if len(samples) > 1 else float("nan")}
            else:
                nodes, weights = h.density(iter=kw["iters"], n_v=kw["n_v"])
                res = {"nodes": [[float(v) for v in n] for n in nodes],
                       "weights": [[float(v) for v in w] for w in weights]}
        finally:
            for p in frozen:
                p.requires_grad_(True)
    res["time_s"] = time.time() - t0
    return res


@contextlib.contextmanager
def _eig_shim():
    """PyHessian 0.1 calls ``torch.eig`` (removed in torch 2.0) on a symmetric tridiagonal matrix; supply it."""
    had = hasattr(torch, "eig")
    old = getattr(torch, "eig", None)

    def eig(T, eigenvectors=False):
        vals, vecs = torch.linalg.eigh(T)
        return torch.stack([vals, torch.zeros_like(vals)], 1), vecs

    torch.eig = eig
    try:
        yield
    finally:
        if had:
            torch.eig = old
        else:
            del torch.eig
