"""The null baselines of a grid, which search nothing: uniform bits matched to the budget (or explicit W/A bits
that fit it) and a random budget-matched policy per seed."""
from __future__ import annotations

from typing import Mapping

from ..core.errors import MpqlabError
from ..models import create_model, first_last_layers
from ..quant.cost import budget_bitops, layer_table
from ..quant.policy import Policy
from ..quant.quantizers import BIT_CANDIDATES
from ..search.budget import random_policy, uniform_bits
from ..search.methods import parse_method


def parse_uniform_method(method: str, budget: float) -> tuple[int, int]:
    """``uniform:W3A2`` -> (3, 2), refused when it does not fit the budget (w * a <= budget^2)."""
    w, a = parse_method(method).bits
    if w * a > budget ** 2 + 1e-9:
        raise MpqlabError(f"method {method!r} does not fit a budget of {budget:g} average bits")
    return w, a


def null_policy(model_name: str, search: Mapping, method: str, budget: float, seed: int, num_classes: int,
                input_size) -> Policy:
    """``uniform``: every searchable layer at the budget-matched (w, a) (mixed W/A bits when the budget is
    fractional); ``uniform:WxAy``: every searchable layer at (x, y), which must fit the budget; ``random``: a random
    budget-matched policy drawn with ``seed``. Candidates from ``search``, a grid's shared search block (default
    :data:`~mpqlab.quant.quantizers.BIT_CANDIDATES`)."""
    wc, ac = search.get("w_candidates", list(BIT_CANDIDATES)), search.get("a_candidates", list(BIT_CANDIDATES))
    fixed_bits = search.get("fixed_bits", 8)
    model = create_model(model_name, num_classes=num_classes)
    table = layer_table(model, input_size)
    fixed = set(first_last_layers(model))
    if method == "uniform" or method.startswith("uniform:"):
        w, a = uniform_bits(budget, wc, ac) if method == "uniform" else parse_uniform_method(method, budget)
        bits = {n: (w, a) for n in table if n not in fixed}
        label = f"uniform W{w}A{a}"
    else:
        b = budget_bitops(table, budget, {n: (fixed_bits,) * 2 for n in fixed})
        bits = {n: v for n, v in random_policy(table, [n for n in table if n not in fixed], b, wc, ac, seed,
                                               fixed_bits).items() if n not in fixed}
        label = f"random (seed {seed})"
    return Policy.from_bits(model, bits, model_name=model_name, w_candidates=wc, a_candidates=ac,
                            fixed_bits=fixed_bits, input_size=input_size, num_classes=num_classes,
                            provenance={"method": label, "search_wall_time_s": 0.0, "search_cpu_time_s": 0.0})
