"""The cost constraint of the search and the final policy under the budget.

During the search the cost term is a hinge on the expected BitOPs **[choice]**::

    cost_weight * max(0, E[BitOPs](alpha) / B - 1),      B = BitOPs of uniform W{budget}A{budget}

(first / last layers at their fixed bits in both).

The final policy is the per-layer argmax of the bit softmaxes when its BitOPs lie in ``[low * B, B]``
(``low = 0.98``). Otherwise an integer linear program (``scipy.optimize.milp``) over every layer's (b_w, b_a)
pairs, subject to ``low * B <= BitOPs <= B``, repairs it (``repair=``):

- ``"fewest"`` (default) **[choice]**: the smallest change, i.e. the fewest layers that differ from the argmax;
  among those, the most probable under the softmaxes. The policy stays the search's own.
- ``"most_probable"``: ``max sum_l log p_w[l](b_w) + log p_a[l](b_a)``, which may rewrite many layers when the
  softmaxes are flat (mpqlab's first grid: 14-16 of 19 layers).

Every layer that differs from the argmax is recorded in the policy's provenance.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import torch

from ..core.errors import MpqlabError
from ..quant.cost import bitops, candidate_bitops


def hinge_cost(expected: torch.Tensor, budget: float, weight: float) -> torch.Tensor:
    """The cost term ``weight * max(expected / budget - 1, 0)``: zero under the budget."""
    return weight * torch.relu(expected / budget - 1.0)


def solve_ilp(score: np.ndarray, cost: np.ndarray, budget: float, lower: float = -np.inf) -> np.ndarray:
    """Choose one column per row of ``score`` [L, K] minimising its sum with ``lower <= sum cost <= budget``.
    Returns the chosen column per row; raises :class:`MpqlabError` if no choice fits."""
    from scipy.optimize import Bounds, LinearConstraint, milp  # deferred: slow import, statistics only

    L, K = score.shape
    one_each = np.zeros((L, L * K))
    for l in range(L):
        one_each[l, l * K:(l + 1) * K] = 1
    cons = [LinearConstraint(one_each, 1, 1), LinearConstraint(cost.reshape(1, -1), lower, budget)]
    res = milp(score.reshape(-1), constraints=cons, integrality=np.ones(L * K), bounds=Bounds(0, 1))
    if res.status != 0 or res.x is None:
        raise MpqlabError(f"no bit assignment meets the budget ({res.message})")
    return res.x.reshape(L, K).argmax(1)


def final_policy(bits: Mapping[str, tuple[int, int]], softmaxes: Mapping[str, Mapping[str, list[float]]],
                 table: Mapping[str, dict], budget: float, w_candidates, a_candidates,
                 low: float = 0.98, repair: str = "fewest") -> tuple[dict, list[str]]:
    """``bits``: the argmax policy (all layers); the searchable layers are those in ``softmaxes``.
    Returns (bits within ``[low * budget, budget]``, the layers changed from the argmax)."""
    if repair not in ("fewest", "most_probable"):
        raise MpqlabError(f"unknown budget repair {repair!r}; use fewest or most_probable")
    total = bitops(table, bits)
    if low * budget <= total <= budget:
        return dict(bits), []
    wc, ac = sorted(w_candidates), sorted(a_candidates)
    names = list(softmaxes)
    pairs = [(w, a) for w in wc for a in ac]
    score = np.array([[-(math.log(max(softmaxes[n]["w"][wc.index(w)], 1e-12))
                         + math.log(max(softmaxes[n]["a"][ac.index(a)], 1e-12))) for w, a in pairs] for n in names])
    if repair == "fewest":  # one unit per changed layer; the log-probabilities only break ties (sum < 1)
        changed = np.array([[float(tuple(p) != tuple(bits[n])) for p in pairs] for n in names])
        score = changed + score / (score.sum() + 1.0)
    cost = candidate_bitops(table, names, pairs)
    fixed = bitops(table, bits, [n for n in table if n not in softmaxes])  # the non-searchable layers' BitOPs
    try:
        choice = solve_ilp(score, cost, budget - fixed, low * budget - fixed)
    except MpqlabError:  # the candidate grid cannot reach the lower bound: stay under the budget only
        choice = solve_ilp(score, cost, budget - fixed)
    new = dict(bits)
    changes = []
    for n, c in zip(names, choice):
        if tuple(pairs[c]) != tuple(bits[n]):
            changes.append(f"{n}: W{bits[n][0]}A{bits[n][1]} -> W{pairs[c][0]}A{pairs[c][1]}")
        new[n] = tuple(pairs[c])
    return new, changes


def uniform_bits(budget: float, w_candidates, a_candidates) -> tuple[int, int]:
    """The uniform (w, a) matched to a budget of ``budget`` average bits: the largest w * a <= budget^2 from the
    candidates (every layer then has the same MACs share as the budget); ties go to the more balanced pair, then to
    more weight bits **[choice, measured: at 2.5 bits on ResNet-20 / CIFAR-10, grid v2 pilot seed 0, uniform
    W3A2 reached 78.77 % against 70.01 % for W2A3]**. An integer budget gives W{budget}A{budget} when both
    candidate sets hold it."""
    pairs = [(w, a) for w in w_candidates for a in a_candidates if w * a <= budget ** 2 + 1e-9]
    if not pairs:
        raise MpqlabError(f"no uniform policy from candidates W{sorted(w_candidates)} A{sorted(a_candidates)} "
                          f"fits a budget of {budget:g} average bits")
    return max(pairs, key=lambda p: (p[0] * p[1], min(p), p[0]))


def random_policy(table: Mapping[str, dict], searchable, budget: float, w_candidates, a_candidates, seed: int,
                  fixed_bits: int = 8, low: float = 0.98) -> dict:
    """A random budget-matched policy (the null baseline of a search): every searchable layer gets i.i.d.
    Gumbel scores over its (w, a) pairs and the ILP picks the highest-scoring assignment with BitOPs in
    ``[low * budget, budget]``; i.e. a draw from random softmaxes repaired to the budget like a search's."""
    gen = np.random.default_rng(seed)
    wc, ac = sorted(w_candidates), sorted(a_candidates)
    pairs = [(w, a) for w in wc for a in ac]
    names = [n for n in table if n in set(searchable)]
    score = gen.gumbel(size=(len(names), len(pairs)))
    cost = candidate_bitops(table, names, pairs)
    others = [n for n in table if n not in set(searchable)]
    fixed = bitops(table, {n: (fixed_bits, fixed_bits) for n in others}, others)
    choice = solve_ilp(-score, cost, budget - fixed, low * budget - fixed)
    bits = {n: (fixed_bits, fixed_bits) for n in table if n not in set(searchable)}
    bits.update({n: tuple(pairs[c]) for n, c in zip(names, choice)})
    return {n: bits[n] for n in table}


def reachable_average_bits(w_candidates, a_candidates) -> tuple[float, float]:
    """The range of budgets (average bits) the candidate grid can meet: sqrt(min w * min a) to
    sqrt(max w * max a)."""
    return math.sqrt(min(w_candidates) * min(a_candidates)), math.sqrt(max(w_candidates) * max(a_candidates))


def check_budget(budget: float, w_candidates, a_candidates) -> None:
    """Refuse, before any work, a budget the candidates cannot meet, naming the range they can."""
    lo, hi = reachable_average_bits(w_candidates, a_candidates)
    if not (isinstance(budget, (int, float)) and math.isfinite(budget) and lo - 1e-9 <= budget <= hi + 1e-9):
        raise MpqlabError(f"budget {budget} average bits is outside the range the candidates "
                          f"W{sorted(w_candidates)} A{sorted(a_candidates)} can reach: [{lo:g}, {hi:g}]")
