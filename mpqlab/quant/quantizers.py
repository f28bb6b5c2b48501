"""Fake quantizers with straight-through estimators, quantized layers, and ``quantize_model``.

Weights (``WeightQuantizer``): symmetric uniform on the grid ``s * {-Qp, ..., Qp}``, ``Qp = 2^(b-1) - 1``, with a
step ``s`` per output channel (``per_channel=False``: one per tensor) **[choice]**. The step is learned as in
LSQ (Esser et al., 2020: ``q = round(clamp(w / s, -Qp, Qp)) * s`` with the STE for ``round`` and LSQ's gradient
scale ``1 / sqrt(numel * Qp)``) and initialised from ``max |W| / Qp`` **[choice]**; ``learn_step=False`` keeps the
max-|W| step (EdMIPS/GMPQ's quantizer).

Activations (``ActQuantizer``): PACT-style learnable clip ``c``. Unsigned (after ReLU): ``clamp(x, 0, c)`` on the
grid ``c / (2^b - 1)``; signed (inputs that can be negative, e.g. the normalised image): ``clamp(x, -c, c)`` on
``c / (2^(b-1) - 1)``. ``signed=None`` decides from the first batch seen. The clip is initialised from the
99.9th percentile of |x| on the first (calibration) batch **[choice]**; ``init_clip`` takes "max" or a number.

Rounding is ``torch.round`` (ties to even). ``bits >= 32`` means float: the quantizer is the identity.
"""
from __future__ import annotations

import logging
import os
import re
import warnings
from typing import Mapping

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import MpqlabError

FLOAT_BITS = 32
BIT_CANDIDATES = (2, 3, 4, 6, 8)  # the bitwidths a search may choose per layer, weights and activations [choice]

# Parameter names that belong to quantizers rather than to the network, as mpqlab's modules name them: the LSQ step
# and PACT clip of a fixed-bit layer (QuantConv2d / QuantLinear: weight_quant., act_quant.), the supernet's
# per-candidate steps and shared clip (MixedQuantizers under .mixed), and the supernet's bit logits (alpha_w, alpha_a).
QUANTIZER_PARAM_KEYS = ("weight_quant.", "act_quant.", "mixed.steps", "mixed.clip")
BIT_LOGIT_KEY = "alpha_"


def is_quantizer_param(name: str) -> bool:
    """Whether a parameter name is a quantizer's step or clip (not a network weight, not a bit logit)."""
    return any(k in name for k in QUANTIZER_PARAM_KEYS)


def is_bit_logit(name: str) -> bool:
    """Whether a parameter name is a supernet's bit logit."""
    return BIT_LOGIT_KEY in name


