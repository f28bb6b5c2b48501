"""The ``curvature`` radius schedule: the curvature along the perturbation over its running scale, same formula [option]."""
from __future__ import annotations

from . import RadiusSchedule, scaled_radius, register_radius


@register_radius("curvature")
class Curvature(RadiusSchedule):
    """the curvature along the perturbation over its running scale, same formula [option]"""

    def update(self, h, kappa=None, rho_used=None):
        if kappa is None:
            return
        s, k = self.state, max(kappa, 0.0)
        s["kbar"] = k if s["kbar"] is None or not s["kbar"] > 0 else self.decay * s["kbar"] + (1 - self.decay) * k
        s["rho"] = scaled_radius(kappa, s["kbar"], self.rho0, self.rho_max, self.rho_min)
