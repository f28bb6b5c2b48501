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

import math
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..errors import MpqlabError
from ..options import knob
from . import vectors as V
from .density import tridiagonal
from .linearity import curved_nodes
from .params import as_batches, is_search_param, preserved, select_params, uses_batch_statistics

EXACT_AUTO_MAX = 4096  # entries of the last module taken exactly by default (trace(exact="auto"))
TRACE_METHODS = ("auto", "hutchinson", "hutch++", "gauss-newton")


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


def _zeroing(idx: Sequence[int]):
    """The map v -> v with the parameters at ``idx`` set to zero (None when there are none)."""
    if not idx:
        return None
    skip = set(idx)
    return lambda v: [torch.zeros_like(t) if j in skip else t for j, t in enumerate(v)]


def _split(batches, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(x[i:i + size], y[i:i + size]) for x, y in batches for i in range(0, len(y), size)]


class Hessian:
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

    def _quadratic_samples(self, n: int, g: torch.Generator, decouple: bool, project=None,
                           per_layer: bool = False) -> list:
        """n samples of Hutchinson's quadratic form. Shared probe: v^T H v. Decoupled: sum_b w_b v_b^T H_b v_b with
        an independent Rademacher v_b for every chunk b: the same expectation tr(H) at the same cost (one pass), but
        the covariances between chunks, 2 <H_b, H_c> off the diagonal, drop out of the variance.
        ``project`` maps a vector to P v (Hutch++'s residual: samples of v^T P H P v); ``per_layer`` returns per
        sample a dict {parameter name: v_l^T (H v)_l} instead of the total."""
        prep = project or (lambda v: v)

        def fold(vs, hvs, w, acc):
            for k, (v, hv) in enumerate(zip(vs, hvs)):  # v = P v already, so v^T H v = v^T P H P v
                if per_layer:
                    for name, a, b in zip(self.names, v, hv):
                        acc[k][name] = acc[k].get(name, 0.0) + w * (a * b).sum().item()
                else:
                    acc[k] += w * V.dot(hv, v).item()

        samples = []
        with preserved(self.model):
            for start in range(0, n, self.probe_block):
                k = min(self.probe_block, n - start)
                acc = [{} if per_layer else 0.0 for _ in range(k)]
                if decouple:
                    for i, w in enumerate(self.weights):
                        vs = [prep(V.rademacher(self.params, g)) for _ in range(k)]
                        fold(vs, self._chunk_hvps(i, vs), w, acc)
                else:
                    vs = [prep(V.rademacher(self.params, g)) for _ in range(k)]
                    fold(vs, self._weighted_hvps(vs), 1.0, acc)
                samples += acc
        return samples

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
        g = torch.Generator().manual_seed(seed)
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
        g = torch.Generator().manual_seed(seed)
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

    # -------------------------------------------------------------------------------------------- trace
    def _exact_indices(self, exact) -> list[int]:
        if exact is None:
            return []
        if exact == "auto":  # the last module's parameters (a classifier head), when they are few
            last = self.names[-1].rsplit(".", 1)[0]
            idx = [i for i, n in enumerate(self.names) if n.rsplit(".", 1)[0] == last]
            return idx if sum(self.params[i].numel() for i in idx) <= EXACT_AUTO_MAX else []
        wanted = set(exact)
        unknown = wanted - set(self.names)
        if unknown:
            raise MpqlabError(f"exact: no parameters named {', '.join(sorted(unknown))} in this Hessian")
        return [i for i, n in enumerate(self.names) if n in wanted]

    def exact_diagonal(self, names: Sequence[str]) -> dict[str, float]:
        """tr(H_pp) of each named parameter's diagonal block, exactly: one basis vector per entry, all pushed at once
        (vmapped) through the part of each chunk's gradient graph that leads to these parameters: cheap for the
        last layers, whose gradients depend on few operations; for an early layer it costs one pass per entry."""
        idx = self._exact_indices(list(names))
        if not idx:
            return {}
        d = sum(self.params[k].numel() for k in idx)
        out = {self.names[k]: 0.0 for k in idx}
        basis, off = [], 0  # row j of the stacked basis is the unit vector of entry j
        for k in idx:
            p = self.params[k]
            e = torch.zeros(d, p.numel(), dtype=p.dtype, device=p.device)
            e[torch.arange(off, off + p.numel()), torch.arange(p.numel())] = 1
            basis.append(e.view(d, *p.shape))
            off += p.numel()
        with preserved(self.model):
            for i, w in enumerate(self.weights):
                grads = self._chunk_graph(i)
                hv = torch.autograd.grad([grads[k] for k in idx], [self.params[k] for k in idx], basis,
                                         retain_graph=True, is_grads_batched=True, allow_unused=True)
                off = 0
                for k, h in zip(idx, hv):
                    n = self.params[k].numel()
                    if h is not None:
                        out[self.names[k]] += w * h.reshape(d, n)[torch.arange(off, off + n), torch.arange(n)].sum().item()
                    off += n
        return out

    def trace(self, n_probes: int = 64, method: str = "auto", seed: int = 0, decouple: bool = True,
              exact=None) -> dict:
        """Trace estimate from ``n_probes`` passes over the data.

        ``"auto"`` (default, **[choice]**): ``"gauss-newton"`` where it estimates tr(H) without bias (the checks
        below all pass, and neither ``decouple=False`` nor ``exact`` asks for Hessian-vector products), otherwise
        ``"hutchinson"``; the result's "method" says which ran and "why" the reason. Reasoning: both are unbiased
        for tr(H) where Gauss-Newton applies, and on a W4A4 ResNet-20 it reached a 5 % error 7.8x to 15.6x faster
        than PyHessian in four runs, against 2.4x for decoupled Hutchinson (benchmarks/hessian.py), because a pass
        is one back-propagation instead of a double one and its samples vary less.

        ``"hutchinson"``: Rademacher probes; with ``decouple=True`` (default) each chunk of the data gets
        its own probe in every pass, sum_b w_b v_b^T H_b v_b: unbiased like v^T H v, same cost, lower variance
        whenever the chunks' Hessians are aligned (benchmarks/hessian.py measures it on ResNet-20). The diagonal
        blocks of the parameters in ``exact`` (names, or ``"auto"``: the last module's parameters if they have at
        most 4,096 entries, a CIFAR classifier head) are taken exactly (:meth:`exact_diagonal`) with the probes zero
        there, which removes those blocks and their couplings to the rest from the variance. Off by default: on
        ResNet-20 the head's share of the decoupled variance measured nil (sd 278 vs 276, benchmarks/hessian.py).
        ``"hutch++"`` (Meyer et al., 2021): a third of the passes find the dominant subspace Q, whose trace is taken
        exactly; the rest estimate the trace of the deflated (I - QQ^T) H (I - QQ^T), decoupled as above (``exact``
        is not used).
        ``"gauss-newton"``: no Hessian-vector products. For the cross-entropy of a network that is piecewise linear
        in each parameter tensor (ReLU-family activations, pooling, eval-mode BatchNorm, straight-through fake
        quantizers: every mpqlab model), each tensor's own Hessian block has no second-derivative-of-the-network
        term, so tr(H) = tr(G) exactly (almost everywhere), G = J^T Lambda J the generalised Gauss-Newton matrix.
        And for labels yhat drawn from the model's own softmax, E ||grad l_i(yhat_i)||^2 = tr(G_i) while the
        gradients of different samples have mean zero, so a chunk of s samples gives the unbiased sample
        s ||grad L_b(yhat)||^2 of its mean tr(G_b). One sample: sum_b w_b s_b ||grad L_b(yhat_b)||^2, fresh labels
        every pass, one back-propagation per chunk through forward graphs built once. Refused for a loss other
        than ``F.cross_entropy``, BatchNorm with batch statistics, quantizer parameters among ``params``, or a
        network whose autograd graph is curved in a single parameter tensor (tanh, softmax attention, x * x, a
        custom autograd Function, an operation the check does not know: :meth:`gauss_newton_issue`).
        One chunk, ``decouple=False`` and ``exact=None`` give the textbook estimators.
        Returns {"trace", "std_error" (of the stochastic part), "samples", "hvps" (passes), "time_s", "method",
        "decoupled", "exact_part", "exact_params", "exact_time_s", "why"}; "gauss-newton" adds "backward_passes",
        "forward_time_s" (the forward graphs, built once whatever the number of passes) and "check_time_s" (the
        graph check, counted in "time_s")."""
        t_check = time.time()
        method, why = self._resolve(method, decouple, exact)
        t_check = time.time() - t_check  # "auto": one forward on two samples and a walk over its graph
        if self.backend == "pyhessian":
            if method != "hutchinson" or exact is not None:
                raise MpqlabError(f"trace(method={method!r}, exact={exact!r}) needs backend='mpqlab'; pyhessian's "
                                  "trace is textbook Hutchinson over one batch")
            return {**self._pyhessian("trace", n_probes=n_probes, seed=seed), "why": why}
        t0, n0 = time.time(), self.n_hvp
        g = torch.Generator().manual_seed(seed)
        decoupled = decouple and len(self.chunks) > 1
        if method == "hutchinson":
            idx = self._exact_indices(exact)
            names = [self.names[k] for k in idx]
            exact_part = sum(self.exact_diagonal(names).values())
            t_exact = time.time() - t0
            samples = self._quadratic_samples(n_probes, g, decouple, project=_zeroing(idx))
            est = exact_part + float(np.mean(samples))
            se = float(np.std(samples, ddof=1) / math.sqrt(len(samples))) if len(samples) > 1 else float("nan")
            return {"trace": est, "std_error": se, "samples": samples, "hvps": round(self.n_hvp - n0, 6),
                    "time_s": time.time() - t0, "method": method, "decoupled": decoupled, "exact_part": exact_part,
                    "exact_params": names, "exact_time_s": t_exact, "why": why}
        if method == "gauss-newton":
            r = self._trace_gauss_newton(n_probes, g, t0)
            return {**r, "time_s": r["time_s"] + t_check, "why": why, "check_time_s": t_check}
        m = max(3, n_probes) // 3
        S = [V.rademacher(self.params, g) for _ in range(m)]
        AS = torch.stack([V.flatten(v) for v in self._hvp_many(S)], 1)
        Q, _ = torch.linalg.qr(AS)
        Qv = [V.unflatten(Q[:, j], self.params) for j in range(Q.shape[1])]
        AQ = torch.stack([V.flatten(v) for v in self._hvp_many(Qv)], 1)
        low_rank = torch.trace(Q.T @ AQ).item()

        def deflate(v):
            f = V.flatten(v)
            return V.unflatten(f - Q @ (Q.T @ f), self.params)

        samples = self._quadratic_samples(m, g, decouple, project=deflate)
        est = low_rank + float(np.mean(samples))
        se = float(np.std(samples, ddof=1) / math.sqrt(m)) if m > 1 else float("nan")
        return {"trace": est, "std_error": se, "samples": samples, "low_rank_part": low_rank,
                "hvps": round(self.n_hvp - n0, 6), "time_s": time.time() - t0, "method": method,
                "decoupled": decoupled, "why": why}

    def gauss_newton_issue(self) -> str | None:
        """Why tr(H) = tr(G) or the sampled-label estimator would not hold here (see :meth:`trace`), or None.
        The network's linearity in each parameter tensor is read from the autograd graph of one forward pass on
        two samples (:func:`mpqlab.analysis.linearity.curved_nodes`: unknown operations count as curved)."""
        if self.loss_fn is not F.cross_entropy:
            return "it needs loss_fn=F.cross_entropy (labels are drawn from the softmax)"
        if uses_batch_statistics(self.model):
            return "the model's BatchNorm uses batch statistics, which make it curved in its parameters; call " \
                   "model.eval() first"
        quant = [n for n in self.names if is_search_param(n)]
        if quant:  # the network is not linear in a quantizer's step or clip
            return f"quantizer parameters such as {quant[0]} are among the Hessian's parameters; use params='weights'"
        if self._curved is None:
            with preserved(self.model):
                self._curved = curved_nodes(self._logits(self.chunks[0][0][:2]), self.params)
        if self._curved:
            return f"the network is curved in single parameter tensors at {', '.join(self._curved)}, which makes " \
                   "tr(H) differ from tr(G)"
        return None

    def _gauss_newton_ready(self) -> None:
        issue = self.gauss_newton_issue()
        if issue:
            raise MpqlabError(f"trace(method='gauss-newton'): {issue}; use method='hutchinson'")

    def _resolve(self, method: str, decouple: bool = True, exact=None) -> tuple[str, str | None]:
        """The estimator ``method`` names, and for ``"auto"`` why it chose it: Gauss-Newton where
        :meth:`gauss_newton_issue` finds nothing and the caller asked for neither textbook probes
        (``decouple=False``) nor exact blocks, decoupled Hutchinson otherwise."""
        if method not in TRACE_METHODS:
            raise MpqlabError(f"unknown trace method {method!r}; use one of {', '.join(TRACE_METHODS)}")
        if method != "auto":
            return method, None
        if self.backend == "pyhessian":
            return "hutchinson", "pyhessian backend"
        if not decouple or exact is not None:
            return "hutchinson", "decouple=False or exact= asks for Hessian-vector products"
        issue = self.gauss_newton_issue()
        return ("hutchinson", issue) if issue else ("gauss-newton", "piecewise linear in each parameter tensor")

    def _logits(self, x):
        """The model's output with the Hessian's parameters attached (the others detached), buffers untouched."""
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}
        chosen = {id(p) for p in self.params}
        frozen = {n: p.detach() for n, p in self.model.named_parameters() if id(p) not in chosen}
        return torch.func.functional_call(self.model, {**buffers, **frozen}, (x,), strict=False)

    def _gauss_newton_samples(self, n: int, g: torch.Generator) -> tuple[np.ndarray, float]:
        """n samples of sum_b w_b s_b ||grad_l L_b(yhat_b)||^2 per parameter tensor l (an n x len(params) array,
        E = tr(G_ll)), and the seconds spent building the forward graphs (see :meth:`trace`)."""
        self._gauss_newton_ready()
        acc, t_forward = np.zeros((n, len(self.params))), 0.0
        with preserved(self.model):
            for (x, _), w in zip(self.chunks, self.weights):  # chunk by chunk: one forward graph alive at a time
                t1 = time.time()
                out = self._logits(x)
                t_forward += time.time() - t1
                probs = torch.softmax(out.detach().double(), 1).cpu()
                s = len(x)
                for k in range(n):
                    yhat = torch.multinomial(probs, 1, generator=g).squeeze(1)
                    # d(mean CE)/d logits = (softmax - onehot(yhat)) / s
                    dout = (probs - F.one_hot(yhat, probs.shape[1]).double()) / s
                    grads = torch.autograd.grad(out, self.params, dout.to(out.device, out.dtype), retain_graph=True)
                    acc[k] += w * s * torch.stack([(t.double() ** 2).sum() for t in grads]).cpu().numpy()
                del out
        return acc, t_forward

    def _trace_gauss_newton(self, n: int, g: torch.Generator, t0: float) -> dict:
        acc, t_forward = self._gauss_newton_samples(n, g)
        samples = [float(v) for v in acc.sum(1)]
        est = float(np.mean(samples))
        se = float(np.std(samples, ddof=1) / math.sqrt(n)) if n > 1 else float("nan")
        return {"trace": est, "std_error": se, "samples": samples, "hvps": 0.0, "backward_passes": n,
                "time_s": time.time() - t0, "method": "gauss-newton", "decoupled": len(self.chunks) > 1,
                "exact_part": 0.0, "exact_params": [], "exact_time_s": 0.0, "forward_time_s": t_forward}

    def layer_traces(self, n_probes: int = 32, seed: int = 0, decouple: bool = True, exact=None,
                     method: str = "auto") -> dict:
        """Per-layer trace of the diagonal Hessian block, tr(H_ll), from Rademacher probes
        (E[v_l^T (H v)_l] = tr(H_ll)), decoupled over chunks and with the ``exact`` blocks taken exactly, as in
        :meth:`trace`; or, ``method="gauss-newton"``, from ``n_probes`` sampled-label back-propagations
        (tr(H_ll) = tr(G_ll) for a piecewise-linear network, see :meth:`trace`; ``exact`` is not used); ``"auto"``
        (default) chooses between the two as :meth:`trace` does.
        Keys are module names (parameters of one module are summed)."""
        if self.backend == "pyhessian":
            raise MpqlabError("layer_traces needs backend='mpqlab'; PyHessian 0.1 has no per-layer trace")
        if method == "hutch++":
            raise MpqlabError("unknown layer-trace method 'hutch++'; use 'auto', 'hutchinson' or 'gauss-newton'")
        method, _ = self._resolve(method, decouple, exact)
        g = torch.Generator().manual_seed(seed)
        if method == "gauss-newton":
            acc, _ = self._gauss_newton_samples(n_probes, g)
            out: dict[str, float] = {}
            for name, val in zip(self.names, acc.mean(0)):
                layer = name.rsplit(".", 1)[0]
                out[layer] = out.get(layer, 0.0) + float(val)
            return out
        idx = self._exact_indices(exact)
        exact_vals = self.exact_diagonal([self.names[k] for k in idx])
        sums: dict[str, list[float]] = {}
        for sample in self._quadratic_samples(n_probes, g, decouple, project=_zeroing(idx), per_layer=True):
            per: dict[str, float] = {}
            for name, val in {**sample, **exact_vals}.items():
                layer = name.rsplit(".", 1)[0]
                per[layer] = per.get(layer, 0.0) + val
            for k, val in per.items():
                sums.setdefault(k, []).append(val)
        return {k: float(np.mean(v)) for k, v in sums.items()}

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
        from .pyhessian_backend import pyhessian_quantity

        return pyhessian_quantity(self.model, self.loss_fn, self.batches, self.params, self.device, what, seed, **kw)

    def lanczos(self, iters: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """Lanczos tridiagonalisation from a Rademacher start vector (full re-orthogonalisation).
        Returns (diag, off_diag)."""
        g = torch.Generator().manual_seed(seed)
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
