import math

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import TinyNet
from mpqlab.optim import ASGA, GSAM, SAM, adaptive_radius, frozen_bn_stats, scaled_radius


def _setup(seed=0):
    torch.manual_seed(seed)
    m = TinyNet()
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    return m, x, y


def _two_pass(opt, m, x, y):
    loss = F.cross_entropy(m(x), y)
    loss.backward()
    opt.first_step(loss.detach(), zero_grad=True)
    with frozen_bn_stats(m):
        lp = F.cross_entropy(m(x), y)
        lp.backward()
    opt.second_step(lp.detach(), zero_grad=True)


@pytest.mark.parametrize("cls,kw", [(SAM, {}), (ASGA, {"beta": 0.0, "radius": "fixed"}),
                                    (GSAM, {"radius": "fixed", "gamma": 0.3})])
def test_zero_radius_equals_one_base_step(cls, kw):
    m, x, y = _setup()
    ref = TinyNet()
    ref.load_state_dict(m.state_dict())
    opt = cls(m.parameters(), torch.optim.SGD, rho=0.0, lr=0.1, momentum=0.9, **kw)
    base = torch.optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    _two_pass(opt, m, x, y)
    F.cross_entropy(ref(x), y).backward()
    base.step()
    for (n, a), b in zip(m.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), n


def test_sam_perturbation_has_norm_rho_and_update_uses_g_p():
    m, x, y = _setup()
    opt = SAM(m.parameters(), torch.optim.SGD, rho=0.07, lr=0.1)
    before = [p.detach().clone() for p in m.parameters()]
    F.cross_entropy(m(x), y).backward()
    opt.first_step()
    e = torch.cat([(p - b).flatten() for p, b in zip(m.parameters(), before)])
    assert e.norm().item() == pytest.approx(0.07, rel=1e-5)
    opt.zero_grad()
    F.cross_entropy(m(x), y).backward()
    gp = [p.grad.clone() for p in m.parameters()]
    opt.second_step()
    for p, b, g in zip(m.parameters(), before, gp):
        assert torch.allclose(p, b - 0.1 * g, atol=1e-6)


def test_telemetry_logs_the_radius_the_step_used():
    """A rule that scales its radius (here: half the schedule's) logs the radius of its perturbation, ||e||, as
    ``rho``, and the schedule's beside it as ``rho_schedule``; an unscaled rule logs the two equal."""
    from mpqlab.optim import TwoPassOptimizer

    class HalfSAM(TwoPassOptimizer):
        def perturbation(self, g, gnorm, rho):
            return g * (0.5 * rho / (gnorm + 1e-12))

        def direction(self, g, gp, ctx):
            return gp

    for cls, expected in ((HalfSAM, 0.025), (SAM, 0.05)):
        m, x, y = _setup()
        opt = cls(m.parameters(), torch.optim.SGD, rho=0.05, lr=0.1)
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        opt.first_step(loss.detach(), zero_grad=True)
        loss_p = F.cross_entropy(m(x), y)
        loss_p.backward()
        opt.second_step(loss_p.detach())
        assert opt.last["rho"] == pytest.approx(expected, rel=1e-5), cls.__name__
        assert opt.last["rho_schedule"] == 0.05 and opt.last["perturbation_norm"] == opt.last["rho"]


def test_asga_perturbation_and_averaged_update():
    m, x, y = _setup()
    opt = ASGA(m.parameters(), torch.optim.SGD, rho=0.05, beta=0.01, radius="fixed", lr=0.1)
    before = [p.detach().clone() for p in m.parameters()]
    F.cross_entropy(m(x), y).backward()
    g = [p.grad.clone() for p in m.parameters()]
    gn = torch.cat([t.flatten() for t in g]).norm()
    opt.first_step()
    for p, b, gi in zip(m.parameters(), before, g):
        assert torch.allclose(p - b, (0.05 / gn - 0.01) * gi, atol=1e-7)
    opt.zero_grad()
    F.cross_entropy(m(x), y).backward()
    gp = [p.grad.clone() for p in m.parameters()]
    opt.second_step()
    for p, b, gi, gpi in zip(m.parameters(), before, g, gp):
        assert torch.allclose(p, b - 0.1 * (gi + gpi) / 2, atol=1e-6)


def test_gsam_removed_component_is_orthogonal_to_g_p():
    torch.manual_seed(1)
    g, gp = [torch.randn(5), torch.randn(3, 2)], [torch.randn(5), torch.randn(3, 2)]
    opt = GSAM([nn.Parameter(torch.zeros(1))], torch.optim.SGD, lr=0.1)
    coef = opt.direction_context(g, gp)["coef"]
    orth = [GSAM.orthogonal_part(a, b, coef) for a, b in zip(g, gp)]
    assert abs(sum((o * b).sum() for o, b in zip(orth, gp)).item()) < 1e-5
    d = [opt.direction(a, b, {"coef": coef}) for a, b in zip(g, gp)]
    assert all(torch.allclose(di, b - 0.1 * o) for di, b, o in zip(d, gp, orth))


