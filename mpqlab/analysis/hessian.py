"""Hessian of the loss of a (fake-quantized) model: top eigenvalues, trace, spectral density, per-layer traces.

``Hessian(model, data, loss_fn=cross_entropy, device=..., params="weights", backend="mpqlab")`` is one object
with the three quantities as methods, like PyHessian's ``hessian`` class, with its warts fixed:

- any ``device``; the model's train / eval mode is used as it is and restored, never forced (use
  ``model.eval()`` first for the usual "Hessian at the trained model" with fixed BatchNorm statistics);
  BatchNorm running statistics and every ``.grad`` are restored afterwards;
- ``params="weights"`` (default) takes the network weights, BatchNorm and biases, not quantizer steps / clips or
  bit logits (``"all"``: every parameter that requires grad; or a list of names);
- results are plain data (floats, lists, dicts).

Backends, same API:

- ``"mpqlab"``: Hessian-vector products by double back-propagation through retained gradient graphs. The data
  is cut into chunks (``chunk_size``: 16 samples on CPU, 256 on CUDA; not split when BatchNorm uses batch
  statistics), each keeping its graph, and H = sum_b w_b H_b (w_b: the chunk's share of the samples). Blocks of
  probe vectors go through at once (``torch.autograd.grad(..., is_grads_batched=True)``, i.e. vmap) where it pays
  (``probe_block``: 8 on CUDA; 1 on CPU, where blocks measured slower per product).
  Trace: Hutchinson or Hutch++ (Meyer et al., 2021) with *decoupled probes*: every chunk gets its own Rademacher
  probe, sum_b w_b v_b^T H_b v_b, which has the same expectation and cost as v^T H v but drops the cross-chunk
  covariances from the variance (on ResNet-20 / CIFAR-10 3.4x fewer passes for the same error). Optionally
  (``exact=``) the diagonal blocks of a few parameters, e.g. a classifier head, are taken exactly.
  Or Gauss-Newton: tr(H) = tr(G) for networks piecewise linear in each parameter tensor (checked on the autograd
  graph, :mod:`mpqlab.analysis.linearity`), sampled from one back-propagation per pass. ``method="auto"``, the
  default, takes Gauss-Newton where that check passes and decoupled Hutchinson elsewhere.
  Eigenvalues: Lanczos with a residual-based stop (or power iteration with deflation, PyHessian's method).
  Density: stochastic Lanczos quadrature with full re-orthogonalisation.
- ``"pyhessian"``: the PyHessian 0.1 package from PyPI; its ``density()`` calls the removed ``torch.eig``, which
  is supplied here from ``torch.linalg.eigh`` while it runs; its forced ``eval()`` and leftover graph-holding
  ``.grad`` are undone. It takes one batch, whole.

``data`` is one (x, y) batch or a list of batches; the losses are means, so a chunk's Hessian is weighted by its
number of samples. Graphs are kept across products when the data is one batch (``keep_graphs``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core import vectors as V
from ..core.errors import MpqlabError
from ..core.knobs import knob
from ..core.seeding import generator
from .density import tridiagonal
from .params import as_batches, preserved, select_params, uses_batch_statistics
from .pyhessian_backend import pyhessian_quantity
from .trace import TraceMixin


@dataclass
class HessianConfig:
    """What ``mpqlab hessian`` estimates, and on how much data (one command-line option per field)."""
    backend: str = knob("mpqlab", "who computes the Hessian-vector products",
                        choices={"mpqlab": "double back-propagation through chunked graphs, Lanczos, decoupled "
                                           "Hutchinson", "pyhessian": "the PyHessian 0.1 package (power iteration, "
                                           "textbook Hutchinson)"})
    n: int = knob(256, "test images the loss (and so H) is taken on", lo=1, hi=10 ** 9)
    top_k: int = knob(1, "how many top eigenvalues lambda_1 >= ... >= lambda_k of H", lo=1, hi=10 ** 4)
    trace_probes: int = knob(48, "samples of Tr(H), each one pass over the n images", lo=1, hi=10 ** 9)
    trace_method: str = knob("auto", "estimator of Tr(H) (mpqlab backend)",
                             choices={"auto": "gauss-newton where the network allows it (see Hessian.trace), "
                                              "else hutchinson",
                                      "hutchinson": "Rademacher probes, decoupled per chunk",
                                      "hutch++": "a third of the passes deflate the dominant subspace",
                                      "gauss-newton": "Tr(G) from back-propagations with labels drawn from the "
                                                      "softmax: equals Tr(H) for piecewise-linear networks, about "
                                                      "3x cheaper per pass"})
    chunk_size: int | None = knob(None, "samples per gradient graph (mpqlab backend; unset: 16 on CPU, 256 on CUDA)",
                                  lo=1, hi=10 ** 9)
    seed: int = knob(0, "seed of the trace probes and the eigen start vector", lo=0, hi=2 ** 32 - 1)


def _split(batches, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i:i + size], y[i:i + size]) for x, y in batches for i in range(0, len(y), size)]


class Hessian(TraceMixin):
    """The loss Hessian of ``model`` on ``data`` (one (x, y) batch or a list), with respect to ``params``
    ("weights" by default), computed through whatever the model does in its forward (fake quantizers included).
    Methods are named after the quantities: :meth:`hvp` (H v), :meth:`eigenvalues` (top-k, Lanczos or power
    iteration), :meth:`trace` (Hutchinson with decoupled per-chunk probes, or Hutch++), :meth:`layer_traces`,
    :meth:`density` (stochastic Lanczos quadrature). ``backend="pyhessian"`` routes :meth:`eigenvalues`,
    :meth:`trace` and :meth:`density` through PyHessian 0.1, for cross-checks, and refuses what PyHessian does not
    have (Lanczos eigenvalues, other trace estimators, per-layer traces); :meth:`hvp` is mpqlab's on either
    backend."""

    def __init__(self, model: nn.Module, data, loss_fn: Callable = F.cross_entropy, device=None,
                 params="weights", backend: str = "mpqlab", probe_block: int | None = None,
                 chunk_size: int | None = None, keep_graphs: bool | None = None):
        if backend not in ("mpqlab", "pyhessian"):
            raise MpqlabError(f"unknown Hessian backend {backend!r}; use 'mpqlab' or 'pyhessian'")
        self.model, self.loss_fn, self.backend = model, loss_fn, backend
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        given = as_batches(data)
        self.batches = [(x.to(self.device), y.to(self.device)) for x, y in given]
        self.named = select_params(model, params)
        if not self.named:
            raise MpqlabError("no parameters to take the Hessian with respect to")
        self.params = [p for _, p in self.named]
        self.names = [n for n, _ in self.named]
        # vmapped blocks of probes are meant for GPUs; on a CPU they do not pay (benchmarks/hessian_blocks.py,
        # ResNet-20, 256 images, 1 thread: one graph, blocks of 4 / 8: 1.7x / 1.9x the time per product; chunks of 32,
        # blocks of 4 / 8: 1.45 / 1.41 s per pass against 1.45 s one probe at a time)
        self.probe_block = probe_block or (8 if self.device.type == "cuda" else 1)
        # The data is cut into chunks, each with its own retained gradient graph: H = sum_b w_b H_b with w_b the
        # chunk's share of the samples (the loss is a per-chunk mean), and the trace uses independent probes per
        # chunk (see trace()). CPU default 16: on ResNet-20 / 256 CIFAR-10 images (1 thread) a pass over chunks of
        # 16 costs 1.46 s against 1.49 s for pyhessian's single graph, and the decoupled trace sample's standard
        # deviation is 276 against 496 for one shared probe (benchmarks/hessian.py; chunks of 32 gave 334 in an
        # earlier run of it); smaller chunks cost more per pass (benchmarks/hessian_blocks.py). The CUDA default
        # (256) is a guess: not measured, no GPU was available.
        # A model whose BatchNorm uses batch statistics (train mode) couples the samples: its data is not split.
        coupled = uses_batch_statistics(model)
        if chunk_size is not None:
            if int(chunk_size) < 1:
                raise MpqlabError(f"chunk_size must be a positive number of samples, got {chunk_size!r}")
            if coupled:
                raise MpqlabError("chunk_size was given but the model's BatchNorm is in training mode (batch "
                                  "statistics couple the samples); call model.eval() or leave chunk_size unset")
        elif not coupled:
            chunk_size = 16 if self.device.type == "cpu" else 256
        self.chunk_size = chunk_size
        self.chunks = _split(self.batches, int(chunk_size)) if chunk_size else list(self.batches)
        total = sum(len(y) for _, y in self.chunks)
        self.weights = [len(y) / total for _, y in self.chunks]
        # graphs are kept when the data came as one batch (the chunks' graphs together are that batch's graph);
        # for a list of batches they are rebuilt at every product unless keep_graphs=True
        self.keep_graphs = (len(given) == 1) if keep_graphs is None else bool(keep_graphs)
        self._graphs: dict[int, tuple[torch.Tensor, ...]] = {}
        self.n_hvp = 0.0  # Hessian-vector products, counted in passes over the whole data
        self.dim = sum(p.numel() for p in self.params)
        self._curved: list[str] | None = None  # node kinds at which the network is curved (gauss_newton_issue)

    # ------------------------------------------------------------------------------------------ products
    def _grads(self, x, y):
        # buffers are cloned into the call, so BatchNorm statistics of a model in train mode are not touched;
        # parameters outside the Hessian (quantizer steps and clips) are detached while the graph is built, so the
        # retained graph holds only what the products need
        return torch.autograd.grad(self.loss_fn(self._logits(x), y), self.params, create_graph=True)

    def _chunk_graph(self, i: int):
        grads = self._graphs.get(i)
        if grads is None:
            grads = self._grads(*self.chunks[i])
            if self.keep_graphs:
                self._graphs[i] = grads
        return grads

    def _chunk_hvps(self, i: int, vs: Sequence[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
        """H_i v (unweighted) for chunk i and each vector of ``vs``; call inside ``preserved(self.model)``."""
        grads = self._chunk_graph(i)
        self.n_hvp += self.weights[i] * len(vs)
        if len(vs) == 1:
            hv = torch.autograd.grad(grads, self.params, vs[0], retain_graph=True)
            return [[h.detach() for h in hv]]
        stacked = [torch.stack([v[j] for v in vs]) for j in range(len(self.params))]
        hv = torch.autograd.grad(grads, self.params, stacked, retain_graph=True, is_grads_batched=True)
        return [[h[k].detach() for h in hv] for k in range(len(vs))]

    def _weighted_hvps(self, vs: Sequence[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
        """H v = sum_b w_b H_b v for each vector of ``vs``; call inside ``preserved(self.model)``."""
        out = None
        for i, w in enumerate(self.weights):
            res = [[w * h for h in r] for r in self._chunk_hvps(i, vs)]
            out = res if out is None else [[a + b for a, b in zip(o, r)] for o, r in zip(out, res)]
        return out

    def hvp_block(self, vs: Sequence[list[torch.Tensor]]) -> list[list[torch.Tensor]]:
        """H v for a list of vectors (each a list of tensors shaped like the parameters)."""
        with preserved(self.model):
            return self._weighted_hvps(vs)

    def hvp(self, v: list[torch.Tensor]) -> list[torch.Tensor]:
        """H v for ``v`` shaped like the parameters (a list of tensors), summed over the data with sample weights."""
        return self.hvp_block([v])[0]

    def _hvp_many(self, vs):
        out = []
        for i in range(0, len(vs), self.probe_block):
            out += self.hvp_block(vs[i:i + self.probe_block])
        return out

    # -------------------------------------------------------------------------------------- eigenvalues
    def eigenvalues(self, top_k: int = 1, max_iter: int = 100, tol: float = 1e-3, seed: int = 0,
                    method: str | None = None) -> dict:
        """Top-k eigenvalues, largest in magnitude.

        ``method=None`` takes the backend's own: Lanczos for mpqlab, power iteration for pyhessian (the only one
        it has; asking it for another is refused).
        ``"lanczos"`` (mpqlab's default): Lanczos with full re-orthogonalisation from a Gaussian start, stopped when every
        wanted Ritz pair (theta, u) has residual ||H u - theta u|| <= tol |theta| (read off the tridiagonal matrix,
        no extra product), which bounds each eigenvalue's relative error by ``tol``; ``max_iter`` products at most.
        ``"power"``: power iteration with deflation, stopped when the Rayleigh quotient changes by less than ``tol``
        (relative), PyHessian's rule; ``max_iter`` products per eigenvalue.
        Returns {"eigenvalues": [...], "eigenvectors": [list of tensors], "iterations": [...], "residuals" (Lanczos),
        "hvps", "time_s", "method"}."""
        if self.backend == "pyhessian":
            if method not in (None, "power"):
                raise MpqlabError(f"eigenvalue method {method!r} needs backend='mpqlab'; pyhessian has power "
                                  "iteration only")
            return self._pyhessian("eigenvalues", top_k=top_k, max_iter=max_iter, tol=tol, seed=seed)
        method = method or "lanczos"
        if method == "lanczos":
            return self._eig_lanczos(top_k, max_iter, tol, seed)
        if method != "power":
            raise MpqlabError(f"unknown eigenvalue method {method!r}; use 'lanczos' or 'power'")
        t0, n0 = time.time(), self.n_hvp
        g = generator(seed)
        vals, vecs, iters = [], [], []
        for _ in range(top_k):
            v = V.normalize(V.orthogonalize(V.gaussian(self.params, g), vecs))
            lam = None
            for it in range(max_iter):
                v = V.normalize(V.orthogonalize(v, vecs))
                hv = self.hvp(v)
                new = V.dot(hv, v).item()
                v = V.normalize(hv)
                if lam is not None and abs(new - lam) / (abs(lam) + 1e-6) < tol:
                    lam = new
                    break
                lam = new
            vals.append(lam)
            vecs.append(V.normalize(V.orthogonalize(v, vecs)))
            iters.append(it + 1)
        return {"eigenvalues": vals, "eigenvectors": vecs, "iterations": iters, "hvps": round(self.n_hvp - n0, 6),
                "time_s": time.time() - t0, "method": method}

    def _eig_lanczos(self, top_k: int, max_iter: int, tol: float, seed: int) -> dict:
        t0, n0 = time.time(), self.n_hvp
        g = generator(seed)
        ritz = {}

        def converged(diag, off_diag, beta):
            theta, S = np.linalg.eigh(tridiagonal(diag, off_diag))
            order = np.argsort(-np.abs(theta))[:top_k]
            resid = np.abs(beta * S[-1, order])
            ritz.update(theta=theta, S=S, order=order, resid=resid)
            done = len(diag) >= top_k and bool(np.all(resid <= tol * np.abs(theta[order])))
            return done or beta < 1e-12 * max(1.0, np.abs(theta).max())

        diag, _, basis = self._lanczos_run(V.normalize(V.gaussian(self.params, g)),
                                           min(max(max_iter, top_k), self.dim), converged)
        theta, S, order, resid = ritz["theta"], ritz["S"], ritz["order"], ritz["resid"]
        vecs = []
        for i in order:
            u = [torch.zeros_like(p) for p in self.params]
            for c, b in zip(S[:, i], basis):
                u = V.axpy(float(c), b, u)
            vecs.append(V.normalize(u))
        return {"eigenvalues": [float(theta[i]) for i in order], "eigenvectors": vecs,
                "iterations": [len(diag)] * len(order), "residuals": [float(r) for r in resid],
                "hvps": round(self.n_hvp - n0, 6), "time_s": time.time() - t0, "method": "lanczos"}

    def _logits(self, x):
        """The model's output with the Hessian's parameters attached (the others detached), buffers untouched."""
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        chosen = {id(p) for p in self.params}
        frozen = {n: p.detach() for n, p in self.model.named_parameters() if id(p) not in chosen}
        return torch.func.functional_call(self.model, {**buffers, **frozen}, (x,), strict=False)

    # ------------------------------------------------------------------------------------------ density
    def _lanczos_run(self, v: list[torch.Tensor], steps: int, stop) -> tuple[list[float], list[float], list]:
        """Lanczos from the unit vector ``v``, at most ``steps`` products, with full re-orthogonalisation (twice:
        keeps the basis orthonormal in float32). After each product ``stop(diag, off_diag, beta)``, with beta the
        norm of the next residual, says whether to end. Returns (diag, off_diag, basis); len(off_diag) = len(diag) - 1."""
        basis, diag, off_diag = [v], [], []
        for j in range(steps):
            hv = self.hvp(basis[-1])
            diag.append(V.dot(hv, basis[-1]).item())
            w = V.axpy(-diag[-1], basis[-1], hv)
            if j > 0:
                w = V.axpy(-off_diag[-1], basis[-2], w)
            w = V.orthogonalize(V.orthogonalize(w, basis), basis)
            beta = V.norm(w).item()
            if stop(diag, off_diag, beta) or j == steps - 1:
                break
            off_diag.append(beta)
            basis.append(V.scale(1.0 / beta, w))
        return diag, off_diag, basis

    def _pyhessian(self, what: str, seed: int = 0, **kw) -> dict:
        return pyhessian_quantity(self.model, self.loss_fn, self.batches, self.params, self.device, what, seed, **kw)

    def lanczos(self, iters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Lanczos tridiagonalisation from a Rademacher start vector (full re-orthogonalisation).
        Returns (diag, off_diag)."""
        g = generator(seed)
        diag, off_diag, _ = self._lanczos_run(V.normalize(V.rademacher(self.params, g)), min(iters, self.dim),
                                              lambda a, b, beta: beta < 1e-10)
        return np.array(diag), np.array(off_diag)

    def density(self, iters: int = 50, n_v: int = 1, seed: int = 0) -> dict:
        """Spectral density by stochastic Lanczos quadrature: Ritz values (nodes) and weights (squared first
        components of the Ritz vectors), per start vector. Weights of one run sum to 1.
        Returns {"nodes": [[...]], "weights": [[...]], "hvps", "time_s"}; see :func:`gaussian_density`."""
        if self.backend == "pyhessian":
            return self._pyhessian("density", iters=iters, n_v=n_v, seed=seed)
        t0, n0 = time.time(), self.n_hvp
        nodes, weights = [], []
        for k in range(n_v):
            evals, evecs = np.linalg.eigh(tridiagonal(*self.lanczos(iters, seed + k)))
            nodes.append(evals.tolist())
            weights.append((evecs[0] ** 2).tolist())
        return {"nodes": nodes, "weights": weights, "hvps": self.n_hvp - n0, "time_s": time.time() - t0}
