"""The weight-update rules of a search, one registered entry each: ``none`` (the plain gradient step) and the
two-pass sharpness-aware rules SAM, GSAM and ASGA, one file each in this folder. A new rule is one class in one new
file here (discovered when the family is imported)::

    @register_rule("mysam", default_radius="fixed")
    class MySAM(TwoPassOptimizer):
        \"\"\"one line of help\"\"\"
        def perturbation(self, g, gnorm, rho, p=None): ...  # p: the parameter tensor, for rules that need it
        def direction(self, g, gp, ctx): ...

after which ``SearchConfig(sharpness="mysam")``, the method ``edmips+mysam`` in a grid and ``mpqlab search
--sharpness mysam`` all work. ``options`` maps a constructor keyword to the :class:`~mpqlab.search.SearchConfig`
field that sets it (GSAM's ``gamma`` <- ``gsam_gamma``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ...core.registry import Registry, discover
from ..two_pass import TwoPassOptimizer  # noqa: F401 (the base class of every rule, re-exported)

RULES = Registry("sharpness rule")


@dataclass(frozen=True)
class Rule:
    """A registered rule: its optimizer class (None for the plain step), its radius schedule when the search
    names none, and the search-config fields its constructor takes."""

    name: str
    help: str
    optimizer: type | None = None
    default_radius: str | None = None
    options: dict = field(default_factory=dict)


def register_rule(name: str, default_radius: str = "fixed", options: dict | None = None, help: str | None = None):
    """Class decorator: register a :class:`TwoPassOptimizer` subclass as the rule ``name`` (help: the class
    docstring's first line unless given)."""
    def deco(cls):
        text = help or (cls.__doc__ or name).strip().splitlines()[0]
        RULES.add(name, Rule(name, text, cls, default_radius, dict(options or {})))
        return cls
    return deco


def list_rules() -> list[str]:
    """Registered weight-update rules: ``none`` and the sharpness-aware ones."""
    return RULES.names()


RULES.add("none", Rule("none", "plain step: SGD on the weights, Adam on the bit logits"))


class _Optimizers(dict):
    """``{rule name: optimizer class}``, read live from :data:`RULES` (a rule registered later is in it too)."""

    def _view(self):
        return {name: rule.optimizer for name, rule in RULES.items() if rule.optimizer}

    def __getitem__(self, name):
        return self._view()[name]

    def __contains__(self, name):
        return name in self._view()

    def __iter__(self):
        return iter(self._view())

    def __len__(self):
        return len(self._view())

    def keys(self):
        return self._view().keys()

    def items(self):
        return self._view().items()

    def values(self):
        return self._view().values()

    def get(self, name, default=None):
        return self._view().get(name, default)


OPTIMIZERS = _Optimizers()  # name -> optimizer class, always current


# every module beside this file is an entry of the family (a new file is the whole change); then MPQLAB_PLUGINS
discover(__name__, __path__)