def test_adaptive_radius_follows_its_formula():
    assert adaptive_radius(0.0, 0.1, rho_min=0.0) == 0.0
    assert adaptive_radius(0.0, 0.1) == 0.01  # the one default floor, RHO_MIN
    assert adaptive_radius(0.05, 0.1) == pytest.approx(math.log(1.05))
    assert adaptive_radius(5.0, 0.1) == 0.1
    assert adaptive_radius(0.0, 0.1, rho_min=0.01) == 0.01
    m, x, y = _setup()
    opt = ASGA(m.parameters(), torch.optim.SGD, rho=0.05, rho_max=0.5, rho_min=0.0, radius="adaptive", lr=0.01)
    _two_pass(opt, m, x, y)
    h = opt.last["h"]
    assert h == pytest.approx(max(opt.last["loss_p"] - opt.last["loss"], 0))
    assert opt.current_rho() == pytest.approx(min(0.5, math.log1p(h)))
    opt2 = ASGA(m.parameters(), torch.optim.SGD, rho=0.05, rho_max=0.5, rho_min=0.0, h_ema=0.9, radius="adaptive",
                lr=0.01)
    opt2._update_radius(0.2)
    opt2._update_radius(0.0)
    assert opt2.current_rho() == pytest.approx(math.log1p(0.9 * 0.2))


def test_lr_proportional_radius():
    p = nn.Parameter(torch.zeros(1))
    opt = GSAM([p], torch.optim.SGD, rho=0.0, radius="lr", rho_min=0.01, rho_max=0.1, lr=1.0)
    assert opt.current_rho() == pytest.approx(0.1)  # first lr is both min and max
    opt.param_groups[0]["lr"] = 0.5
    assert opt.current_rho() == pytest.approx(0.01)
    opt.param_groups[0]["lr"] = 0.75
    assert opt.current_rho() == pytest.approx(0.01 + 0.09 * 0.5)


def test_second_pass_leaves_batchnorm_statistics_unchanged():
    m, x, y = _setup()
    opt = ASGA(m.parameters(), torch.optim.SGD, lr=0.1, model=m)
    calls = []

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(m(x), y)
        loss.backward()
        calls.append({k: v.clone() for k, v in m.bn1.state_dict().items()})
        return loss

    start = {k: v.clone() for k, v in m.bn1.state_dict().items()}
    opt.step(closure)
    after_first = calls[0]
    assert not torch.equal(after_first["running_mean"], start["running_mean"])
    for k in ("running_mean", "running_var", "num_batches_tracked"):  # the second pass changed nothing
        assert torch.equal(getattr(m.bn1, k), after_first[k]), k
    assert set(opt.last) >= {"loss", "loss_p", "h", "rho", "grad_norm", "grad_p_norm", "cos", "cos_per_param"}
    n_params = len(list(m.parameters()))
    assert -1 <= opt.last["cos"] <= 1 and set(opt.last["cos_per_param"]) == {str(i) for i in range(n_params)}


def test_named_parameters_name_the_per_tensor_cosines():
    m, x, y = _setup()
    opt = SAM(m.named_parameters(), torch.optim.SGD, lr=0.1)
    _two_pass(opt, m, x, y)
    assert set(opt.last["cos_per_param"]) == {n for n, _ in m.named_parameters()}


def test_state_dict_roundtrip_keeps_radius_and_momentum():
    m, x, y = _setup()
    opt = ASGA(m.parameters(), torch.optim.SGD, lr=0.1, momentum=0.9)
    _two_pass(opt, m, x, y)
    sd = opt.state_dict()
    opt2 = ASGA(m.parameters(), torch.optim.SGD, lr=0.1, momentum=0.9)
    opt2.load_state_dict(sd)
    assert opt2.current_rho() == opt.current_rho()
    assert opt2.base_optimizer.state_dict()["state"].keys() == opt.base_optimizer.state_dict()["state"].keys()


def _quadratic_steps(opt, theta, hess, tilt, steps):
    """Two-pass steps on L = 1/2 theta^T H theta + tilt^T theta (float64); returns the radii used."""
    rhos = []
    for _ in range(steps):
        loss = 0.5 * theta @ hess @ theta + tilt @ theta
        loss.backward()
        opt.first_step(loss.detach(), zero_grad=True)
        lp = 0.5 * theta @ hess @ theta + tilt @ theta
        lp.backward()
        rhos.append(opt.last["rho"])
        opt.second_step(lp.detach(), zero_grad=True)
    return rhos


