"""The weight-update rules of a search, one registered entry each: ``none`` (the plain gradient step) and the
two-pass sharpness-aware rules SAM, GSAM and ASGA. A new rule is one class in one file::

    @register_rule("mysam", default_radius="fixed")
    class MySAM(TwoPassOptimizer):
        \"\"\"one line of help\"\"\"
        def perturbation(self, g, gnorm, rho): ...
        def direction(self, g, gp, ctx): ...

after which ``SearchConfig(sharpness="mysam")``, the method ``edmips+mysam`` in a grid and ``mpqlab search
--sharpness mysam`` all work. ``options`` maps a constructor keyword to the :class:`~mpqlab.search.SearchConfig`
field that sets it (GSAM's ``gamma`` <- ``gsam_gamma``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..plugins import Registry
from .radius import RHO0, RHO_MAX, RHO_MIN
from .two_pass import _EPS, TwoPassOptimizer

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


@register_rule("sam", default_radius="fixed")
class SAM(TwoPassOptimizer):
    """SAM (Foret et al. 2021): ascent to theta + rho g/|g|, descent with the gradient there"""

    def perturbation(self, g, gnorm, rho):
        return g * (rho / (gnorm + _EPS))

    def direction(self, g, gp, ctx):
        return gp


@register_rule("gsam", default_radius="lr", options={"gamma": "gsam_gamma"})
class GSAM(TwoPassOptimizer):
    """GSAM (Zhuang et al. 2022): SAM plus the surrogate gap's orthogonal component, weight gsam_gamma"""

    def __init__(self, params, base_optimizer, rho: float = RHO0, gamma: float = 0.1, radius: str = "lr", **kwargs):
        self.gamma = gamma
        super().__init__(params, base_optimizer, rho=rho, radius=radius, **kwargs)

    def perturbation(self, g, gnorm, rho):
        return g * (rho / (gnorm + _EPS))

    def direction_context(self, grads, grads_p):
        import torch

        dot = sum(torch.dot(g.flatten(), gp.flatten()) for g, gp in zip(grads, grads_p))
        gp2 = sum(torch.dot(gp.flatten(), gp.flatten()) for gp in grads_p)
        return {"coef": dot / (gp2 + _EPS)}  # a device tensor: no host sync

    @staticmethod
    def orthogonal_part(g, gp, coef):
        """The part of g orthogonal to g_p (coef = <g, g_p> / ||g_p||^2 over all parameters)."""
        return g - coef * gp

    def direction(self, g, gp, ctx):
        return gp - self.gamma * self.orthogonal_part(g, gp, ctx["coef"])


@register_rule("asga", default_radius="relative", options={"beta": "beta"})
class ASGA(TwoPassOptimizer):
    """ASGA (the paper): perturbation (rho/|g| - beta) g, update (g + g_p)/2, adaptive rho"""

    def __init__(self, params, base_optimizer, rho: float = RHO0, beta: float = 0.001, radius: str = "relative",
                 rho_max: float = RHO_MAX, rho_min: float = RHO_MIN, **kwargs):
        self.beta = beta
        super().__init__(params, base_optimizer, rho=rho, radius=radius, rho_max=rho_max, rho_min=rho_min, **kwargs)

    def perturbation(self, g, gnorm, rho):
        return g * (rho / (gnorm + _EPS) - self.beta)

    def direction(self, g, gp, ctx):
        return (g + gp) / 2


OPTIMIZERS = {name: rule.optimizer for name, rule in RULES.items() if rule.optimizer}  # the built-in ones
