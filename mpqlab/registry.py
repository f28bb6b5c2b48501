"""What a search can be, in one registry (timm-style): objectives, sharpness-aware rules, radius schedules, and the
grid's method names. The command line takes its choices and help from here, :class:`SearchConfig` checks against
it, the experiment harness parses methods with it, and the search loop dispatches non-gradient objectives (HAWQ)
through it.

A method is ``objective[+rule]`` (``edmips+asga``), ``objective@target`` (the reference: searched on the target
itself), or a null baseline that searches nothing: ``uniform``, ``uniform:W<w>A<a>``, ``random``.
"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass

from .errors import MpqlabError
from .sharpness import OPTIMIZERS, RADII


@dataclass(frozen=True)
class ObjectiveSpec:
    """A search objective: its name, a one-line description, and for a search that is not a gradient search on
    the supernet, ``searcher`` = ``"module:function"`` called as ``function(model, cfg, train, input_size)``."""

    name: str
    help: str
    searcher: str | None = None

    def search_function(self):
        """The ``searcher`` function (imported when first needed), or None for the supernet's gradient search."""
        if self.searcher is None:
            return None
        module, _, fn = self.searcher.partition(":")
        return getattr(importlib.import_module(module), fn)


OBJECTIVES: dict[str, ObjectiveSpec] = {}
RULES = {  # the two-pass weight-update rules (mpqlab.sharpness), "none" being the plain gradient step
    "none": "plain step: SGD on the weights, Adam on the bit logits",
    "sam": "SAM (Foret et al. 2021): ascent to theta + rho g/|g|, descent with the gradient there",
    "gsam": "GSAM (Zhuang et al. 2022): SAM plus the surrogate gap's orthogonal component, weight gsam_gamma",
    "asga": "ASGA (the paper): perturbation (rho/|g| - beta) g, update (g + g_p)/2, adaptive rho",
}
NULLS = {"uniform": "every searchable layer at the budget-matched bits",
         "uniform:W<w>A<a>": "every searchable layer at explicit bits that fit the budget",
         "random": "a random budget-matched policy per seed"}
TARGET = "@target"
REFERENCE = "edmips" + TARGET  # the reference of every grid: EdMIPS searched on the target training set
# the setting of null-baseline cells in a grid with "shared_nulls": a uniform or random policy does not depend on the
# proxy, so it is transferred once per seed and compared with every setting's methods
SHARED = "shared"


def register_objective(name: str, help: str, searcher: str | None = None) -> ObjectiveSpec:
    """Add an objective (a new gradient objective also needs its loss in :mod:`mpqlab.search.objectives`)."""
    spec = ObjectiveSpec(name, help, searcher)
    OBJECTIVES[name] = spec
    return spec


register_objective("edmips", "EdMIPS (Cai & Vasconcelos 2020): cross-entropy + BitOPs hinge on the supernet")
register_objective("gmpq", "GMPQ (Wang et al. 2021): EdMIPS + Grad-CAM attribution-rank preservation")
register_objective("hawq", "HAWQ-v2 (Dong et al. 2020): Hessian trace x quantization error, ILP; no gradient "
                           "search", searcher="mpqlab.search.hawq:hawq_search")
assert set(RULES) - {"none"} == set(OPTIMIZERS), "every sharpness-aware rule needs its optimizer"


def list_objectives() -> list[str]:
    """Registered objective names."""
    return list(OBJECTIVES)


def list_rules() -> list[str]:
    """Weight-update rules: ``none`` and the sharpness-aware ones."""
    return list(RULES)


def list_radii() -> list[str]:
    """Radius schedules of the sharpness-aware rules (see :mod:`mpqlab.sharpness`)."""
    return list(RADII)


def objective_spec(name: str) -> ObjectiveSpec:
    """The registered objective, or a one-line error listing the known ones."""
    if name not in OBJECTIVES:
        raise MpqlabError(f"unknown objective {name!r}; use one of {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name]


def is_null(method: str) -> bool:
    """A baseline that searches nothing: uniform (budget-matched or ``uniform:WxAy``) or random."""
    return method in ("uniform", "random") or method.startswith("uniform:")


def is_uniform(method: str) -> bool:
    """Whether a method is a uniform-bits baseline (``uniform`` or ``uniform:WxAy``)."""
    return method == "uniform" or method.startswith("uniform:")


@dataclass(frozen=True)
class Method:
    """A grid method, parsed: objective and rule of a search (None for a null baseline), on the target or not."""

    name: str
    objective: str | None
    rule: str | None
    on_target: bool


def parse_method(method: str) -> Method:
    """``edmips+asga`` -> Method(objective="edmips", rule="asga"); refused with the known names when unknown."""
    if is_null(method):
        if method.startswith("uniform:") and not re.fullmatch(r"uniform:W\d+A\d+", method):
            raise MpqlabError(f"method {method!r}: write an explicit uniform baseline as uniform:W<bits>A<bits>")
        return Method(method, None, None, False)
    base, on_target = (method[:-len(TARGET)], True) if method.endswith(TARGET) else (method, False)
    objective, _, rule = base.partition("+")
    rule = rule or "none"
    if objective not in OBJECTIVES or rule not in RULES:
        raise MpqlabError(f"unknown method {method!r}: objective[+rule][@target] with objectives "
                          f"{', '.join(OBJECTIVES)} and rules {', '.join(r for r in RULES if r != 'none')}, or "
                          f"{', '.join(NULLS)}")
    if OBJECTIVES[objective].searcher and rule != "none":
        raise MpqlabError(f"method {method!r}: {objective} is not a gradient search and takes no sharpness rule")
    return Method(method, objective, rule, on_target)


def list_methods() -> list[str]:
    """Every method a grid config may name (``uniform:W<w>A<a>`` stands for any explicit pair)."""
    searched = [o + ("" if r == "none" else f"+{r}") for o, spec in OBJECTIVES.items() for r in RULES
                if r == "none" or not spec.searcher]
    return list(NULLS) + searched + [f"{o}{TARGET}" for o in OBJECTIVES if not OBJECTIVES[o].searcher]
