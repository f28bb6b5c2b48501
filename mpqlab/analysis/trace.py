"""The trace side of :class:`mpqlab.analysis.hessian.Hessian` (a mixin, so the class stays one object with
methods named after the quantities): Hutchinson and Hutch++ with decoupled per-chunk probes, exact diagonal
blocks, the Gauss-Newton trace where the network is piecewise linear in each parameter tensor, and per-layer
traces. The methods use the Hessian's products (``hvp_block``, ``_hvp_many``, ``_chunk_graph``) and data."""
from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..core.errors import MpqlabError
from ..core import vectors as V
from .linearity import curved_nodes
from .params import is_search_param, preserved, uses_batch_statistics
from ..core.seeding import generator


EXACT_AUTO_MAX = 4096  # entries of the last module taken exactly by default (trace(exact="auto"))
TRACE_METHODS = ("auto", "hutchinson", "hutch++", "gauss-newton")


def _zeroing(idx: Sequence[int]):
    """The map v -> v with the parameters at ``idx`` set to zero (None when there are none)."""
    if not idx:
        return None
    skip = set(idx)
    return lambda v: [torch.zeros_like(t) if j in skip else t for j, t in enumerate(v)]


class TraceMixin:
    """Tr(H) and its per-layer parts; mixed into :class:`~mpqlab.analysis.hessian.Hessian`."""

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
        g = generator(seed)
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
        g = generator(seed)
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
