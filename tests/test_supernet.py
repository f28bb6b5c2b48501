import math

import pytest
import torch
import torch.nn as nn

from conftest import TinyNet
from mpqlab.quant.cost import bitops, layer_table, model_cost
from mpqlab.search.supernet import MixedQuantConv2d, Supernet


def _net():
    torch.manual_seed(0)
    return Supernet(TinyNet(), w_candidates=[2, 4, 8], a_candidates=[4, 8], input_size=(3, 8, 8))


def test_searchable_and_fixed_layers():
    net = _net()
    assert net.fixed_layers == ["conv1", "fc"] and net.searchable_layers() == ["conv2", "conv3"]
    assert isinstance(net.net.conv2, MixedQuantConv2d) and net.net.conv1.w_bits == 8
    assert len(net.bit_logits()) == 4


def test_parameter_groups_partition_the_supernet_and_quantizers_are_not_counted_as_weights():
    net = _net()
    weights = {n for n, _ in net.named_weight_parameters()}
    quant = {n for n, _ in net.named_quantizer_parameters()}
    logits = {id(p) for p in net.bit_logits()}
    named = dict(net.net.named_parameters())
    assert weights and quant and not weights & quant
    assert {n for n, p in named.items() if id(p) in logits} == set(named) - weights - quant
    assert any(".mixed.steps" in n for n in quant) and not any("alpha_" in n for n in quant)
    # the cost counter's "other parameters" (biases, BatchNorm) are the float model's, with no quantizer's among them
    torch.manual_seed(0)
    assert model_cost(net.net, input_size=(3, 8, 8))["other_params"] == \
        model_cost(TinyNet(), input_size=(3, 8, 8))["other_params"]


def test_expected_bitops_equals_hand_computation_for_fixed_softmaxes():
    net = _net()
    with torch.no_grad():
        net.net.conv2.mixed.alpha_w.copy_(torch.log(torch.tensor([0.5, 0.25, 0.25])))
        net.net.conv2.mixed.alpha_a.copy_(torch.log(torch.tensor([0.5, 0.5])))
        net.net.conv3.mixed.alpha_w.copy_(torch.log(torch.tensor([0.0 + 1e-30, 0.0 + 1e-30, 1.0])))
        net.net.conv3.mixed.alpha_a.copy_(torch.log(torch.tensor([1.0, 1e-30])))
    t = layer_table(TinyNet(), (3, 8, 8))
    ew2, ea2 = 0.5 * 2 + 0.25 * 4 + 0.25 * 8, 0.5 * 4 + 0.5 * 8
    expected = t["conv1"]["macs"] * 64 + t["fc"]["macs"] * 64 + t["conv2"]["macs"] * ew2 * ea2 + t["conv3"]["macs"] * 8 * 4
    assert math.isclose(net.expected_bitops().item(), expected, rel_tol=1e-5)


def test_argmax_policy_cost_equals_the_counter():
    net = _net()
    with torch.no_grad():
        for q in net.mixed().values():
            q.alpha_w.copy_(torch.randn(3))
            q.alpha_a.copy_(torch.randn(2))
    bits = net.argmax_bits()
    # the counter on a float copy of the model with the argmax bits = the supernet's expectation at one-hot softmaxes
    with torch.no_grad():
        for n, q in net.mixed().items():
            q.alpha_w.copy_(torch.where(torch.arange(3) == q.alpha_w.argmax(), 100.0, -100.0))
            q.alpha_a.copy_(torch.where(torch.arange(2) == q.alpha_a.argmax(), 100.0, -100.0))
    assert math.isclose(net.expected_bitops().item(), bitops(layer_table(TinyNet(), (3, 8, 8)), bits), rel_tol=1e-6)


def test_one_convolution_per_layer_and_gradients_reach_the_logits():
    net = _net()
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append(1)) for m in net.modules()
             if isinstance(m, nn.Conv2d)]
    out = net(torch.randn(4, 3, 8, 8))
    assert len(calls) == 3  # three convolutions, not one per candidate
    for h in hooks:
        h.remove()
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.bit_logits())


def test_one_hot_softmax_matches_the_fixed_quantized_layer():
    from mpqlab.quant.quantizers import quantize_model

    torch.manual_seed(0)
    base = TinyNet().eval()
    fixed = TinyNet().eval()
    fixed.load_state_dict(base.state_dict())
    net = Supernet(base, w_candidates=[2, 4, 8], a_candidates=[4, 8], input_size=(3, 8, 8)).eval()
    x = torch.randn(4, 3, 8, 8)
    net(x)  # initialise steps and clips
    with torch.no_grad():
        for q in net.mixed().values():
            q.alpha_w.copy_(torch.tensor([-1e4, 1e4, -1e4]))  # 4 bits
            q.alpha_a.copy_(torch.tensor([-1e4, 1e4]))  # 8 bits
    quantize_model(fixed, {"conv1": (8, 8), "conv2": (4, 8), "conv3": (4, 8), "fc": (8, 8)})
    fixed(x)
    for name in ("conv2", "conv3"):  # same clip as the supernet's calibration
        getattr(fixed, name).act_quant.clip.data.copy_(getattr(net.net, name).mixed.clip.data)
    fixed.conv1.act_quant.clip.data.copy_(net.net.conv1.act_quant.clip.data)
    fixed.fc.act_quant.clip.data.copy_(net.net.fc.act_quant.clip.data)
    assert torch.allclose(net(x), fixed(x), atol=1e-5)


def test_temperature_sharpens_the_mixture_and_realised_bits_are_the_argmax_with_the_expected_gradient():
    net = _net()
    q = next(iter(net.mixed().values()))
    with torch.no_grad():
        q.alpha_w.copy_(torch.tensor([0.1, 0.3, 0.2]))
        q.alpha_a.copy_(torch.tensor([0.5, 0.4]))
    net.set_temperature(0.1)
    pw, pa = q.probs()
    assert torch.allclose(pw, torch.softmax(torch.tensor([1.0, 3.0, 2.0]), 0))
    rw, ra = q.realised_bits()
    assert (rw.item(), ra.item()) == (4.0, 4.0)  # argmax: weights 4 bits, activations 4 bits
    ew, ea = q.expected_bits()
    g_real = torch.autograd.grad(rw * ra, [q.alpha_w, q.alpha_a])
    g_exp_w = torch.autograd.grad(ew, q.alpha_w)[0] * ra.item()
    assert torch.allclose(g_real[0], g_exp_w)
    # the realised BitOPs of the supernet are the cost counter's BitOPs of its argmax policy
    assert net.realised_bitops().item() == pytest.approx(bitops(net.table, net.argmax_bits()), rel=1e-6)
    rest = [float(p.detach().max()) for o in list(net.mixed().values())[1:] for p in o.probs()]
    tops = sorted([float(pw.detach().max()), float(pa.detach().max())] + rest)
    mid = len(tops) // 2
    assert net.decisiveness() == pytest.approx((tops[mid - 1] + tops[mid]) / 2 if len(tops) % 2 == 0 else tops[mid])
    try:
        net.set_temperature(0)
    except Exception as e:
        assert "temperature" in str(e)
    else:
        raise AssertionError("a zero temperature was accepted")
