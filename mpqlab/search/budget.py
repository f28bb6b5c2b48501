"""The cost constraint of the search and the final budget check.

During the search the cost term is a hinge on the expected BitOPs **[choice]**::

    cost_weight * max(0, E[BitOPs](alpha) / B - 1),      B = BitOPs of uniform W{budget}A{budget}

(first / last layers at their fixed bits in both). ``meet_budget`` turns the per-layer argmax into a policy with
``BitOPs <= B``: while over budget it lowers, one candidate step at a time, the bit choice that loses the least
log-softmax per BitOP saved; then, while a raise still fits, it raises the choice that gains the most
log-softmax per BitOP added. Every change is recorded in the policy's provenance.
"""
from __future__ import annotations

import math
from typing import Mapping

import torch

from ..cost import bitops


def hinge_cost(expected: torch.Tensor, budget: float, weight: float) -> torch.Tensor:
    return weight * torch.relu(expected / budget - 1.0)


def meet_budget(bits: Mapping[str, tuple[int, int]], softmaxes: Mapping[str, Mapping[str, list[float]]],
                table: Mapping[str, dict], budget: float, w_candidates, a_candidates) -> tuple[dict, list[str]]:
    """Adjust searchable layers (those in ``softmaxes``) until ``BitOPs <= budget``; returns (bits, changes)."""
    bits = {n: list(v) for n, v in bits.items()}
    cands = (sorted(w_candidates), sorted(a_candidates))
    changes: list[str] = []

    def logp(name, k, b):
        probs = softmaxes[name]["wa"[k]]
        return math.log(max(probs[cands[k].index(b)], 1e-12))

    def moves(direction):
        for name in softmaxes:
            for k in (0, 1):
                c = cands[k]
                i = c.index(bits[name][k]) + direction
                if 0 <= i < len(c):
                    other = bits[name][1 - k]
                    delta = table[name]["macs"] * other * (c[i] - bits[name][k])
                    yield name, k, c[i], delta, logp(name, k, c[i]) - logp(name, k, bits[name][k])

    def total():
        return bitops(table, {n: tuple(v) for n, v in bits.items()})

    while total() > budget:
        options = [m for m in moves(-1) if m[3] < 0]
        if not options:
            break
        name, k, b, delta, gain = max(options, key=lambda m: m[4] / -m[3])  # least loss per BitOP saved
        changes.append(f"{name} {'wa'[k]}_bits {bits[name][k]}->{b} (over budget)")
        bits[name][k] = b
    while True:
        room = budget - total()
        options = [m for m in moves(+1) if 0 < m[3] <= room]
        if not options:
            break
        name, k, b, delta, gain = max(options, key=lambda m: m[4] / m[3])
        changes.append(f"{name} {'wa'[k]}_bits {bits[name][k]}->{b} (room left)")
        bits[name][k] = b
    return {n: tuple(v) for n, v in bits.items()}, changes
