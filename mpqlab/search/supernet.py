"""The mixed-precision supernet (EdMIPS / GMPQ style).

Each searchable conv / linear layer l keeps its latent float weight W_l and two logit vectors, ``alpha_w`` over
the weight-bit candidates and ``alpha_a`` over the activation-bit candidates (initialised equal: uniform
softmax). Its forward mixes the *quantized tensors*, then runs ONE convolution::

    x_q = sum_j softmax(alpha_a)_j * Qa(x; b_j)        W_q = sum_i softmax(alpha_w)_i * Qw(W; b_i)
    y   = conv(x_q, W_q)

``Qw`` has one LSQ step per candidate and output channel; ``Qa`` shares one PACT clip across candidates
**[choice]**. The first conv and the last linear layer are fixed :class:`~mpqlab.quant.quantizers.QuantConv2d` /
``QuantLinear`` at ``fixed_bits`` (8) and count in the cost. ``expected_bitops()`` is differentiable:
``sum_l MACs_l * E[b_w] * E[b_a]`` with MACs from :func:`mpqlab.quant.cost.layer_table`, the one counter.

Softmax temperature: every mixture uses ``softmax(alpha / tau)``; :meth:`Supernet.set_temperature` sets tau
(the search anneals it, EdMIPS / FBNet style, so the mixtures end near one-hot). ``realised_bitops()`` is the
BitOPs of the argmax policy with the expected cost's gradient (straight-through): a cost term on it acts on the
policy the search will hand over, not on an average of policies.
"""
from __future__ import annotations

import statistics
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..quant.cost import bitops, layer_table
from ..core.errors import MpqlabError
from ..models import first_last_layers
from ..quant.quantizers import (
    BIT_CANDIDATES, QuantConv2d, QuantLinear, check_bits, clip_from, copy_float_weights, grad_scale, is_bit_logit,
    is_quantizer_param, max_abs_step, mixed_quantize_clipped, quantize_symmetric, set_module)


