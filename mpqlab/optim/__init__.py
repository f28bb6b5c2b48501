"""The weight-update side of a search: the two-pass (sharpness-aware) optimizer, its rules (SAM, GSAM, ASGA) and
its radius schedules, each rule and schedule a registered class (:mod:`.rules`, :mod:`.radius`)."""
from ..core.registry import load_external
from .radius import RADII, RadiusSchedule, adaptive_radius, create_radius, list_radii, register_radius, scaled_radius
from .rules import OPTIMIZERS, RULES, Rule, list_rules, register_rule
from .rules.asga import ASGA
from .rules.gsam import GSAM
from .rules.sam import SAM
from .two_pass import TwoPassOptimizer, directional_curvature, frozen_bn_stats

__all__ = ["ASGA", "GSAM", "OPTIMIZERS", "RADII", "RULES", "RadiusSchedule", "Rule", "SAM", "TwoPassOptimizer",
           "adaptive_radius", "create_radius", "directional_curvature", "frozen_bn_stats", "list_radii",
           "list_rules", "register_radius", "register_rule", "scaled_radius"]

load_external()  # plugin modules named in MPQLAB_PLUGINS (mpqlab.core.registry), now that the families exist
