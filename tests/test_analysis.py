import math
import numpy as np
import pytest
import torch

from conftest import TinyNet
from mpqlab.analysis.conflict import perturbation_conflict, proxy_target_conflict, task_cost_conflict
from mpqlab.analysis.landscape import (
    eigen_direction, evaluate_fixed, linear_path, load_npz, random_direction, save_npz, slice_1d, slice_2d)
from mpqlab.analysis.sharpness import sharpness_report, surrogate_gap, worst_case_loss
from mpqlab.quant.quantizers import calibrate, quantize_model


@pytest.fixture
def qnet():
    torch.manual_seed(0)
    m = TinyNet()
    x, y = torch.randn(64, 3, 8, 8), torch.randint(0, 3, (64,))
    quantize_model(m, {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)})
    calibrate(m, [x])
    return m.eval(), x, y


def test_filter_normalised_direction(qnet):
    m, _, _ = qnet
    d = random_direction(m, seed=1)
    assert torch.allclose(d["conv3.weight"].flatten(1).norm(dim=1), m.conv3.weight.flatten(1).norm(dim=1), rtol=1e-5)
    assert d["bn1.weight"].abs().sum() == 0 and d["fc.bias"].abs().sum() == 0
    assert not any("_quant" in k for k in d)
    d2 = random_direction(m, seed=1, include_bn=True)
    assert d2["bn1.weight"].norm().item() == pytest.approx(m.bn1.weight.norm().item(), rel=1e-5)
    assert torch.equal(random_direction(m, seed=1)["conv1.weight"], d["conv1.weight"])


def test_slices_pass_through_the_model_and_restore_it(qnet, tmp_path):
    m, x, y = qnet
    before = {k: v.clone() for k, v in m.state_dict().items()}
    l0, a0 = evaluate_fixed(m, x, y)
    d1, d2 = random_direction(m, 1), random_direction(m, 2)
    r1 = slice_1d(m, (x, y), d1, np.linspace(-1, 1, 5), batch_size=16)
    assert r1["loss"][2] == pytest.approx(l0, rel=1e-6) and r1["acc"][2] == a0
    assert r1["loss"][0] != pytest.approx(l0) and r1["loss"][-1] != pytest.approx(l0)  # the weights did move
    r2 = slice_2d(m, (x, y), d1, d2, np.linspace(-1, 1, 3), np.linspace(-0.5, 0.5, 3), meta={"seeds": [1, 2]})
    assert r2["loss"].shape == (3, 3) and r2["loss"][1, 1] == pytest.approx(l0, rel=1e-6)
    assert r2["loss"][2, 1] == pytest.approx(r1["loss"][4], rel=1e-6)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k
    save_npz(r2, tmp_path / "l.npz")
    back = load_npz(tmp_path / "l.npz")
    assert np.array_equal(back["loss"], r2["loss"]) and back["meta"]["seeds"] == [1, 2]


def test_linear_path_endpoints(qnet):
    m, x, y = qnet
    other = TinyNet()
    quantize_model(other, {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)})
    other.load_state_dict(m.state_dict())
    with torch.no_grad():
        other.fc.weight.mul_(-1)
    res = linear_path(m, other, (x, y), [0.0, 1.0])
    assert res["loss"][0] == pytest.approx(evaluate_fixed(m, x, y)[0], rel=1e-6)
    assert res["loss"][1] == pytest.approx(evaluate_fixed(other.eval(), x, y)[0], rel=1e-5)


def test_eigen_direction_is_a_unit_eigenvector(qnet):
    """Unit norm, and H v = lambda v: the residual ||H v - lambda v|| is small against |lambda| (a random unit
    vector's residual is of the order of |lambda|, so the check can fail)."""
    from mpqlab.analysis.hessian import Hessian

    m, x, y = qnet
    d = eigen_direction(m, (x, y), max_iter=40)
    lam = float(d["__eigenvalue__"])
    vec = [t for k, t in d.items() if not k.startswith("__")]
    v = torch.cat([t.flatten() for t in vec])
    assert v.norm().item() == pytest.approx(1.0, rel=1e-4)
    h = Hessian(m, (x, y))
    hv = torch.cat([t.flatten() for t in h.hvp(vec)])
    assert (hv - lam * v).norm().item() < 0.05 * abs(lam)
    r = torch.randn_like(v)
    r = r / r.norm()
    chunks = list(torch.split(r, [t.numel() for t in vec]))
    hr = torch.cat([t.flatten() for t in h.hvp([c.view_as(t) for c, t in zip(chunks, vec)])])
    assert (hr - lam * r).norm().item() > 0.1 * abs(lam)


