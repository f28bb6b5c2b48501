"""The ``lr`` radius schedule: rho proportional to the learning rate, between rho_min and rho_max (GSAM)."""
from __future__ import annotations

from . import RadiusSchedule, register_radius


@register_radius("lr")
class LrProportional(RadiusSchedule):
    """rho proportional to the learning rate, between rho_min and rho_max (GSAM)"""

    def current(self, lr: float) -> float:
        s = self.state
        s["lr_max"] = lr if s["lr_max"] is None else max(s["lr_max"], lr)
        s["lr_min"] = lr if s["lr_min"] is None else min(s["lr_min"], lr)
        span = s["lr_max"] - s["lr_min"]
        frac = 1.0 if span <= 0 else (lr - s["lr_min"]) / span
        return self.rho_min + (self.rho_max - self.rho_min) * frac
