"""The ``fixed`` radius schedule: rho_0 at every step."""
from __future__ import annotations

from . import RadiusSchedule, register_radius


@register_radius("fixed")
class Fixed(RadiusSchedule):
    """rho_0 at every step"""