def test_sharpness_measures(qnet):
    m, x, y = qnet
    before = {k: v.clone() for k, v in m.state_dict().items()}
    assert surrogate_gap(m, [(x, y)], rho=0.0)["surrogate_gap"] == pytest.approx(0.0, abs=1e-7)
    one = surrogate_gap(m, [(x, y)], rho=0.05)["surrogate_gap"]
    many = worst_case_loss(m, x, y, rho=0.05, steps=5)["worst_case_increase"]
    assert one > 0 and many >= one * 0.9  # ascent in the ball finds at least about as much as one step
    rep = sharpness_report(m, x, y, rho=0.05, eig_iters=10, trace_probes=6)
    assert {"surrogate_gap", "worst_case_increase", "sigma_max", "trace", "time_s"} <= set(rep)
    for k, v in m.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_conflict_angles(qnet):
    m, x, y = qnet
    zero = perturbation_conflict(m, x, y, rho=0.0)
    assert zero["global"] == pytest.approx(1.0, abs=1e-5) and set(zero["per_layer"]) >= {"conv1", "fc"}
    far = perturbation_conflict(m, x, y, rho=1.0)
    assert far["global"] < zero["global"]
    same = proxy_target_conflict(m, [(x, y)], [(x, y)])
    assert same["global"] == pytest.approx(1.0, abs=1e-5)
    from mpqlab.search.supernet import Supernet

    torch.manual_seed(0)
    net = Supernet(TinyNet(), input_size=(3, 8, 8))
    c = task_cost_conflict(net, x, y, lambda s: s.expected_bitops() / 1e6)
    logits = net.bit_logits()
    gt = torch.cat([g.flatten() for g in torch.autograd.grad(torch.nn.functional.cross_entropy(net(x), y), logits)])
    gc = torch.cat([g.flatten() for g in torch.autograd.grad(net.expected_bitops() / 1e6, logits)])
    assert c == pytest.approx(torch.nn.functional.cosine_similarity(gt, gc, dim=0).item(), abs=1e-5)
    # an undefined angle (the cost does not depend on the logits) is NaN, not a perfect agreement
    import math

    assert math.isnan(task_cost_conflict(net, x, y, lambda s: 0.0 * s.expected_bitops()))


def test_the_one_cosine_helper_knows_undefined_angles_and_clamps():
    from mpqlab.core.vectors import cosine, cosine_of

    a, b = [torch.tensor([1.0, 0.0]), torch.tensor([2.0])], [torch.tensor([-1.0, 0.0]), torch.tensor([-2.0])]
    assert cosine(a, b) == pytest.approx(-1.0) and cosine(a, a) == pytest.approx(1.0)
    assert cosine(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 3.0])) == pytest.approx(0.0, abs=1e-12)
    assert math.isnan(cosine(a, [torch.zeros(2), torch.zeros(1)]))  # undefined, not 0 or 1
    assert math.isnan(cosine_of(1.0, float("inf"), 1.0)) and math.isnan(cosine_of(float("nan"), 1.0, 1.0))
    assert cosine_of(1.0 + 1e-9, 1.0, 1.0) == 1.0  # rounding past 1 is clamped


