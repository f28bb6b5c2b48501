import pytest
import torch
import torch.nn as nn

from mpqlab.core.errors import MpqlabError
from mpqlab.quant.quantizers import (
    ActQuantizer, QuantConv2d, QuantLinear, WeightQuantizer, calibrate, mixed_quantize_clipped, quantize_clipped,
    quantize_model, round_ste)


def test_symmetric_exact_values():
    w = torch.tensor([[0.9, -0.3, 0.1, -0.6]])
    # 3 bits: Qp = 3, step = max|w| / 3 = 0.3 -> w / s = [3, -1, 0.333, -2]
    q = WeightQuantizer(3, out_channels=1, weight_dim=2)(w)
    assert torch.allclose(q, torch.tensor([[0.9, -0.3, 0.0, -0.6]]), atol=1e-6)
    # 2 bits: Qp = 1, step 0.9: [1, -0.333, 0.111, -0.667] -> [1, 0, 0, -1]
    q2 = WeightQuantizer(2, 1, 2)(w)
    assert torch.allclose(q2, torch.tensor([[0.9, 0.0, 0.0, -0.9]]), atol=1e-6)


def test_per_channel_steps_follow_each_channel():
    w = torch.tensor([[1.0, 0.5], [0.01, -0.02]])
    q = WeightQuantizer(8, 2, 2, per_channel=True)(w)
    assert (q[1] - w[1]).abs().max() <= 0.02 / 127 / 2 + 1e-7  # the small channel keeps its own fine grid
    assert (q[0] - w[0]).abs().max() <= 1.0 / 127 / 2 + 1e-7
    qt = WeightQuantizer(8, 2, 2, per_channel=False)(w)
    assert (qt[1] - w[1]).abs().max() > 10 * (q[1] - w[1]).abs().max()  # per tensor: a coarse grid for it


def test_error_shrinks_with_bits():
    torch.manual_seed(0)
    w = torch.randn(16, 8, 3, 3)
    errs = [(WeightQuantizer(b, 16)(w) - w).pow(2).mean().item() for b in (2, 3, 4, 6, 8)]
    assert all(a > b for a, b in zip(errs, errs[1:]))
    x = torch.rand(4, 8, 5, 5) * 3
    aerrs = []
    for b in (2, 3, 4, 6, 8):
        q = ActQuantizer(b, init_clip="max")
        aerrs.append((q(x) - x).pow(2).mean().item())
    assert all(a > b for a, b in zip(aerrs, aerrs[1:]))


def test_32_bits_is_float():
    x = torch.randn(3, 4)
    assert torch.equal(WeightQuantizer(32, 3, 2)(x), x) and torch.equal(ActQuantizer(32)(x), x)
    with pytest.raises(MpqlabError, match="w_bits"):
        WeightQuantizer(1, 3, 2)


def test_ste_passes_gradient_through_round():
    x = torch.tensor([0.2, 1.7, -2.4], requires_grad=True)
    round_ste(x).sum().backward()
    assert torch.equal(x.grad, torch.ones(3))


def test_lsq_step_gradient_matches_formula():
    w = torch.tensor([[0.24, -0.9, 0.46]])
    q = WeightQuantizer(3, 1, 2)
    q(w)  # initialise: step = 0.3
    q.step.data.fill_(0.2)
    out = q(w)
    out.sum().backward()
    # w / s = [1.2, -4.5, 2.3] with Qp = 3: in range -> round(v) - v, out of range -> -Qp
    expected = (1.0 - 1.2) + (-3.0) + (2.0 - 2.3)
    scale = 1 / (3 * 3) ** 0.5
    assert torch.allclose(q.step.grad.flatten(), torch.tensor([expected * scale]), atol=1e-6)


