"""SAM: the sharpness-aware rule every other one extends."""
from __future__ import annotations

from ...core.vectors import ascent
from ..two_pass import TwoPassOptimizer
from . import register_rule


@register_rule("sam", default_radius="fixed")
class SAM(TwoPassOptimizer):
    """SAM (Foret et al. 2021): ascent to theta + rho g/|g|, descent with the gradient there"""

    def perturbation(self, g, gnorm, rho):
        return ascent(g, gnorm, rho)

    def direction(self, g, gp, ctx):
        return gp