def check_bits(bits: int, what: str = "bits") -> int:
    """``bits`` as an int in the supported range, or MpqlabError naming ``what``."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not (2 <= bits <= 16 or bits == FLOAT_BITS):
        raise MpqlabError(f"{what} must be an integer in 2..16 or {FLOAT_BITS} (float), got {bits!r}")
    return bits


def parse_bits(spec: str, what: str = "uniform bits") -> tuple[int, int]:
    """A weight / activation bit pair as people write it: ``'4/8'``, ``'4'`` (both 4), ``'W3A2'``. The one parser of
    uniform bits (the CLI's ``--uniform``, the grid's ``uniform:W3A2``); each width checked."""
    text = str(spec).strip()
    m = re.fullmatch(r"W(\d+)A(\d+)", text) or re.fullmatch(r"(\d+)/(\d+)", text) or re.fullmatch(r"(\d+)()", text)
    if m is None:
        raise MpqlabError(f"{what} must look like W/A (e.g. 4/4), W<w>A<a> (e.g. W3A2) or one width, got {spec!r}")
    w = int(m.group(1))
    a = int(m.group(2) or w)
    return check_bits(w, f"{what} w_bits"), check_bits(a, f"{what} a_bits")


def round_ste(x: torch.Tensor) -> torch.Tensor:
    """``round(x)`` forward, identity gradient (straight-through estimator)."""
    return (x.round() - x).detach() + x


def grad_scale(x: torch.Tensor, scale: float) -> torch.Tensor:
    """Value ``x``, gradient multiplied by ``scale`` (LSQ's step-size gradient scaling)."""
    return (x - x * scale).detach() + x * scale


def quantize_symmetric(w: torch.Tensor, step: torch.Tensor, bits: int) -> torch.Tensor:
    """Symmetric uniform fake-quantization of ``w`` with ``step`` (broadcastable), STE on round."""
    qp = 2 ** (bits - 1) - 1
    return round_ste(torch.clamp(w / step, -qp, qp)) * step


def quantize_clipped(x: torch.Tensor, clip: torch.Tensor, bits: int, signed: bool) -> torch.Tensor:
    """PACT fake-quantization: clip to [0, c] (or [-c, c]) then a uniform grid; gradients reach ``clip``."""
    if signed:
        levels = 2 ** (bits - 1) - 1
        y = torch.maximum(torch.minimum(x, clip), -clip)
    else:
        levels = 2 ** bits - 1
        y = torch.minimum(F.relu(x), clip)
    step = clip / levels
    return round_ste(y / step) * step


def _levels(bits: int, signed: bool) -> int:
    return 2 ** (bits - 1) - 1 if signed else 2 ** bits - 1


def _mixed_fwd(x, c, probs, levels: tuple, signed: bool):
    lo = -c if signed else torch.zeros_like(c)
    t = torch.minimum(torch.maximum(x, lo), c) / c
    acc = torch.zeros_like(x)
    for j, L in enumerate(levels):
        acc = acc + torch.round(t * L) * (probs[j] / L)
    return acc * c, acc


def _mixed_bwd(g, x, c, probs, acc, levels: tuple, signed: bool):
    lo = -c if signed else torch.zeros_like(c)
    inside = (x > lo) & (x < c)
    t = torch.minimum(torch.maximum(x, lo), c) / c
    outside = torch.sign(x) if signed else (x >= c).to(x.dtype)
    grad_clip = (g * torch.where(inside, acc - t, outside)).sum()
    grad_p = torch.stack([(g * torch.round(t * L)).sum() * (c / L) for L in levels])
    return g * inside, grad_clip, grad_p


_COMPILED: dict = {}


def _kernel(name: str):
    """The torch.compile'd (one fused loop) version of ``_mixed_fwd`` / ``_mixed_bwd``; eager when compiling is
    off (``MPQLAB_COMPILE=0``) or fails (no C++ compiler): same numbers, several times slower on CPU."""
    eager = {"fwd": _mixed_fwd, "bwd": _mixed_bwd}[name]
    if os.environ.get("MPQLAB_COMPILE", "1") == "0" or _COMPILED.get("failed"):
        return eager
    if name not in _COMPILED:
        import torch._dynamo  # deferred: compiled kernels only

        # torch's C++-extension helper warns "No CUDA runtime is found" on every CPU-only process that compiles;
        # it says nothing about mpqlab's run and would be the first line of every worker's stderr
        logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)

        # one specialisation per (bit candidates, signedness); a policy has a handful, a supernet a few more
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _COMPILED[name] = torch.compile(eager, dynamic=True)
    return _COMPILED[name]


def _run(name: str, *args):
    try:
        return _kernel(name)(*args)
    except Exception as e:  # a compiler problem must not stop a run
        if _COMPILED.get("failed"):
            raise

        warnings.warn(f"torch.compile of the activation quantizer failed ({type(e).__name__}); using eager mode")
        _COMPILED["failed"] = True
        return {"fwd": _mixed_fwd, "bwd": _mixed_bwd}[name](*args)