def test_slice_summary_and_its_sentences_follow_the_curves():
    from mpqlab.analysis.landscape import describe_slices, slice_summary

    a = np.linspace(-1, 1, 5)
    rows = {r["policy"]: r for r in slice_summary({"flat": (a, 1 + 0.5 * a ** 2), "sharp": (a, 0.5 + 3 * a ** 2)})}
    assert rows["flat"]["centre_loss"] == pytest.approx(1.0) and rows["sharp"]["edge_rise"] == pytest.approx(3.0)
    assert rows["flat"]["curvature"] == pytest.approx(0.5) and rows["sharp"]["curvature"] == pytest.approx(3.0)
    text = describe_slices(list(rows.values()))
    assert "lowest first: sharp 0.5 < flat 1" in text and "smallest first: flat 0.5 < sharp 3" in text
    assert "Each slice is lowest at its centre (a = 0)." in text
    tilted = slice_summary({"tilted": (a, 1 + 0.5 * (a + 0.5) ** 2)})  # minimum at a = -0.5, 0.125 below a = 0
    assert tilted[0]["lowest_at"] == -0.5 and tilted[0]["below_centre"] == pytest.approx(0.125)
    assert "Lowest point off the centre: tilted at a = -0.5, 0.125 below the centre" in describe_slices(tilted)


def test_layer_bits_change_compares_one_layer_at_new_bits(qnet):
    from mpqlab.analysis.landscape import layer_bits_change
    from mpqlab.quant.cost import layer_table

    m, x, y = qnet
    table = layer_table(TinyNet(), (3, 8, 8))
    bits = {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)}
    policy = {"layers": {n: dict(r, w_bits=bits[n][0], a_bits=bits[n][1], searchable=n in ("conv2", "conv3"))
                         for n, r in table.items()}}
    before = {k: v.clone() for k, v in m.state_dict().items()}
    r = layer_bits_change(m, policy, "conv3", 2, 2, (x, y), np.linspace(-0.5, 0.5, 3), trace_probes=4)
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())  # the model itself is untouched
    assert m.conv3.w_bits == 4
    assert r["layer_bitops_after"] * 4 == r["layer_bitops_before"]  # 4 x 4 -> 2 x 2
    assert r["bitops_before"] - r["bitops_after"] == r["layer_bitops_before"] - r["layer_bitops_after"]
    assert r["loss_after"][1] != r["loss_before"][1] and r["trace_before"] > 0
    with pytest.raises(Exception, match="not a searchable layer"):
        layer_bits_change(m, policy, "fc", 2, 2, (x, y), [0.0])


def test_chance_cosine_is_the_band_of_unrelated_directions():
    """The noise baseline notebook 04 prints beside every cosine: 95 % of cosines between independent random
    directions in n dimensions fall within ±chance_cosine(n) (variance exactly 1/n)."""
    import torch

    from mpqlab.analysis.conflict import chance_cosine

    g = torch.Generator().manual_seed(0)
    for dim in (40, 400):
        a, b = torch.randn(4000, dim, generator=g), torch.randn(4000, dim, generator=g)
        cos = torch.nn.functional.cosine_similarity(a, b, dim=1)
        inside = (cos.abs() <= chance_cosine(dim)).float().mean().item()
        assert 0.93 < inside < 0.97, (dim, inside)
    assert chance_cosine(10_000) == pytest.approx(1.959964 / 100, rel=1e-5)


def test_alignment_summary_says_closer_further_or_no_difference_from_the_quartiles():
    import math

    import pytest

    from mpqlab.analysis.conflict import alignment_summary

    sam = [0.5, 0.9, 0.88, 0.89, 0.87, 0.9, math.nan]  # only the last 5 logged values count with last=5
    assert "edmips+asga keeps the gradients closer together" in alignment_summary(
        {"edmips+sam": sam, "edmips+asga": [0.97, 0.98, 0.96, 0.99, 0.98]}, last=5)
    assert "edmips+asga leaves the gradients further apart" in alignment_summary(
        {"edmips+sam": sam, "edmips+asga": [0.7, 0.72, 0.71, 0.69, 0.7]}, last=5)
    same = alignment_summary({"edmips+sam": sam, "edmips+asga": [0.86, 0.91, 0.88, 0.9, 0.89]}, last=5)
    assert "In these runs edmips+asga and edmips+sam do not differ" in same and "tests no method" in same
    assert "+0.890 (IQR +0.880 to +0.900, last 5 steps), the gradients 27° apart" in same  # acos(0.89) = 27.1°
    with pytest.raises(ValueError, match="edmips: 1 logged"):
        alignment_summary({"edmips": [0.5, math.nan]})
