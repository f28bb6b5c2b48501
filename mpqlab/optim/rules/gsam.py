"""GSAM: SAM plus a descent step along the surrogate gap's component orthogonal to the perturbed gradient."""
from __future__ import annotations

import torch

from ...core.vectors import EPS, ascent
from ..radius import RHO0
from ..two_pass import TwoPassOptimizer
from . import register_rule

GAMMA = 0.1  # GSAM's weight of the orthogonal component (Zhuang et al.'s alpha); the search's --gsam-gamma default
RADIUS = "lr"  # GSAM's radius schedule when the search names none (proportional to the learning rate)


@register_rule("gsam", default_radius=RADIUS, options={"gamma": "gsam_gamma"})
class GSAM(TwoPassOptimizer):
    """GSAM (Zhuang et al. 2022): SAM plus the surrogate gap's orthogonal component, weight gsam_gamma"""

    def __init__(self, params, base_optimizer, rho: float = RHO0, gamma: float = GAMMA, radius: str = RADIUS, **kwargs):
        self.gamma = gamma
        super().__init__(params, base_optimizer, rho=rho, radius=radius, **kwargs)

    def perturbation(self, g, gnorm, rho):
        return ascent(g, gnorm, rho)

    def direction_context(self, grads, grads_p):
        dot = sum(torch.dot(g.flatten(), gp.flatten()) for g, gp in zip(grads, grads_p))
        gp2 = sum(torch.dot(gp.flatten(), gp.flatten()) for gp in grads_p)
        return {"coef": dot / (gp2 + EPS)}  # a device tensor: no host sync

    @staticmethod
    def orthogonal_part(g, gp, coef):
        """The part of g orthogonal to g_p (coef = <g, g_p> / ||g_p||^2 over all parameters)."""
        return g - coef * gp

    def direction(self, g, gp, ctx):
        return gp - self.gamma * self.orthogonal_part(g, gp, ctx["coef"])
