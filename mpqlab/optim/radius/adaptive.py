"""The ``adaptive`` radius schedule: the paper's rule taken literally: min(rho_max, ln(1 + h)), floored at rho_min."""
from __future__ import annotations

from . import RadiusSchedule, adaptive_radius, register_radius


@register_radius("adaptive")
class Adaptive(RadiusSchedule):
    """the paper's rule taken literally: min(rho_max, ln(1 + h)), floored at rho_min"""

    def update(self, h, kappa=None, rho_used=None):
        s = self.state
        s["h"] = h if (s["h"] is None or not self.h_ema) else self.h_ema * s["h"] + (1 - self.h_ema) * h
        s["rho"] = adaptive_radius(s["h"], self.rho_max, self.rho_min)