class _MixedClippedQuant(torch.autograd.Function):
    """Fused ``sum_j p_j * quantize_clipped(x, c, b_j)``: one pass over the activation (compiled) instead of a
    dozen per candidate. Gradients equal those of the unfused composition (STE for round, PACT / LSQ for c).
    Under ``create_graph=True`` (Hessians, GMPQ's attribution) the backward runs eagerly so it is differentiable
    (second derivatives through the clip's effect on the rounding are not propagated, as with the STE)."""

    @staticmethod
    def forward(ctx, x, clip, probs, levels, signed):
        c = clip.detach()
        out, acc = _run("fwd", x, c, probs.detach(), levels, signed)
        ctx.save_for_backward(x, clip, probs, acc)
        ctx.levels, ctx.signed = levels, signed
        return out

    @staticmethod
    def backward(ctx, g):
        x, clip, probs, acc = ctx.saved_tensors
        if torch.is_grad_enabled():  # double backward wanted: differentiable eager ops
            gx, gc, gp = _mixed_bwd(g, x, clip.detach(), probs.detach(), acc, ctx.levels, ctx.signed)
        else:
            gx, gc, gp = _run("bwd", g.contiguous(), x, clip.detach(), probs.detach(), acc, ctx.levels, ctx.signed)
        return gx, gc.reshape(clip.shape), gp if ctx.needs_input_grad[2] else None, None, None


def mixed_quantize_clipped(x: torch.Tensor, clip: torch.Tensor, probs: torch.Tensor, bits: list[int],
                           signed: bool) -> torch.Tensor:
    """``sum_j probs[j] * quantize_clipped(x, clip, bits[j], signed)``, fused (float candidates unfused)."""
    # float candidates, and torch.func transforms (vmap, jvp: e.g. curvlinops' forward-over-reverse Hessian
    # products), take the unfused composition of plain differentiable ops: the same function, but its float
    # rounding differs from the fused kernel's by about one ulp, which can flip a rounding downstream (a W4A4
    # ResNet-20's v^T H v moved by 9 % between the two: benchmarks/hessian_anchors.py compares tools in float)
    if any(b >= FLOAT_BITS for b in bits) or torch._C._are_functorch_transforms_active():
        return sum(p * (x if b >= FLOAT_BITS else quantize_clipped(x, clip, b, signed)) for p, b in zip(probs, bits))
    return _MixedClippedQuant.apply(x, clip, probs, tuple(_levels(b, signed) for b in bits), signed)


def max_abs_step(w: torch.Tensor, bits: int, per_channel: bool) -> torch.Tensor:
    """The step ``max |W| / Qp`` (per output channel or per tensor), shaped to broadcast against ``w``."""
    qp = 2 ** (bits - 1) - 1
    if per_channel and w.dim() > 1:
        m = w.detach().abs().flatten(1).amax(1).view(-1, *([1] * (w.dim() - 1)))
    else:
        m = w.detach().abs().amax().view(*([1] * w.dim()))
    return (m / qp).clamp_min(1e-8)


