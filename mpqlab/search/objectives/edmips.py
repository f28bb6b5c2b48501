"""EdMIPS: cross-entropy; the BitOPs hinge is added by the search loop (:mod:`mpqlab.search.budget`)."""
from __future__ import annotations

from . import Objective, register_objective


@register_objective("edmips")
class EdMIPS(Objective):
    """EdMIPS (Cai & Vasconcelos 2020): cross-entropy + BitOPs hinge on the supernet"""
