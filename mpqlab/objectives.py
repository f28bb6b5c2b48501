"""Search objectives on top of cross-entropy, one registered class each (``@register_objective("name")``;
unknown names are refused with the list).

- ``edmips``: cross-entropy (+ the cost term, see :mod:`mpqlab.search.budget`).
- ``gmpq``: edmips + attribution-rank preservation: Grad-CAM maps (Selvaraju et al.) at the last stage of the
  quantized supernet and of the frozen full-precision model, each normalised to unit L2 norm per image; the
  loss adds ``gmpq_weight * mean_i ||cam_q(i) - cam_fp(i)||_2`` **[choice: weight 40, GMPQ's README example]**.
  The supernet's map is built with ``create_graph=True`` so the penalty trains both weights and bit logits.
"""
from __future__ import annotations

import importlib

import torch
import torch.nn as nn
import torch.nn.functional as F

from .plugins import Registry


def gradcam(model: nn.Module, feature_module: nn.Module, x: torch.Tensor, y: torch.Tensor,
            create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, cam): Grad-CAM of the true class at ``feature_module``'s output, flattened, unit L2 norm."""
    store = {}

    def hook(m, i, o):
        if not o.requires_grad:  # a frozen model: track gradients from the feature map on
            o = o.detach().requires_grad_(True)
        store["f"] = o
        return o

    handle = feature_module.register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        handle.remove()
    feats = store["f"]
    score = logits.gather(1, y[:, None]).sum()
    grad = torch.autograd.grad(score, feats, create_graph=create_graph, retain_graph=True)[0]
    cam = F.relu((grad.mean((2, 3), keepdim=True) * feats).sum(1)).flatten(1)
    return logits, cam / (cam.norm(dim=1, keepdim=True) + 1e-8)


OBJECTIVES = Registry("objective")


def register_objective(name: str, searcher: str | None = None, help: str | None = None):
    """Class decorator: register an :class:`Objective` subclass as ``name`` (help: its docstring's first line).
    ``searcher = "module:function"`` marks a search that is not a gradient search on the supernet (HAWQ): the
    loop calls ``function(model, cfg, train, input_size)`` instead."""
    def deco(cls):
        cls.name = name
        cls.help = help or (cls.__doc__ or name).strip().splitlines()[0]
        cls.searcher = searcher
        return OBJECTIVES.add(name, cls)
    return deco


def list_objectives() -> list[str]:
    """Registered objective names."""
    return OBJECTIVES.names()


def objective_spec(name: str) -> type["Objective"]:
    """The registered objective class, or a one-line error listing the known ones."""
    return OBJECTIVES.lookup(name)


class Objective:
    """Base: a callable ``objective(net, x, y) -> (loss, info)`` with ``info["ce"]`` and ``info["logits"]``.
    :meth:`from_config` builds it for a search (``model``: the full-precision model the search starts from)."""

    name = help = ""
    searcher: str | None = None

    @classmethod
    def search_function(cls):
        """The ``searcher`` function (imported when first needed), or None for the supernet's gradient search."""
        if cls.searcher is None:
            return None
        module, _, fn = cls.searcher.partition(":")
        return getattr(importlib.import_module(module), fn)

    @classmethod
    def from_config(cls, cfg, model: nn.Module, feature_name: str | None) -> "Objective":
        """The objective for a search with config ``cfg`` starting from ``model`` (before the supernet wraps it)."""
        return cls()

    def begin_step(self, x, y) -> None:
        """Called once per search step before its passes (e.g. to compute a per-batch target once)."""

    def __call__(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        logits = net(x)
        ce = F.cross_entropy(logits, y)
        return ce, {"ce": ce.item(), "logits": logits}


@register_objective("edmips")
class EdMIPS(Objective):
    """EdMIPS (Cai & Vasconcelos 2020): cross-entropy + BitOPs hinge on the supernet"""


@register_objective("gmpq")
class GMPQ(Objective):
    """GMPQ (Wang et al. 2021): EdMIPS + Grad-CAM attribution-rank preservation"""

    def __init__(self, fp_model: nn.Module, feature_name: str, weight: float = 40.0):
        self.fp_model, self.feature_name, self.weight = fp_model, feature_name, weight
        self.fp_model.eval()
        for p in self.fp_model.parameters():
            p.requires_grad_(False)
        self._target: torch.Tensor | None = None

    @classmethod
    def from_config(cls, cfg, model, feature_name):
        """A frozen copy of the starting model gives the full-precision attribution maps."""
        import copy

        if feature_name is None:
            raise ValueError("gmpq needs the feature layer name of the model")
        return cls(copy.deepcopy(model), feature_name, cfg.gmpq_weight)

    def begin_step(self, x, y) -> None:
        """Compute the full-precision model's attribution for this batch once (both passes of a step use it)."""
        with torch.enable_grad():
            _, cam = gradcam(self.fp_model, self.fp_model.get_submodule(self.feature_name), x.detach(), y, False)
        self._target = cam.detach()

    def __call__(self, net, x, y):
        if self._target is None or len(self._target) != len(y):
            self.begin_step(x, y)
        inner = getattr(net, "net", net)  # a Supernet keeps the model in .net
        logits, cam = gradcam(net, inner.get_submodule(self.feature_name), x, y, True)
        ce = F.cross_entropy(logits, y)
        attr = (cam - self._target).norm(dim=1).mean()
        return ce + self.weight * attr, {"ce": ce.item(), "attribution": attr.item(), "logits": logits}


@register_objective("hawq", searcher="mpqlab.search.hawq:hawq_search")
class HAWQ(Objective):
    """HAWQ-v2 (Dong et al. 2020): Hessian trace x quantization error, ILP; no gradient search"""
