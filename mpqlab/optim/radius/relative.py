"""The ``relative`` radius schedule: the gap per unit radius over its running scale, through rho_0 ln(1 + (e - 1) x) [choice]."""
from __future__ import annotations

from . import RadiusSchedule, scaled_radius, register_radius


@register_radius("relative")
class Relative(RadiusSchedule):
    """the gap per unit radius over its running scale, through rho_0 ln(1 + (e - 1) x) [choice]"""

    def update(self, h, kappa=None, rho_used=None):
        if not rho_used:
            return
        s, u = self.state, h / rho_used
        s["ubar"] = u if not (s["ubar"] or 0) > 0 else self.decay * s["ubar"] + (1 - self.decay) * u
        s["rho"] = scaled_radius(u, s["ubar"], self.rho0, self.rho_max, self.rho_min)
