"""Both Hessian backends against the exact Hessian of tiny models. Tolerances are stated next to each check."""
import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import TinyNet
from mpqlab.analysis.hessian import Hessian, exact_hessian, gaussian_density


class Mlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 5)
        self.l2 = nn.Linear(5, 3)

    def forward(self, x):
        return self.l2(torch.tanh(self.l1(x)))


@pytest.fixture
def problem():
    torch.manual_seed(0)
    m = Mlp().double()
    x, y = torch.randn(32, 4, dtype=torch.float64), torch.randint(0, 3, (32,))
    H = exact_hessian(m, (x, y))
    return m, (x, y), H, torch.linalg.eigvalsh(H)


def test_exact_hessian_is_symmetric(problem):
    _, _, H, _ = problem
    assert H.shape == (43, 43) and torch.allclose(H, H.T, atol=1e-10)


@pytest.mark.parametrize("backend", ["mpqlab", "pyhessian"])
def test_top_eigenvalues(problem, backend):
    m, data, H, ev = problem
    res = Hessian(m, data, backend=backend).eigenvalues(top_k=2, max_iter=500, tol=1e-8)
    top = ev[ev.abs().argsort(descending=True)][:2]
    assert np.allclose(res["eigenvalues"], top.numpy(), rtol=1e-3)  # 0.1% after convergence
    v = torch.cat([t.flatten() for t in res["eigenvectors"][0]]).double()
    assert abs(v @ H @ v / (v @ v) - top[0]) / abs(top[0]) < 1e-3


def test_blocked_products_equal_single_products_and_the_exact_hessian(problem):
    m, data, H, _ = problem
    g = torch.Generator().manual_seed(3)
    single, blocked = Hessian(m, data, probe_block=1), Hessian(m, data, probe_block=4)
    vs = [[torch.randn(p.shape, generator=g, dtype=p.dtype) for p in single.params] for _ in range(6)]
    for v, a, b in zip(vs, single._hvp_many(vs), blocked._hvp_many(vs)):
        flat = torch.cat([t.flatten() for t in v])
        assert torch.allclose(torch.cat([t.flatten() for t in a]), H @ flat, atol=1e-10)
        assert torch.allclose(torch.cat([t.flatten() for t in b]), H @ flat, atol=1e-10)
    assert single.probe_block == 1  # the CPU default


def test_trace_estimators(problem):
    m, data, H, _ = problem
    exact = torch.trace(H).item()
    h = Hessian(m, data)
    # Hutch++ with 3 x 43 products spans the whole space: exact up to round-off
    assert h.trace(n_probes=129, method="hutch++")["trace"] == pytest.approx(exact, rel=1e-8)
    hut = h.trace(n_probes=400, method="hutchinson", seed=1)
    assert abs(hut["trace"] - exact) < 4 * hut["std_error"] + 1e-9  # within 4 standard errors
    py = Hessian(m, data, backend="pyhessian").trace(n_probes=400, seed=1)
    assert abs(py["trace"] - exact) < 4 * py["std_error"] + 1e-9


def test_layer_traces_match_diagonal_blocks(problem):
    m, data, H, _ = problem
    sizes = [p.numel() for p in m.parameters()]  # l1.weight 20, l1.bias 5, l2.weight 15, l2.bias 3
    idx = np.cumsum([0] + sizes)
    d = torch.diagonal(H)
    exact = {"l1": d[idx[0]:idx[2]].sum().item(), "l2": d[idx[2]:idx[4]].sum().item()}
    est = Hessian(m, data).layer_traces(n_probes=2000, seed=2)
    for k in exact:  # 5% with 2,000 shared probes
        assert est[k] == pytest.approx(exact[k], rel=0.05)


@pytest.mark.parametrize("backend", ["mpqlab", "pyhessian"])
def test_density_nodes_and_moments(problem, backend):
    m, data, H, ev = problem
    res = Hessian(m, data, backend=backend).density(iters=43, n_v=1)
    nodes, w = np.array(res["nodes"][0]), np.array(res["weights"][0])
    assert w.sum() == pytest.approx(1.0, abs=1e-6)
    # a full Lanczos run finds the extreme eigenvalues
    assert nodes.max() == pytest.approx(ev.max().item(), rel=1e-4) and nodes.min() == pytest.approx(ev.min().item(), abs=1e-4)
    # quadrature moments equal v^T H^k v for the unit start vector; their average over start vectors is tr(H^k)/n
    if backend == "mpqlab":
        many = Hessian(m, data).density(iters=4, n_v=150, seed=3)  # Gauss quadrature: exact to degree 7
        for k in (1, 2):
            q = np.mean([np.sum(np.array(wt) * np.array(nd) ** k) for nd, wt in zip(many["nodes"], many["weights"])])
            exact = (ev ** k).mean().item()
            assert q == pytest.approx(exact, rel=0.1)  # 10% with 150 Rademacher start vectors
    grid, dens = gaussian_density(res["nodes"], res["weights"])
    assert np.trapezoid(dens, grid) == pytest.approx(1.0, rel=0.02)


def test_mode_grads_and_bn_statistics_are_restored():
    torch.manual_seed(0)
    m = TinyNet()
    m.train()
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    F.cross_entropy(m(x), y).backward()
    grads = [p.grad.clone() for p in m.parameters()]
    stats = m.bn1.running_mean.clone()
    for backend in ("mpqlab", "pyhessian"):
        h = Hessian(m, (x, y), backend=backend)
        h.eigenvalues(max_iter=5)
        h.trace(n_probes=3)
        h.density(iters=5)
        assert m.training and m.bn1.training
        assert torch.equal(m.bn1.running_mean, stats)
        assert all(torch.equal(p.grad, g) and p.grad.grad_fn is None for p, g in zip(m.parameters(), grads))


def test_quantized_model_hessian_through_the_fake_quantizers():
    from mpqlab.quant import calibrate, quantize_model

    torch.manual_seed(0)
    m = TinyNet().eval()
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    quantize_model(m, {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)})
    calibrate(m, [x])
    assert not any("_quant" in n for n in Hessian(m, (x, y)).names)  # weights only by default
    chosen = ["conv2.weight", "conv3.weight"]
    h = Hessian(m, (x, y), params=chosen)
    H = exact_hessian(m, (x, y), params=chosen)
    exact = torch.trace(H).item()
    assert h.trace(n_probes=3 * H.shape[0], method="hutch++")["trace"] == pytest.approx(exact, rel=1e-3)