def test_curvature_estimate_is_exact_on_a_quadratic():
    torch.manual_seed(0)
    hess = torch.diag(torch.tensor([1.0, 2.0, 5.0, 10.0, 50.0], dtype=torch.float64))
    theta = nn.Parameter(torch.randn(5, dtype=torch.float64))
    g = hess @ theta.detach()
    opt = ASGA([theta], torch.optim.SGD, rho=0.05, beta=0.001, lr=0.0)
    _quadratic_steps(opt, theta, hess, torch.zeros(5, dtype=torch.float64), 1)
    # e is parallel to g, so the curvature along it is g^T H g / ||g||^2, whatever rho and beta are
    assert opt.last["curvature"] == pytest.approx(float(g @ hess @ g / (g @ g)), rel=1e-9)


@pytest.mark.parametrize("rule", ["relative", "curvature"])
def test_adaptive_radius_answers_the_landscape_not_the_gradient_scale(rule):
    """On a steeply tilted quadratic (||g|| ~ 100, curvature unchanged) the literal rule ln(1 + h) sits at
    rho_max on every step while the reconstructed rules stay at rho_0; when the landscape becomes twice as sharp
    (h and kappa double at the same point) the radius rises by the formula, and when it becomes twice as flat it
    falls, inside the bounds."""
    torch.manual_seed(0)
    hess = torch.diag(torch.tensor([1.0, 2.0, 5.0, 10.0, 50.0], dtype=torch.float64))
    tilt = 100.0 * torch.ones(5, dtype=torch.float64)
    radii = {}
    for radius in ("adaptive", rule):
        theta = nn.Parameter(torch.zeros(5, dtype=torch.float64))
        opt = ASGA([theta], torch.optim.SGD, rho=0.05, beta=0.0, radius=radius, lr=0.0)
        radii[radius] = _quadratic_steps(opt, theta, hess, tilt, 10)
    assert all(r == 0.1 for r in radii["adaptive"][1:])
    assert all(r == pytest.approx(0.05) for r in radii[rule])
    # the same point (lr = 0), the landscape scaled: sharper, then flatter
    theta = nn.Parameter(torch.ones(5, dtype=torch.float64))
    opt = ASGA([theta], torch.optim.SGD, rho=0.05, beta=0.0, radius=rule, lr=0.0)
    _quadratic_steps(opt, theta, hess, torch.zeros(5, dtype=torch.float64), 5)
    assert opt.current_rho() == pytest.approx(0.05)
    _quadratic_steps(opt, theta, 2 * hess, torch.zeros(5, dtype=torch.float64), 1)
    # the doubled quantity over its running scale 0.9 * 1 + 0.1 * 2 = 1.1 (in units of its old value)
    assert opt.current_rho() == pytest.approx(0.05 * math.log1p((math.e - 1) * 2 / 1.1))
    assert 0.05 < opt.current_rho() < 0.1
    _quadratic_steps(opt, theta, 0.5 * hess, torch.zeros(5, dtype=torch.float64), 1)
    assert 0.01 < opt.current_rho() < 0.05
    # a negative value (the loss bends down along e) gives the floor; no scale yet gives rho_0
    assert scaled_radius(-1.0, 1.0, 0.05, 0.1, 0.01) == 0.01
    assert scaled_radius(1.0, 0.0, 0.05, 0.1, 0.01) == 0.05


def test_amortised_steps_are_exact_at_a_fixed_point_of_a_quadratic_and_k1_is_the_full_rule():
    """On L = 1/2 theta^T H theta with lr = 0 the gradient and the curvature along e never change, so g + rho Delta
    from the last full step is the true g_p: amortised and full steps give the same update direction."""
    torch.manual_seed(0)
    hess = torch.diag(torch.tensor([1.0, 2.0, 5.0, 10.0, 50.0], dtype=torch.float64))
    theta = nn.Parameter(torch.randn(5, dtype=torch.float64))
    opt = ASGA([theta], torch.optim.SGD, rho=0.05, beta=0.001, radius="fixed", ascent_every=3, lr=0.0)
    flags, dirs = [], []
    for _ in range(6):
        loss = 0.5 * theta @ hess @ theta
        loss.backward()
        if opt.needs_ascent():
            opt.first_step(loss.detach(), zero_grad=True)
            (0.5 * theta @ hess @ theta).backward()
            opt.second_step(None)
        else:
            opt.amortised_step(loss.detach())
        flags.append(opt.last["amortised"])
        dirs.append(theta.grad.clone())
        opt.zero_grad(set_to_none=True)
    assert flags == [False, True, True, False, True, True]
    for d in dirs[1:]:
        assert torch.allclose(d, dirs[0], rtol=1e-10, atol=1e-12)
    full = ASGA([theta], torch.optim.SGD, rho=0.05, beta=0.001, radius="fixed", lr=0.0)
    assert full.ascent_every == 1 and all(full.needs_ascent() for _ in range(3))


