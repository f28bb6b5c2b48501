"""Search objectives on top of cross-entropy, one registered class each (``@register_objective("name")``;
unknown names are refused with the list), one file each in this folder (discovered: a new file is a new objective).

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

from ...core.registry import Registry, discover, load_external


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


# every module beside this file is an entry of the family (a new file is the whole change); then MPQLAB_PLUGINS
discover(__name__, __path__)

load_external()  # plugin modules named in MPQLAB_PLUGINS (mpqlab.core.registry), now that the family exists
