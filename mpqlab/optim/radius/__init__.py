"""Radius schedules of the two-pass optimizers: how rho moves from step to step. One registered class each
(``@register_radius("name")``), one file each in this folder (discovered: a new file is a new schedule);
:func:`create_radius` builds one by name, :func:`list_radii` lists them.

A schedule is asked :meth:`RadiusSchedule.current` (the radius of the next ascent step, given the learning rate)
and told :meth:`RadiusSchedule.update` after every full two-pass step (the surrogate gap h = L_p - L, the
curvature along the perturbation kappa, the radius that step used). Its ``state`` dict is what a resumed run
needs. The rules (see :mod:`mpqlab.optim.two_pass` for the reasoning behind each):

- ``fixed``: rho_0 throughout.
- ``lr`` (GSAM's): rho proportional to the learning rate between rho_min and rho_max.
- ``adaptive``: the paper's rule taken literally, ``rho <- min(rho_max, ln(1 + h))`` (h optionally smoothed,
  ``h_ema``), floored at rho_min.
- ``relative`` **[choice, ASGA's default]**: the gap per unit radius u = h / rho over its running scale sets
  ``rho_0 ln(1 + (e - 1) u / ubar)``, clipped.
- ``curvature``: the same formula on kappa over its running scale (an option).
"""
from __future__ import annotations

import math

from ...core.registry import Registry, discover

RADII = Registry("radius schedule")

# The radius defaults, the one place they are written (the optimizers, the rules and SearchConfig read them):
RHO0 = 0.05  # rho_0: the fixed rule's radius, the adaptive rules' start (SAM's default) [choice]
RHO_MAX = 0.1  # the adaptive rules' ceiling [choice]
RHO_MIN = 0.01  # the adaptive rules' floor [choice]: a floor of 0 lets the literal rule's ln(1 + h) stop perturbing
#                 at a flat point (h = 0 gives rho = 0, so h stays 0: the sharpness term switches itself off)


def at_bound(rho: float, rho_min: float = RHO_MIN, rho_max: float = RHO_MAX) -> bool:
    """Whether a schedule's radius sits at one of its bounds (relative tolerance 1e-6 of rho_max): the one test
    behind every 'share of steps at a bound' (judge the schedule's rho, not the perturbation's norm, which a rule
    such as ASGA's shortens by beta ||g||)."""
    return min(abs(rho - rho_min), abs(rho - rho_max)) <= 1e-6 * rho_max


def register_radius(name: str):
    """Class decorator: add a :class:`RadiusSchedule` subclass under ``name`` (its docstring's first line is its
    help)."""
    def deco(cls):
        cls.name, cls.help = name, (cls.__doc__ or name).strip().splitlines()[0]
        return RADII.add(name, cls)
    return deco


def list_radii() -> list[str]:
    """Registered radius schedules."""
    return RADII.names()


def create_radius(name: str, rho0: float = RHO0, rho_max: float = RHO_MAX, rho_min: float = RHO_MIN,
                  h_ema: float | None = None) -> "RadiusSchedule":
    """The schedule ``name`` starting at ``rho0`` (refused with the known names when unknown)."""
    if name not in RADII:
        raise ValueError(f"radius must be one of {', '.join(RADII)}, got {name!r}")
    return RADII[name](rho0, rho_max, rho_min, h_ema)


def adaptive_radius(h: float, rho_max: float = RHO_MAX, rho_min: float = RHO_MIN) -> float:
    """ASGA's radius from a surrogate gap h >= 0: ``min(rho_max, ln(1 + h))``, floored at ``rho_min``."""
    return max(rho_min, min(rho_max, math.log1p(max(h, 0.0))))


def scaled_radius(x: float, scale: float, rho0: float, rho_max: float, rho_min: float) -> float:
    """The ``"relative"`` and ``"curvature"`` rules: ``rho0 * ln(1 + (e - 1) * max(x, 0) / scale)`` clipped to
    [rho_min, rho_max]: ``rho0`` when ``x`` equals its running scale; ``rho0`` too while the scale is not positive."""
    if not scale > 0:
        return max(rho_min, min(rho_max, rho0))
    return max(rho_min, min(rho_max, rho0 * math.log1p((math.e - 1.0) * max(x, 0.0) / scale)))


class RadiusSchedule:
    """Base: rho_0 fixed. Subclasses override :meth:`current` and / or :meth:`update`."""

    name = help = ""

    def __init__(self, rho0: float = RHO0, rho_max: float = RHO_MAX, rho_min: float = RHO_MIN,
                 h_ema: float | None = None):
        self.rho0, self.rho_max, self.rho_min, self.h_ema = rho0, rho_max, rho_min, h_ema
        self.state = {"rho": rho0, "h": None, "lr_max": None, "lr_min": None, "kbar": None, "ubar": None}

    @property
    def decay(self) -> float:
        """The running scales' decay: ``h_ema`` or 0.9."""
        return 0.9 if self.h_ema is None else self.h_ema

    def current(self, lr: float) -> float:
        """The radius of the next ascent step."""
        return self.state["rho"]

    def update(self, h: float, kappa: float | None = None, rho_used: float | None = None) -> None:
        """After a full two-pass step: its surrogate gap, curvature along e, and the radius it used."""


# every module beside this file is an entry of the family (a new file is the whole change)
discover(__name__, __path__)