def test_amortised_step_with_zero_radius_is_the_base_step():
    torch.manual_seed(0)
    m1, x, y = _setup()
    m2 = TinyNet()
    m2.load_state_dict(m1.state_dict())
    o1 = ASGA(m1.parameters(), torch.optim.SGD, rho=0.0, beta=0.0, radius="fixed", ascent_every=2, lr=0.1)
    o2 = torch.optim.SGD(m2.parameters(), lr=0.1)
    for i in range(4):
        for m, o in ((m1, o1), (m2, o2)):
            loss = F.cross_entropy(m(x), y)
            loss.backward()
            if o is o2:
                o.step()
            elif o.needs_ascent():
                o.first_step(loss.detach(), zero_grad=True)
                with frozen_bn_stats(m):
                    F.cross_entropy(m(x), y).backward()
                o.second_step(None)
            else:
                o.amortised_step(loss.detach())
            o.zero_grad(set_to_none=True)
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.allclose(a, b, atol=1e-6)


class _SyncCounter:
    """Counts the host transfers a CPU run can see: Tensor.item / tolist / float() / int() / bool() on a tensor
    (on a GPU each is a device synchronisation)."""

    NAMES = ("item", "tolist", "__float__", "__int__", "__bool__")

    def __init__(self, monkeypatch):
        import torch

        self.n = 0
        for name in self.NAMES:
            orig = getattr(torch.Tensor, name)

            def counted(t, *a, _orig=orig, **k):
                self.n += 1
                return _orig(t, *a, **k)

            monkeypatch.setattr(torch.Tensor, name, counted)


@pytest.mark.parametrize("name", ["sam", "gsam", "asga"])
def test_one_optimizer_step_makes_at_most_one_host_sync(name, monkeypatch):
    import torch
    import torch.nn.functional as F

    from mpqlab.optim import OPTIMIZERS

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    x, y = torch.randn(16, 6), torch.randint(0, 3, (16,))
    opt = OPTIMIZERS[name](net.parameters(), torch.optim.SGD, lr=0.1, rho=0.05)

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        return loss

    opt.step(closure)  # warm-up: the first step may set up state
    counter = _SyncCounter(monkeypatch)
    opt.step(closure)
    assert counter.n <= 1, f"{name}: {counter.n} host syncs in one step"
    assert opt.last["h"] is not None and -1 <= opt.last["cos"] <= 1 and len(opt.last["cos_per_param"]) == 4
    monkeypatch.undo()
    before = counter.n
    (torch.ones(()) * 2).item()
    assert counter.n == before  # undone: the counter saw only the step


def test_the_sync_counter_counts(monkeypatch):
    import torch

    counter = _SyncCounter(monkeypatch)
    t = torch.ones(3)
    t.sum().item(), t.tolist(), float(t[0]), bool(t[1])
    assert counter.n == 4


def test_step_closure_is_the_explicit_protocol_amortised_steps_included():
    """``opt.step(closure)`` (what the search loop calls) takes the same passes and lands on the same parameters as
    the explicit first_step / second_step / amortised_step calls: two passes on an ascent step, one between."""
    torch.manual_seed(0)
    m1, x, y = _setup()
    m2 = TinyNet()
    m2.load_state_dict(m1.state_dict())
    kw = dict(rho=0.05, beta=0.001, radius="fixed", ascent_every=3, lr=0.1)
    o1, o2 = ASGA(m1.parameters(), torch.optim.SGD, model=m1, **kw), ASGA(m2.parameters(), torch.optim.SGD, **kw)
    calls = []

    def closure():
        o1.zero_grad(set_to_none=True)
        loss = F.cross_entropy(m1(x), y)
        loss.backward()
        calls[-1] += 1
        return loss

    for _ in range(6):
        calls.append(0)
        o1.step(closure)
        loss = F.cross_entropy(m2(x), y)
        loss.backward()
        if o2.needs_ascent():
            o2.first_step(loss.detach(), zero_grad=True)
            with frozen_bn_stats(m2):
                F.cross_entropy(m2(x), y).backward()
            o2.second_step(None, zero_grad=True)
        else:
            o2.amortised_step(loss.detach(), zero_grad=True)
    assert calls == [2, 1, 1, 2, 1, 1]
    for a, b in zip(m1.parameters(), m2.parameters()):
        assert torch.allclose(a, b, rtol=1e-6, atol=1e-7)
