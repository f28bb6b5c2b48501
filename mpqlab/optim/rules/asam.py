"""ASAM: SAM with the ascent measured relative to each weight's size (scale-invariant sharpness)."""
from __future__ import annotations

from ..two_pass import TwoPassOptimizer
from . import register_rule


@register_rule("asam", default_radius="fixed")
class ASAM(TwoPassOptimizer):
    """ASAM (Kwon et al. 2021): adaptive SAM, the ascent scaled elementwise by |w| + eta"""

    eta = 0.01  # keeps the scale of a weight at 0 from vanishing (Kwon et al.'s default)

    def ascent_scale(self, p):
        return p.detach().abs() + self.eta

    def perturbation(self, g, gnorm, rho, p=None):
        t = self.ascent_scale(p)
        return (rho / (gnorm + 1e-12)) * t * t * g  # e = rho T^2 g / ||T g||, so that ||e / T|| = rho

    def direction(self, g, gp, ctx):
        return gp
