import math

import pytest
import torch.nn as nn

from conftest import TinyNet
from mpqlab.quant.cost import average_bits, bitops, budget_bitops, layer_table, model_cost, size_bytes
from mpqlab.core.errors import MpqlabError


def test_hand_computed_macs_with_stride_padding_depthwise():
    t = layer_table(TinyNet(num_classes=3), (3, 8, 8))
    # conv1: 3x3, 3->4, pad 1: 8*8 outputs * 4 ch * (3*3*3) = 6912
    assert t["conv1"]["macs"] == 8 * 8 * 4 * 27
    # conv2: depthwise 3x3 stride 2 pad 1 on 8x8 -> 4x4 outputs * 4 ch * (1*3*3) = 576
    assert t["conv2"]["macs"] == 4 * 4 * 4 * 9 and t["conv2"]["groups"] == 4
    # conv3: 1x1, 4->6 on 4x4 = 16 * 6 * 4 = 384
    assert t["conv3"]["macs"] == 16 * 6 * 4
    assert t["fc"]["macs"] == 6 * 3
    assert [t[n]["params"] for n in t] == [108, 36, 24, 18]


def test_bitops_size_and_average_bits():
    t = layer_table(TinyNet(num_classes=3), (3, 8, 8))
    bits = {"conv1": (8, 8), "conv2": (4, 2), "conv3": (2, 2), "fc": (8, 8)}
    assert bitops(t, bits) == 6912 * 64 + 576 * 8 + 384 * 4 + 18 * 64
    assert bitops(t) == sum(r["macs"] for r in t.values()) * 32 * 32
    assert size_bytes(t, bits) == 108 + 36 * 4 / 8 + 24 * 2 / 8 + 18
    fixed = {"conv1", "fc"}
    uniform3 = {"conv1": (8, 8), "conv2": (3, 3), "conv3": (3, 3), "fc": (8, 8)}
    assert math.isclose(average_bits(t, uniform3, fixed), 3.0)
    assert math.isclose(budget_bitops(t, 3.0, {"conv1": (8, 8), "fc": (8, 8)}), bitops(t, uniform3))
    assert math.isclose(average_bits(t, bits, fixed), math.sqrt((576 * 8 + 384 * 4) / 960))
    with pytest.raises(MpqlabError):
        budget_bitops(t, 0, {})


def test_model_cost_counts_float_model():
    c = model_cost(nn.Sequential(nn.Conv2d(3, 2, 1), nn.Flatten(), nn.Linear(2 * 4 * 4, 5)), None, (3, 4, 4))
    assert c["macs"] == 16 * 2 * 3 + 32 * 5 and c["bitops"] == c["macs"] * 1024
    assert c["other_params"] == 2 + 5 and c["average_bits"] == 32.0


def test_resnet20_and_mobilenet_v2_known_macs():
    from mpqlab.models import create_model

    assert model_cost(create_model("resnet20"))["macs"] == 40_813_184
    mb = model_cost(create_model("mobilenet_v2", num_classes=1000), input_size=(3, 224, 224))
    assert abs(mb["macs"] - 300.8e6) / 300.8e6 < 0.01  # torchvision reports 0.30 GFLOPs (MACs)


def test_layer_bitops_is_the_one_formula_behind_totals_and_the_ilp_matrix():
    from mpqlab.quant.cost import bitops, bitops_shares, candidate_bitops, layer_bitops

    table = {"a": {"macs": 10, "params": 1}, "b": {"macs": 100, "params": 1}}
    bits = {"a": (2, 3), "b": (4, 4)}
    assert layer_bitops(table, bits) == {"a": 60, "b": 1600} and bitops(table, bits) == 1660
    assert bitops(table, bits, ["b"]) == 1600 and layer_bitops(table, {"a": (2, 2)})["b"] == 100 * 32 * 32
    assert candidate_bitops(table, ["b", "a"], [(2, 2), (4, 3)]).tolist() == [[400, 1200], [40, 120]]
    shares = bitops_shares(table, bits)
    assert abs(shares["a"] - 6000 / 1660) < 1e-9 and abs(sum(shares.values()) - 100) < 1e-9
