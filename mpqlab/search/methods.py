"""What a search can be (timm-style): the registries of objectives (:mod:`mpqlab.search.objectives`), weight-update
rules and radius schedules (:mod:`mpqlab.optim`), gathered here with the grid's method names. The command line
takes its choices and help from these, :class:`SearchConfig` checks against them, the experiment harness parses
methods here, and the search loop dispatches non-gradient objectives (HAWQ) through their class.

A method is ``objective[+rule]`` (``edmips+asga``), ``objective@target`` (the reference: searched on the target
itself), ``objective[+rule]@selected`` (the best of several proxy searches, chosen on held-out proxy images the same
way the reference is chosen on held-out target images: the grid's ``selection`` block), or a null baseline that searches nothing: ``uniform``, ``uniform:W<w>A<a>``, ``random``. A search method
may carry its own settings after a colon, ``edmips+sam:rho=0.2`` or ``edmips+asga:rho=0.1,rho_max=0.5``
(:class:`~mpqlab.search.SearchConfig` fields, applied over the grid's shared ``search`` block): one grid can
then hold the same rule at several radii.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..core.errors import MpqlabError
from ..quant.quantizers import parse_bits
from .objectives import OBJECTIVES, list_objectives, objective_spec, register_objective
from ..optim.radius import RADII, list_radii, register_radius
from ..optim.rules import RULES, list_rules, register_rule

__all__ = ["OBJECTIVES", "RULES", "RADII", "NULLS", "REFERENCE", "SELECTED", "SHARED", "TARGET", "Method", "is_null",
           "is_uniform", "list_methods", "list_objectives", "list_radii", "list_rules", "objective_spec",
           "parse_method", "register_objective", "register_radius", "register_rule"]

NULLS = {"uniform": "every searchable layer at the budget-matched bits",
         "uniform:W<w>A<a>": "every searchable layer at explicit bits that fit the budget",
         "random": "a random budget-matched policy per seed"}
TARGET = "@target"
SELECTED = "@selected"  # the best of several proxy searches, chosen on held-out proxy images (the grid's "selection")
REFERENCE = "edmips" + TARGET  # the reference of every grid: EdMIPS searched on the target training set
# the setting of null-baseline cells in a grid with "shared_nulls": a uniform or random policy does not depend on the
# proxy, so it is transferred once per seed and compared with every setting's methods
SHARED = "shared"


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
    options: tuple = ()     # ((SearchConfig field, value), ...) given after the colon, in the order written
    selected: bool = False  # objective[+rule]@selected: best of the grid's "selection" candidates on the proxy
    bits: tuple | None = None  # uniform:W<w>A<a>: its (w, a)


def parse_method(method: str) -> Method:
    """``edmips+asga`` -> Method(objective="edmips", rule="asga"); refused with the known names when unknown."""
    if is_null(method):
        if method.startswith("uniform:"):
            if not method[len("uniform:"):].startswith("W"):
                raise MpqlabError(f"method {method!r}: write an explicit uniform baseline as uniform:W<bits>A<bits>")
            bits = parse_bits(method[len("uniform:"):], f"method {method!r}")
            return Method(method, None, None, False, bits=bits)
        return Method(method, None, None, False)
    method_name = method
    method, _, opts = method.partition(":")
    options = _options(method_name, opts) if opts else ()
    base, on_target = (method[:-len(TARGET)], True) if method.endswith(TARGET) else (method, False)
    base, selected = (base[:-len(SELECTED)], True) if base.endswith(SELECTED) else (base, False)
    objective, _, rule = base.partition("+")
    rule = rule or "none"
    if objective not in OBJECTIVES or rule not in RULES:
        raise MpqlabError(f"unknown method {method!r}: objective[+rule][@target|@selected] with objectives "
                          f"{', '.join(OBJECTIVES)} and rules {', '.join(r for r in RULES if r != 'none')}, or "
                          f"{', '.join(NULLS)}")
    if OBJECTIVES[objective].searcher and rule != "none":
        raise MpqlabError(f"method {method!r}: {objective} is not a gradient search and takes no sharpness rule")
    return Method(method_name, objective, rule, on_target, options, selected)


def _options(method: str, text: str) -> tuple:
    """``rho=0.2,rho_max=0.5`` -> (("rho", 0.2), ("rho_max", 0.5)); values read as JSON (numbers, true / false),
    else kept as text. The field names are checked where the search config is built."""
    out = []
    for item in text.split(","):
        key, eq, value = item.partition("=")
        if not eq or not re.fullmatch(r"[a-z_][a-z0-9_]*", key):
            raise MpqlabError(f"method {method!r}: write its settings as name=value[,name=value], got {item!r}")
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = value
        out.append((key, parsed))
    if len({k for k, _ in out}) != len(out):
        raise MpqlabError(f"method {method!r}: a setting is given twice")
    return tuple(out)


def list_methods() -> list[str]:
    """Every method a grid config may name (``uniform:W<w>A<a>`` stands for any explicit pair)."""
    searched = [o + ("" if r == "none" else f"+{r}") for o, spec in OBJECTIVES.items() for r in RULES
                if r == "none" or not spec.searcher]
    return list(NULLS) + searched + [f"{o}{TARGET}" for o in OBJECTIVES if not OBJECTIVES[o].searcher]