class MixedQuantizers(nn.Module):
    """Bit logits and candidate quantizers of one searchable layer."""

    def __init__(self, out_channels: int, weight_dim: int, w_candidates: Sequence[int], a_candidates: Sequence[int],
                 per_channel: bool = True, init_clip="percentile"):
        super().__init__()
        self.w_candidates = [check_bits(b, "weight candidate") for b in w_candidates]
        self.a_candidates = [check_bits(b, "activation candidate") for b in a_candidates]
        self.alpha_w = nn.Parameter(torch.full((len(self.w_candidates),), 0.01))
        self.alpha_a = nn.Parameter(torch.full((len(self.a_candidates),), 0.01))
        shape = (len(self.w_candidates), out_channels if per_channel else 1) + (1,) * (weight_dim - 1)
        self.steps = nn.Parameter(torch.ones(shape))
        self.clip = nn.Parameter(torch.tensor(6.0))
        self.per_channel, self.init_clip = per_channel, init_clip
        self.register_buffer("w_initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("a_initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("signed", torch.tensor(-1, dtype=torch.int8))
        self.register_buffer("w_bits_t", torch.tensor(self.w_candidates, dtype=torch.float32))
        self.register_buffer("a_bits_t", torch.tensor(self.a_candidates, dtype=torch.float32))
        self.register_buffer("tau", torch.tensor(1.0))  # softmax temperature

    def probs(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The bit distributions the layer mixes with: ``softmax(alpha / tau)`` for weights and activations."""
        return F.softmax(self.alpha_w / self.tau, 0), F.softmax(self.alpha_a / self.tau, 0)

    def realised_bits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The argmax bits in value, the expected bits' gradient (straight-through estimator)."""
        out = []
        for p, bits in zip(self.probs(), (self.w_bits_t, self.a_bits_t)):
            hard = F.one_hot(p.argmax(), len(p)).to(p.dtype)
            out.append(((hard + p - p.detach()) * bits).sum())
        return out[0], out[1]

    def expected_bits(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The softmax-expected weight and activation bits (differentiable in the bit logits)."""
        pw, pa = self.probs()
        return (pw * self.w_bits_t).sum(), (pa * self.a_bits_t).sum()

    def argmax_bits(self) -> tuple[int, int]:
        """The most probable weight and activation bits: the layer's realised policy."""
        return self.w_candidates[int(self.alpha_w.argmax())], self.a_candidates[int(self.alpha_a.argmax())]

    def weight(self, w: torch.Tensor) -> torch.Tensor:
        """``sum_j p_j Q_j(w)``: the weight quantized at every candidate, mixed by the softmax of ``alpha_w``."""
        if not self.w_initialized:
            with torch.no_grad():
                for i, b in enumerate(self.w_candidates):
                    self.steps[i].copy_(max_abs_step(w, b, self.per_channel) if b < 32 else 1.0)
                self.w_initialized.fill_(True)
        pw = self.probs()[0]
        out = 0
        for i, b in enumerate(self.w_candidates):
            if b >= 32:
                q = w
            else:
                q = quantize_symmetric(w, grad_scale(self.steps[i], 1.0 / (w.numel() * (2 ** (b - 1) - 1)) ** 0.5), b)
            out = out + pw[i] * q
        return out

    def act(self, x: torch.Tensor) -> torch.Tensor:
        """``sum_j p_j Q_j(x)``: the activation quantized at every candidate (fused), mixed by ``alpha_a``."""
        if not self.a_initialized:
            with torch.no_grad():
                if self.signed.item() < 0:
                    self.signed.fill_(int(bool((x.detach() < 0).any())))
                self.clip.fill_(clip_from(x, self.init_clip))
                self.a_initialized.fill_(True)
        return mixed_quantize_clipped(x, self.clip, self.probs()[1], self.a_candidates,
                                      bool(self.signed.item()))


class MixedQuantConv2d(nn.Conv2d):
    """A Conv2d whose input and weight are softmax mixtures of their quantized versions (one convolution)."""

    def __init__(self, *args, w_candidates=BIT_CANDIDATES, a_candidates=BIT_CANDIDATES, per_channel=True, **kw):
        super().__init__(*args, **kw)
        self.mixed = MixedQuantizers(self.out_channels, 4, w_candidates, a_candidates, per_channel)

    def forward(self, x):
        return self._conv_forward(self.mixed.act(x), self.mixed.weight(self.weight), self.bias)


class MixedQuantLinear(nn.Linear):
    """A Linear layer whose input and weight are softmax mixtures of their quantized versions."""

    def __init__(self, in_features, out_features, bias=True, w_candidates=BIT_CANDIDATES,
                 a_candidates=BIT_CANDIDATES, per_channel=True):
        super().__init__(in_features, out_features, bias)
        self.mixed = MixedQuantizers(out_features, 2, w_candidates, a_candidates, per_channel)

    def forward(self, x):
        return F.linear(self.mixed.act(x), self.mixed.weight(self.weight), self.bias)


def _mixed_from(m: nn.Module, wc, ac, per_channel) -> nn.Module:
    if isinstance(m, nn.Conv2d):
        new = MixedQuantConv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                               m.groups, m.bias is not None, m.padding_mode, w_candidates=wc, a_candidates=ac,
                               per_channel=per_channel)
    else:
        new = MixedQuantLinear(m.in_features, m.out_features, m.bias is not None, wc, ac, per_channel)
    return copy_float_weights(m, new)


class Supernet(nn.Module):
    """Wraps a model (in place) into a mixed-precision supernet. ``net`` keeps the model's layer names."""

    def __init__(self, model: nn.Module, w_candidates=BIT_CANDIDATES, a_candidates=BIT_CANDIDATES,
                 fixed_bits: int = 8, fixed_layers: Sequence[str] | None = None, input_size=(3, 32, 32),
                 per_channel: bool = True):
        super().__init__()
        if not w_candidates or not a_candidates:
            raise MpqlabError("bit candidate sets must not be empty")
        self.w_candidates, self.a_candidates = sorted(set(w_candidates)), sorted(set(a_candidates))
        self.fixed_bits, self.input_size = check_bits(fixed_bits, "fixed_bits"), tuple(input_size)
        self.table = layer_table(model, input_size)
        self.fixed_layers = list(fixed_layers) if fixed_layers is not None else list(first_last_layers(model))
        unknown = [n for n in self.fixed_layers if n not in self.table]
        if unknown:
            raise MpqlabError(f"fixed layers not in the model: {', '.join(unknown)}")
        for name in self.table:
            m = model.get_submodule(name)
            if name in self.fixed_layers:
                cls = QuantConv2d if isinstance(m, nn.Conv2d) else QuantLinear
                set_module(model, name, cls.from_float(m, fixed_bits, fixed_bits, per_channel=per_channel))
            else:
                set_module(model, name, _mixed_from(m, self.w_candidates, self.a_candidates, per_channel))
        self.net = model
        self.model_name = getattr(model, "mpqlab_name", type(model).__name__)
        macs = torch.tensor([float(self.table[n]["macs"]) for n in self.searchable_layers()])
        self.register_buffer("macs", macs)
        self.fixed_bitops = float(bitops(self.table, {n: (fixed_bits, fixed_bits) for n in self.fixed_layers},
                                         list(self.fixed_layers)))

    def forward(self, x):
        return self.net(x)

    def searchable_layers(self) -> list[str]:
        """The layers whose bits are searched, in model order."""
        return [n for n in self.table if n not in self.fixed_layers]

    def mixed(self) -> dict[str, MixedQuantizers]:
        """``{layer: its MixedQuantizers}`` for the searchable layers."""
        return {n: self.net.get_submodule(n).mixed for n in self.searchable_layers()}

    def bit_logits(self) -> list[nn.Parameter]:
        """The bit logits (alpha_w, alpha_a of every searchable layer): what the search's Adam moves."""
        return [p for q in self.mixed().values() for p in (q.alpha_w, q.alpha_a)]

    def named_weight_parameters(self):
        """Network weights, BatchNorm and biases: the parameters a sharpness-aware step perturbs."""
        return [(n, p) for n, p in self.net.named_parameters()
                if not is_bit_logit(n) and not is_quantizer_param(n)]

    def named_quantizer_parameters(self):
        """LSQ steps and PACT clips."""
        return [(n, p) for n, p in self.net.named_parameters() if is_quantizer_param(n)]

    def expected_bitops(self) -> torch.Tensor:
        """Differentiable ``sum_l MACs_l E[b_w] E[b_a]`` (+ the fixed layers' BitOPs)."""
        return self._bitops([q.expected_bits() for q in self.mixed().values()])

    def realised_bitops(self) -> torch.Tensor:
        """BitOPs of the argmax policy, differentiable through the straight-through estimator."""
        return self._bitops([q.realised_bits() for q in self.mixed().values()])

    def _bitops(self, bits) -> torch.Tensor:
        ew = torch.stack([w for w, _ in bits])
        ea = torch.stack([a for _, a in bits])
        return (self.macs * ew * ea).sum() + self.fixed_bitops

    def set_temperature(self, tau: float) -> None:
        """Softmax temperature of every searchable layer (1: plain softmax; towards 0: towards the argmax)."""
        if not tau > 0:
            raise MpqlabError(f"softmax temperature must be positive, got {tau}")
        for q in self.mixed().values():
            q.tau.fill_(float(tau))

    def entropy(self) -> torch.Tensor:
        """Sum over searchable layers of the entropies (nats) of the weight and activation bit distributions."""
        return sum(-(p * p.clamp_min(1e-12).log()).sum() for q in self.mixed().values() for p in q.probs())

    def decisiveness(self) -> float:
        """Median over searchable layers and over (weights, activations) of the largest bit probability:
        1 / len(candidates) for an untouched softmax, 1 for a search that has decided."""
        tops = [float(p.detach().max()) for q in self.mixed().values() for p in q.probs()]
        return statistics.median(tops) if tops else float("nan")

    def softmaxes(self) -> dict[str, dict[str, list[float]]]:
        """``{layer: {"w": probabilities, "a": probabilities}}`` over the candidates (telemetry)."""
        out = {}
        for n, q in self.mixed().items():
            pw, pa = q.probs()
            out[n] = {"w": [round(v, 6) for v in pw.tolist()], "a": [round(v, 6) for v in pa.tolist()]}
        return out

    def argmax_bits(self) -> dict[str, tuple[int, int]]:
        """The realised policy: every layer's most probable bits, fixed layers at the fixed bit width."""
        bits = {n: (self.fixed_bits, self.fixed_bits) for n in self.fixed_layers}
        bits.update({n: q.argmax_bits() for n, q in self.mixed().items()})
        return {n: bits[n] for n in self.table}
