"""The one cost counter: MACs from a real forward pass, BitOPs, model size, average bits.

- ``MACs_l``: counted by forward hooks on every conv / linear layer during one forward pass of a
  ``1 x C x H x W`` input, so stride, padding, dilation, groups (depthwise) and input size are right:
  conv: ``out_elements * (C_in / groups) * k_h * k_w``; linear: ``out_elements * in_features``.
- ``BitOPs = sum_l MACs_l * w_bits[l] * a_bits[l]``; float layers count as 32 x 32.
- ``size_bytes = sum_l params_l * w_bits[l] / 8`` over the conv / linear weights (the paper's model size);
  biases and BatchNorm parameters are reported apart as ``other_params`` (kept in float).
- ``average_bits``: the k for which the policy that puts every searchable layer at WkAk (and the fixed
  first / last layers at their bits) has the same BitOPs, i.e. ``sqrt((BitOPs - BitOPs_fixed) / MACs_searchable)``.
  A budget of "4 average bits" is therefore exactly the BitOPs of uniform W4A4 with 8-bit first/last layers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn as nn

from ..core.errors import MpqlabError
from ..core.knobs import knob
from .quantizers import is_bit_logit, is_quantizer_param


@dataclass
class CostConfig:
    """The input ``mpqlab cost`` counts MACs and BitOPs on (one command-line option per field)."""
    input_size: int | None = knob(None, "image side H = W of the 1 x C x H x W counting pass (unset: the model's "
                                         "own)", lo=8, hi=4096)
    num_classes: int = knob(10, "outputs of the classifier layer (its MACs count too)", lo=2, hi=10 ** 6)

FLOAT = 32


def layer_table(model: nn.Module, input_size=(3, 32, 32), device=None) -> dict[str, dict]:
    """Per conv/linear layer (in forward order): kind, channels, groups, kernel, stride, params, MACs."""
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else "cpu"
    table: dict[str, dict] = {}
    hooks = []

    def hook(name):
        def fn(m, inp, out):
            n = out.shape[0]
            if isinstance(m, nn.Conv2d):
                per_out = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
                rec = {"kind": "conv", "in_channels": m.in_channels, "out_channels": m.out_channels,
                       "groups": m.groups, "kernel_size": list(m.kernel_size), "stride": list(m.stride)}
            else:
                per_out = m.in_features
                rec = {"kind": "linear", "in_channels": m.in_features, "out_channels": m.out_features,
                       "groups": 1, "kernel_size": [1, 1], "stride": [1, 1]}
            rec["params"] = m.weight.numel()
            rec["macs"] = int(out.numel() // n) * per_out + table.get(name, {}).get("macs", 0)
            table[name] = rec
        return fn

    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            hooks.append(m.register_forward_hook(hook(name)))
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=device))
    finally:
        model.train(was)
        for h in hooks:
            h.remove()
    return table


def _bits(bits: Mapping | None, name: str) -> tuple[int, int]:
    if bits is None or name not in bits:
        return FLOAT, FLOAT
    w, a = bits[name]
    return int(w), int(a)


def layer_bitops(table: Mapping[str, dict], bits: Mapping | None = None, names=None) -> dict[str, int]:
    """BitOPs per layer, ``MACs_l * w_bits * a_bits`` (layers missing from ``bits`` count as float, 32 x 32);
    ``names``: only those layers. The one place the BitOPs formula is written."""
    return {n: table[n]["macs"] * math.prod(_bits(bits, n)) for n in (table if names is None else names)}


def bitops(table: Mapping[str, dict], bits: Mapping | None = None, names=None) -> int:
    """``sum_l MACs_l * w_bits * a_bits`` over the table (or ``names``); see :func:`layer_bitops`."""
    return sum(layer_bitops(table, bits, names).values())


def candidate_bitops(table: Mapping[str, dict], names, pairs) -> np.ndarray:
    """The ILP's cost matrix: BitOPs of each layer in ``names`` (rows) at each (w, a) in ``pairs`` (columns)."""
    return np.array([[bitops(table, {n: p}, [n]) for p in pairs] for n in names], dtype=float)


def bitops_shares(table: Mapping[str, dict], bits: Mapping) -> dict[str, float]:
    """Each layer's share of the policy's BitOPs, in percent."""
    per = layer_bitops(table, bits)
    total = sum(per.values())
    return {n: 100.0 * b / total for n, b in per.items()}


def size_bytes(table: Mapping[str, dict], bits: Mapping | None = None) -> float:
    """``sum_l params_l * w_bits / 8`` over conv/linear weights."""
    return sum(rec["params"] * _bits(bits, n)[0] / 8 for n, rec in table.items())


def average_bits(table: Mapping[str, dict], bits: Mapping | None, fixed: set[str] | frozenset = frozenset()) -> float:
    """The uniform bitwidth k whose WkAk policy (fixed layers unchanged) has the same BitOPs."""
    searchable = [n for n in table if n not in fixed]
    macs = sum(table[n]["macs"] for n in searchable)
    if macs == 0:
        raise MpqlabError("no searchable layer with MACs to average over")
    return math.sqrt(bitops(table, bits, searchable) / macs)


def totals(table: Mapping[str, dict], bits: Mapping | None, fixed: set[str] | frozenset = frozenset()) -> dict:
    """MACs, BitOPs, size in bytes and average bits of ``bits`` on ``table`` (``fixed``: the layers left out of the
    average): the one place a policy's totals are computed."""
    return {"macs": sum(r["macs"] for r in table.values()), "bitops": bitops(table, bits),
            "size_bytes": size_bytes(table, bits), "average_bits": average_bits(table, bits, fixed)}


def budget_bitops(table: Mapping[str, dict], avg_bits: float, fixed: Mapping[str, tuple[int, int]]) -> float:
    """BitOPs of the policy with every searchable layer at W{avg_bits}A{avg_bits} and ``fixed`` layers at their
    bits: the BitOPs budget that "average bits" stands for."""
    if not avg_bits > 0:
        raise MpqlabError(f"budget must be a positive number of average bits, got {avg_bits}")
    return sum(rec["macs"] * (math.prod(fixed[n]) if n in fixed else avg_bits ** 2) for n, rec in table.items())
    # (a fractional "average bits" policy: the one BitOPs sum that is not over integer bit pairs)


def cost_summary(table: Mapping[str, dict], bits: Mapping | None = None, fixed: set[str] | frozenset = frozenset(),
                 other_params: int = 0) -> dict:
    """MACs, BitOPs, size, average bits and parameter counts of ``bits`` (None: float) on ``table``."""
    return {**totals(table, bits, fixed), "params": sum(r["params"] for r in table.values()),
            "other_params": other_params}


def model_cost(model: nn.Module, bits: Mapping | None = None, input_size=(3, 32, 32),
               fixed: set[str] | frozenset = frozenset()) -> dict:
    """:func:`cost_summary` for a model (counts its other parameters: biases, BatchNorm)."""
    table = layer_table(model, input_size)
    weights = {id(m.weight) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    other = sum(p.numel() for n, p in model.named_parameters()
                if id(p) not in weights and not is_quantizer_param(n) and not is_bit_logit(n))
    return cost_summary(table, bits, fixed, other)
