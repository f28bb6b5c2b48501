"""HAWQ-v2: not a gradient search; the registry names the function that runs it (:mod:`mpqlab.search.hawq`)."""
from __future__ import annotations

from . import Objective, register_objective


@register_objective("hawq", searcher="mpqlab.search.hawq:hawq_search")
class HAWQ(Objective):
    """HAWQ-v2 (Dong et al. 2020): Hessian trace x quantization error, ILP; no gradient search"""