def clip_from(x: torch.Tensor, init_clip="percentile") -> float:
    """Initial clip value from a calibration tensor: 99.9th percentile of |x|, its max, or a given number."""
    if isinstance(init_clip, (int, float)):
        return float(init_clip)
    a = x.detach().abs().flatten().float()
    if init_clip == "max":
        return max(a.max().item(), 1e-3)
    if init_clip != "percentile":
        raise MpqlabError(f"init_clip must be 'percentile', 'max' or a number, got {init_clip!r}")
    if a.numel() > 1_000_000:
        a = a[:: a.numel() // 1_000_000 + 1]
    k = max(1, int(0.999 * a.numel()))
    return max(a.kthvalue(k).values.item(), 1e-3)


class WeightQuantizer(nn.Module):
    """Symmetric uniform weight fake-quantizer at ``bits`` with a learned LSQ step (per output channel by default),
    initialised from max |W| / (2^(b-1) - 1); straight-through rounding. ``bits >= 32`` passes weights through."""

    def __init__(self, bits: int, out_channels: int, weight_dim: int = 4, per_channel: bool = True,
                 learn_step: bool = True):
        super().__init__()
        self.bits, self.per_channel, self.learn_step = check_bits(bits, "w_bits"), per_channel, learn_step
        shape = (out_channels if per_channel else 1,) + (1,) * (weight_dim - 1)
        self.step = nn.Parameter(torch.ones(shape), requires_grad=learn_step)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        if self.bits >= FLOAT_BITS:
            return w
        if not self.learn_step:
            return quantize_symmetric(w, max_abs_step(w, self.bits, self.per_channel), self.bits)
        if not self.initialized:
            with torch.no_grad():
                self.step.copy_(max_abs_step(w, self.bits, self.per_channel))
                self.initialized.fill_(True)
        qp = 2 ** (self.bits - 1) - 1
        step = grad_scale(self.step, 1.0 / (w.numel() * qp) ** 0.5)
        return quantize_symmetric(w, step, self.bits)

    def extra_repr(self):
        return f"bits={self.bits}, per_channel={self.per_channel}, learn_step={self.learn_step}"


class ActQuantizer(nn.Module):
    """Uniform activation fake-quantizer at ``bits`` with a learnable PACT clip, initialised from a calibration
    batch (99.9th percentile of |x| by default); unsigned after a ReLU, signed when the calibration batch has
    negative values (``signed=None``). Straight-through rounding; ``bits >= 32`` passes activations through."""

    def __init__(self, bits: int, signed: bool | None = None, init_clip="percentile", learn_clip: bool = True):
        super().__init__()
        self.bits, self.init_clip = check_bits(bits, "a_bits"), init_clip
        self.clip = nn.Parameter(torch.tensor(6.0), requires_grad=learn_clip)
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))
        self.register_buffer("signed", torch.tensor(-1 if signed is None else int(signed), dtype=torch.int8))
        self.register_buffer("_one", torch.ones(1), persistent=False)

    def calibrate(self, x: torch.Tensor) -> None:
        with torch.no_grad():
            if self.signed.item() < 0:
                self.signed.fill_(int(bool((x.detach() < 0).any())))
            self.clip.fill_(clip_from(x, self.init_clip))
            self.initialized.fill_(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.bits >= FLOAT_BITS:
            return x
        if not self.initialized:
            self.calibrate(x)
        return mixed_quantize_clipped(x, self.clip, self._one, [self.bits], bool(self.signed.item()))

    def extra_repr(self):
        return f"bits={self.bits}, signed={['auto', False, True][int(self.signed.item()) + 1]}"


def copy_float_weights(src: nn.Module, dst: nn.Module) -> nn.Module:
    """Move ``dst`` to ``src``'s device and copy its weight (and bias); returns ``dst``."""
    dst.to(src.weight.device)
    with torch.no_grad():
        dst.weight.copy_(src.weight)
        if src.bias is not None:
            dst.bias.copy_(src.bias)
    return dst


class QuantConv2d(nn.Conv2d):
    """A ``Conv2d`` whose weights and input are fake-quantized at fixed (w_bits, a_bits)."""

    def __init__(self, *args, w_bits: int = 8, a_bits: int = 8, per_channel: bool = True, learn_step: bool = True,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.w_bits, self.a_bits = check_bits(w_bits, "w_bits"), check_bits(a_bits, "a_bits")
        self.weight_quant = WeightQuantizer(w_bits, self.out_channels, 4, per_channel, learn_step)
        self.act_quant = ActQuantizer(a_bits)

    @classmethod
    def from_float(cls, m: nn.Conv2d, w_bits: int, a_bits: int, **kw) -> "QuantConv2d":
        q = cls(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation, m.groups,
                m.bias is not None, m.padding_mode, w_bits=w_bits, a_bits=a_bits, **kw)
        return copy_float_weights(m, q)

    def forward(self, x):
        return self._conv_forward(self.act_quant(x), self.weight_quant(self.weight), self.bias)


class QuantLinear(nn.Linear):
    """A ``Linear`` whose weights and input are fake-quantized at fixed (w_bits, a_bits)."""

    def __init__(self, in_features, out_features, bias=True, w_bits: int = 8, a_bits: int = 8,
                 per_channel: bool = True, learn_step: bool = True):
        super().__init__(in_features, out_features, bias)
        self.w_bits, self.a_bits = check_bits(w_bits, "w_bits"), check_bits(a_bits, "a_bits")
        self.weight_quant = WeightQuantizer(w_bits, out_features, 2, per_channel, learn_step)
        self.act_quant = ActQuantizer(a_bits)

    @classmethod
    def from_float(cls, m: nn.Linear, w_bits: int, a_bits: int, **kw) -> "QuantLinear":
        q = cls(m.in_features, m.out_features, m.bias is not None, w_bits=w_bits, a_bits=a_bits, **kw)
        return copy_float_weights(m, q)

    def forward(self, x):
        return F.linear(self.act_quant(x), self.weight_quant(self.weight), self.bias)


def set_layer_bits(model: nn.Module, name: str, w_bits: int, a_bits: int) -> nn.Module:
    """Re-quantize one quantized layer of a (trained) model at new bits, in place, keeping what it learned: the
    weight step is rescaled so the clipping range step x (2^(b-1) - 1) stays the same, the activation clip stays
    as it is (only the number of levels inside it changes). Returns ``model``."""
    layer = model.get_submodule(name)
    if not isinstance(layer, (QuantConv2d, QuantLinear)):
        raise MpqlabError(f"layer {name} is not a fixed-bits quantized layer ({type(layer).__name__})")
    w_bits, a_bits = check_bits(w_bits, f"w_bits of {name}"), check_bits(a_bits, f"a_bits of {name}")
    wq = layer.weight_quant
    if wq.bits < FLOAT_BITS and w_bits < FLOAT_BITS and bool(wq.initialized):
        with torch.no_grad():
            wq.step.mul_((2 ** (wq.bits - 1) - 1) / (2 ** (w_bits - 1) - 1))
    wq.bits = layer.w_bits = w_bits
    layer.act_quant.bits = layer.a_bits = a_bits
    return model


def set_module(model: nn.Module, name: str, new: nn.Module) -> None:
    """Replace the submodule at dotted ``name`` of ``model`` by ``new``."""
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def quantize_model(model: nn.Module, bits: Mapping[str, tuple[int, int]], strict: bool = True,
                   **quant_kw) -> nn.Module:
    """Replace every conv/linear layer named in ``bits`` (name -> (w_bits, a_bits)) by its quantized twin, in
    place. With ``strict`` every conv/linear layer of the model must be named. Errors name the layer."""
    layers = {n: m for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    unknown = [n for n in bits if n not in layers]
    if unknown:
        raise MpqlabError(f"policy names layers the model does not have: {', '.join(unknown)}")
    if strict:
        missing = [n for n in layers if n not in bits]
        if missing:
            raise MpqlabError(f"policy gives no bits for layers: {', '.join(missing)}")
    for name, (wb, ab) in bits.items():
        m = layers[name]
        check_bits(wb, f"w_bits of layer {name}")
        check_bits(ab, f"a_bits of layer {name}")
        base = nn.Conv2d if isinstance(m, nn.Conv2d) else nn.Linear
        cls = QuantConv2d if base is nn.Conv2d else QuantLinear
        set_module(model, name, cls.from_float(m, wb, ab, **quant_kw))
    return model


def quantizers(model: nn.Module):
    """Every weight / activation quantizer in ``model``."""
    return [m for m in model.modules() if isinstance(m, (WeightQuantizer, ActQuantizer))]


@torch.no_grad()
def calibrate(model: nn.Module, batches: list) -> nn.Module:
    """(Re)initialise every quantizer from the given input batches: weight steps from the weights, activation
    clips from the first batch (the mean over batches of the per-batch percentile)."""
    for q in quantizers(model):
        q.initialized.fill_(False)
    was = model.training
    model.eval()
    clips: dict[ActQuantizer, list[float]] = {}
    try:
        for i, x in enumerate(batches):
            model(x)
            for q in quantizers(model):
                if isinstance(q, ActQuantizer) and q.bits < FLOAT_BITS:
                    clips.setdefault(q, []).append(q.clip.item())
                    if i + 1 < len(batches):
                        q.initialized.fill_(False)
    finally:
        model.train(was)
    for q, vals in clips.items():
        q.clip.fill_(sum(vals) / len(vals))
        q.initialized.fill_(True)
    return model