def test_pact_clip_gradient_and_signed_variant():
    x = torch.tensor([-1.0, 0.5, 2.0, 3.0])
    clip = torch.tensor(2.5, requires_grad=True)
    quantize_clipped(x, clip, 2, signed=False).sum().backward()
    # L = 3, s = 2.5/3; x=0.5: round(0.6)/3 - 0.5/2.5 = 1/3 - 0.2; x=2.0: round(2.4)/3 - 0.8 = 2/3 - 0.8;
    # x=3.0 (clipped): 1; x=-1: 0
    assert torch.allclose(clip.grad, torch.tensor(1 / 3 - 0.2 + 2 / 3 - 0.8 + 1.0), atol=1e-6)
    q = ActQuantizer(4, signed=None, init_clip="max")
    y = q(torch.tensor([-2.0, 1.0, 2.0]))
    assert bool(q.signed) and y.min() < 0 and torch.allclose(y, torch.tensor([-2.0, 1.0, 2.0]), atol=2 / 7)


def test_fused_mixed_activation_equals_the_unfused_sum():
    torch.manual_seed(0)
    for signed in (False, True):
        x = (torch.randn(2, 3, 4, 4) * 2).requires_grad_()
        c = torch.tensor(1.3, requires_grad=True)
        a = torch.randn(3, requires_grad=True)
        g = torch.randn(2, 3, 4, 4)
        fused = mixed_quantize_clipped(x, c, torch.softmax(a, 0), [2, 4, 8], signed)
        p = torch.softmax(a, 0)
        ref = sum(p[j] * quantize_clipped(x, c, b, signed) for j, b in enumerate([2, 4, 8]))
        gf = torch.autograd.grad((fused * g).sum(), [x, c, a])
        gr = torch.autograd.grad((ref * g).sum(), [x, c, a])
        assert torch.allclose(fused, ref, atol=1e-6)
        for u, v in zip(gf, gr):
            assert torch.allclose(u, v, atol=1e-5)


def test_quantize_model_swaps_by_name_and_names_bad_layers(tiny):
    bits = {"conv1": (8, 8), "conv2": (4, 4), "conv3": (2, 3), "fc": (8, 8)}
    quantize_model(tiny, bits)
    assert isinstance(tiny.conv2, QuantConv2d) and isinstance(tiny.fc, QuantLinear)
    assert (tiny.conv3.w_bits, tiny.conv3.a_bits) == (2, 3) and tiny.conv2.groups == 4
    tiny(torch.randn(2, 3, 8, 8))
    with pytest.raises(MpqlabError, match="convX"):
        quantize_model(nn.Sequential(nn.Conv2d(1, 1, 1)), {"convX": (4, 4)})
    with pytest.raises(MpqlabError, match="policy gives no bits for layers: 1"):
        quantize_model(nn.Sequential(nn.Conv2d(1, 1, 1), nn.Conv2d(1, 1, 1)), {"0": (4, 4)})


def test_calibrate_sets_clips_from_data(tiny):
    quantize_model(tiny, {n: (4, 4) for n in ("conv1", "conv2", "conv3", "fc")})
    x = torch.randn(16, 3, 8, 8) * 5
    calibrate(tiny, [x])
    assert bool(tiny.conv1.act_quant.signed) and tiny.conv1.act_quant.clip.item() > 5
    assert not bool(tiny.conv3.act_quant.signed)


def test_set_layer_bits_keeps_the_learned_weight_range_and_the_activation_clip(tiny):
    from mpqlab.core.errors import MpqlabError
    from mpqlab.quant.quantizers import max_abs_step, set_layer_bits

    quantize_model(tiny, {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)})
    calibrate(tiny, [torch.randn(16, 3, 8, 8)])
    layer = tiny.conv3
    range_before = layer.weight_quant.step.detach().clone() * (2 ** 3 - 1)
    clip = layer.act_quant.clip.item()
    set_layer_bits(tiny, "conv3", 2, 3)
    assert (layer.w_bits, layer.a_bits, layer.weight_quant.bits, layer.act_quant.bits) == (2, 3, 2, 3)
    assert torch.allclose(layer.weight_quant.step * (2 ** 1 - 1), range_before)  # same clipping range, fewer levels
    assert layer.act_quant.clip.item() == clip
    w = layer.weight_quant(layer.weight)
    assert len(torch.unique(w[0])) <= 3  # signed 2 bits: -1, 0, +1 steps
    assert torch.allclose(max_abs_step(layer.weight, 4, True) * 7, range_before)  # calibrated from max |W|
    with pytest.raises(MpqlabError, match="not a fixed-bits quantized layer"):
        set_layer_bits(tiny, "bn1", 2, 2)
