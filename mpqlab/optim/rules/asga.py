"""ASGA: the paper's rule (aligned perturbation, averaged update, adaptive radius)."""
from __future__ import annotations

from ..radius import RHO0, RHO_MAX, RHO_MIN
from ...core.vectors import ascent
from ..two_pass import TwoPassOptimizer
from . import register_rule


BETA = 0.001  # beta, the alignment step [choice]; the search's --beta defaults to it
RADIUS = "relative"  # ASGA's radius schedule when the search names none [choice]


@register_rule("asga", default_radius=RADIUS, options={"beta": "beta"})
class ASGA(TwoPassOptimizer):
    """ASGA (the paper): perturbation (rho/|g| - beta) g, update (g + g_p)/2, adaptive rho"""

    def __init__(self, params, base_optimizer, rho: float = RHO0, beta: float = BETA, radius: str = RADIUS,
                 rho_max: float = RHO_MAX, rho_min: float = RHO_MIN, **kwargs):
        self.beta = beta
        super().__init__(params, base_optimizer, rho=rho, radius=radius, rho_max=rho_max, rho_min=rho_min, **kwargs)

    def perturbation(self, g, gnorm, rho, p=None):
        return ascent(g, gnorm, rho, self.beta)

    def direction(self, g, gp, ctx):
        return (g + gp) / 2
