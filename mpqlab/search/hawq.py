"""HAWQ-V2/V3-style policy: Hessian-trace sensitivity, then an integer linear program under the BitOPs budget.

For each searchable layer l and bitwidth b (weights and activations tied, W_bA_b, from the bits that are in
both candidate sets **[choice]**)::

    Omega_l(b) = tr(H_ll) / n_l * || Q_b(W_l) - W_l ||^2

with ``tr(H_ll)`` the Hutchinson trace of the layer's diagonal Hessian block at the full-precision proxy model
(:meth:`mpqlab.analysis.hessian.Hessian.layer_traces`) and ``Q_b`` the max-|W| per-channel quantizer. The ILP
(``scipy.optimize.milp``) picks one b per layer minimising ``sum Omega`` subject to ``BitOPs <= budget``.
"""
from __future__ import annotations

import numpy as np
import torch

from ..analysis.hessian import Hessian
from ..quant.cost import bitops, budget_bitops, candidate_bitops, layer_table
from ..data import make_loader
from ..core.errors import MpqlabError
from ..models import first_last_layers
from ..quant.policy import Policy
from ..quant.quantizers import max_abs_step, quantize_symmetric
from .budget import solve_ilp


def hawq_sensitivity(layer_trace: float, w: torch.Tensor, bits: int) -> float:
    """Omega(b) = tr(H_ll) / n_l * ||Q_b(W) - W||^2: the layer's mean curvature per weight times the squared error
    of its max-|W| per-channel ``bits``-bit quantization (HAWQ-V2's second-order estimate of the loss increase)."""
    err = (quantize_symmetric(w, max_abs_step(w, bits, True), bits) - w).pow(2).sum().item()
    return layer_trace / w.numel() * err


def hawq_search(model, cfg, train, input_size) -> Policy:
    """HAWQ-style policy: per-layer Hessian traces x quantization error, then the budgeted ILP."""
    bits_set = sorted(set(cfg.w_candidates) & set(cfg.a_candidates))
    if not bits_set:
        raise MpqlabError("hawq ties weight and activation bits: the candidate sets share no bitwidth")
    table = layer_table(model, input_size)
    fixed = set(first_last_layers(model))
    searchable = [n for n in table if n not in fixed]
    model.eval()
    batches = list(make_loader(train, cfg.batch_size, train=False, device=cfg.device, max_batches=cfg.hawq_batches))
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    weight_names = [f"{n}.weight" for n in searchable]
    traces = Hessian(model, (x, y), params=weight_names).layer_traces(n_probes=cfg.hawq_probes, seed=cfg.seed,
                                                                        method="hutchinson")  # HAWQ-V2 estimator
    sens = np.zeros((len(searchable), len(bits_set)))
    for i, name in enumerate(searchable):
        w = model.get_submodule(name).weight.detach()
        for k, b in enumerate(bits_set):
            sens[i, k] = hawq_sensitivity(traces[name], w, b)
    fixed_bits = {n: (cfg.fixed_bits, cfg.fixed_bits) for n in fixed}
    budget = budget_bitops(table, cfg.budget, fixed_bits)
    cost = candidate_bitops(table, searchable, [(b, b) for b in bits_set])
    fixed_cost = bitops(table, fixed_bits, list(fixed))
    choice = solve_ilp(sens, cost, budget - fixed_cost)
    bits = {n: (bits_set[c], bits_set[c]) for n, c in zip(searchable, choice)}
    policy = Policy.from_bits(model, bits, model_name=cfg.model, w_candidates=cfg.w_candidates,
                              a_candidates=cfg.a_candidates, fixed_bits=cfg.fixed_bits, input_size=input_size,
                              num_classes=train.num_classes)
    policy.provenance.update(hawq_layer_traces=traces, hawq_bits=bits_set, budget_bitops=budget,
                             hawq_sensitivity={n: sens[i].tolist() for i, n in enumerate(searchable)})
    return policy
