"""The weight-update side of a search: the two-pass (sharpness-aware) optimizer, its rules (SAM, GSAM, ASGA) and
its radius schedules, each rule and schedule a registered class (:mod:`.rules`, :mod:`.radius`)."""
from .radius import RADII, RadiusSchedule, adaptive_radius, create_radius, list_radii, register_radius, scaled_radius
from .rules import ASGA, GSAM, OPTIMIZERS, RULES, SAM, Rule, list_rules, register_rule
from .two_pass import TwoPassOptimizer, directional_curvature, frozen_bn_stats

__all__ = ["ASGA", "GSAM", "OPTIMIZERS", "RADII", "RULES", "RadiusSchedule", "Rule", "SAM", "TwoPassOptimizer",
           "adaptive_radius", "create_radius", "directional_curvature", "frozen_bn_stats", "list_radii",
           "list_rules", "register_radius", "register_rule", "scaled_radius"]
