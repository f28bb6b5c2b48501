"""Both Hessian backends against the exact Hessian of tiny models. Tolerances are stated next to each check."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from conftest import TinyNet
from mpqlab.analysis.density import gaussian_density
from mpqlab.analysis.exact import exact_hessian
from mpqlab.analysis.hessian import Hessian
from mpqlab.core.errors import MpqlabError


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


@pytest.mark.parametrize("backend,method", [("mpqlab", "lanczos"), ("mpqlab", "power"), ("pyhessian", None)])
def test_top_eigenvalues(problem, backend, method):
    m, data, H, ev = problem
    kw = {"method": method} if method else {}
    res = Hessian(m, data, backend=backend).eigenvalues(top_k=2, max_iter=500, tol=1e-8, **kw)
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


def test_lanczos_stops_at_the_residual_bound(problem):
    m, data, H, ev = problem
    top = ev[ev.abs().argsort(descending=True)][:3]
    for tol in (1e-2, 1e-4):
        res = Hessian(m, data, chunk_size=8).eigenvalues(top_k=3, max_iter=43, tol=tol)
        # ||H u - theta u|| <= tol |theta| bounds each eigenvalue's relative error by tol
        assert np.all(np.abs(np.array(res["eigenvalues"]) - top.numpy()) <= tol * top.abs().numpy())
        assert np.all(np.array(res["residuals"]) <= tol * np.abs(res["eigenvalues"]))
        for lam, u in zip(res["eigenvalues"], res["eigenvectors"]):
            u = torch.cat([t.flatten() for t in u]).double()
            assert torch.linalg.norm(H @ u - lam * u) <= tol * abs(lam) * 1.01
    assert res["iterations"][0] < 43 and res["hvps"] == res["iterations"][0]  # stopped early, passes counted


def _chunk_hessians(m, data, size):
    x, y = data
    out = []
    for i in range(0, len(y), size):
        out.append((len(y[i:i + size]) / len(y), exact_hessian(m, (x[i:i + size], y[i:i + size]))))
    return out


def test_chunked_products_equal_the_exact_hessian(problem):
    m, data, H, _ = problem
    g = torch.Generator().manual_seed(4)
    h = Hessian(m, data, chunk_size=5)  # 32 samples: six chunks of 5 and one of 2, weighted by size
    assert len(h.chunks) == 7 and h.weights[-1] == pytest.approx(2 / 32)
    assert sum(w * Hb for w, Hb in _chunk_hessians(m, data, 5)).allclose(H, atol=1e-12)
    for _ in range(3):
        v = [torch.randn(p.shape, generator=g, dtype=p.dtype) for p in h.params]
        flat = torch.cat([t.flatten() for t in v])
        assert torch.allclose(torch.cat([t.flatten() for t in h.hvp(v)]), H @ flat, atol=1e-10)
    assert h.n_hvp == pytest.approx(3.0) and len(h._graphs) == 7  # one pass per product; graphs kept


@pytest.mark.parametrize("exact", [None, pytest.param("auto", marks=pytest.mark.slow)])  # 3,000 probes each
def test_decoupled_hutchinson_is_unbiased_with_the_predicted_variance(problem, exact):
    m, data, H, _ = problem
    exact_trace = torch.trace(H).item()
    R = slice(0, 43) if exact is None else slice(0, 25)  # "auto" takes l2 (the last module, 18 entries) exactly

    def hutchinson_var(A):  # Var(v^T A v) for a Rademacher v: 2 (||A||_F^2 - sum_i A_ii^2)
        A = A[R, R]
        return 2 * ((A ** 2).sum() - (torch.diagonal(A) ** 2).sum()).item()

    chunks = _chunk_hessians(m, data, 8)
    predicted = {True: sum(w ** 2 * hutchinson_var(Hb) for w, Hb in chunks), False: hutchinson_var(H)}
    h = Hessian(m, data, chunk_size=8)
    for decouple in (True, False):
        r = h.trace(n_probes=3000, method="hutchinson", seed=5, decouple=decouple, exact=exact)
        assert abs(r["trace"] - exact_trace) < 4 * r["std_error"]  # within 4 standard errors
        # the sample variance of 3,000 samples is within 15% of the exact variance
        assert np.var(r["samples"], ddof=1) == pytest.approx(predicted[decouple], rel=0.15)
        assert r["hvps"] == pytest.approx(3000) and r["decoupled"] is decouple
        assert r["exact_params"] == ([] if exact is None else ["l2.weight", "l2.bias"])
        assert r["exact_part"] == pytest.approx(torch.diagonal(H)[25:].sum().item() if exact else 0.0, rel=1e-10)


def test_exact_diagonal_blocks(problem):
    m, data, H, _ = problem
    d = torch.diagonal(H)
    h = Hessian(m, data, chunk_size=5)
    got = h.exact_diagonal(["l2.weight", "l2.bias", "l1.bias"])
    assert got["l2.weight"] == pytest.approx(d[25:40].sum().item(), rel=1e-10)
    assert got["l2.bias"] == pytest.approx(d[40:43].sum().item(), rel=1e-10)
    assert got["l1.bias"] == pytest.approx(d[20:25].sum().item(), rel=1e-10)
    with pytest.raises(MpqlabError, match="no parameters named l3.weight"):
        h.exact_diagonal(["l3.weight"])
    layers = h.layer_traces(n_probes=3, exact="auto")  # the last module, l2, exact even with 3 probes
    assert layers["l2"] == pytest.approx(d[25:43].sum().item(), rel=1e-10)


def test_decoupled_hutch_plus_plus(problem):
    m, data, H, _ = problem
    exact = torch.trace(H).item()
    h = Hessian(m, data, chunk_size=8)
    assert h.trace(n_probes=129, method="hutch++")["trace"] == pytest.approx(exact, rel=1e-8)  # spans the space
    r = h.trace(n_probes=900, method="hutch++", seed=6)  # a 300-dim Q: again the whole space
    assert r["trace"] == pytest.approx(exact, rel=1e-8)
    r = h.trace(n_probes=30, method="hutch++", seed=6)  # Q of rank 10, 10 decoupled residual samples
    assert abs(r["trace"] - exact) < 4 * r["std_error"] + 1e-9
    assert 0 < r["low_rank_part"] < exact


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
    for chunk in (None, 8):  # one chunk (shared probes) and four decoupled chunks
        est = Hessian(m, data, chunk_size=chunk).layer_traces(n_probes=2000, seed=2)
        for k in exact:  # 5% with 2,000 probes
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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            h.eigenvalues(max_iter=5)
            h.trace(n_probes=3)
            h.density(iters=5)
        # PyHessian's backward(create_graph=True) warns of a .grad reference cycle; restoring .grad breaks it
        assert not [w for w in caught if "create_graph=True" in str(w.message)], backend
        assert m.training and m.bn1.training
        assert torch.equal(m.bn1.running_mean, stats)
        assert all(torch.equal(p.grad, g) and p.grad.grad_fn is None for p, g in zip(m.parameters(), grads))


def test_pyhessian_backend_refuses_what_pyhessian_does_not_have():
    torch.manual_seed(0)
    m = TinyNet().eval()
    h = Hessian(m, (torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))), backend="pyhessian")
    with pytest.raises(MpqlabError, match="'lanczos' needs backend='mpqlab'"):
        h.eigenvalues(max_iter=5, method="lanczos")
    for kw in ({"method": "gauss-newton"}, {"method": "hutch++"}, {"exact": "auto"}):
        with pytest.raises(MpqlabError, match="needs backend='mpqlab'"):
            h.trace(n_probes=2, **kw)
    with pytest.raises(MpqlabError, match="layer_traces needs backend='mpqlab'"):
        h.layer_traces(n_probes=2)
    assert h.eigenvalues(max_iter=5, method="power")["eigenvalues"]  # its own method, named, is accepted


def test_batch_statistics_keep_the_data_whole():
    torch.manual_seed(0)
    m = TinyNet().train()
    x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 3, (8,))
    assert len(Hessian(m, (x, y)).chunks) == 1  # BatchNorm in train mode couples the samples: not split
    with pytest.raises(MpqlabError, match="chunk_size .* training mode"):
        Hessian(m, (x, y), chunk_size=4)
    with pytest.raises(MpqlabError, match="chunk_size must be a positive"):
        Hessian(m.eval(), (x, y), chunk_size=0)
    m.eval()
    assert len(Hessian(m, (x, y), chunk_size=4).chunks) == 2


def test_products_equal_pyhessians_on_a_quantized_model():
    """The same probe through PyHessian's product and mpqlab's (one graph, and chunks): the same vector, so the two
    backends' trace samples differ only by their random probes."""
    from pyhessian import hessian as PyHessian
    from pyhessian.utils import hessian_vector_product

    from mpqlab.quant.quantizers import calibrate, quantize_model

    torch.manual_seed(0)
    m = TinyNet().eval()
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    quantize_model(m, {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)})
    calibrate(m, [x])
    whole, chunked = Hessian(m, (x, y), chunk_size=16), Hessian(m, (x, y), chunk_size=4)
    chosen = {id(p) for p in whole.params}
    frozen = [p for p in m.parameters() if p.requires_grad and id(p) not in chosen]
    for p in frozen:
        p.requires_grad_(False)
    try:
        py = PyHessian(m, F.cross_entropy, data=(x, y), cuda=False)
        v = [torch.randn_like(p) for p in whole.params]
        theirs = torch.cat([t.flatten() for t in hessian_vector_product(py.gradsH, py.params, v)])
    finally:
        for p in frozen:
            p.requires_grad_(True)
        for p in m.parameters():
            p.grad = None
    assert [p.shape for p in py.params] == [p.shape for p in whole.params]
    assert torch.equal(torch.cat([t.flatten() for t in whole.hvp(v)]), theirs)  # bit for bit
    assert torch.allclose(torch.cat([t.flatten() for t in chunked.hvp(v)]), theirs, rtol=1e-4, atol=1e-6)


def test_quantized_model_hessian_through_the_fake_quantizers(quantized_tiny):
    m, x, y = quantized_tiny
    assert not any("_quant" in n for n in Hessian(m, (x, y)).names)  # weights only by default
    chosen = ["conv2.weight", "conv3.weight"]
    h = Hessian(m, (x, y), params=chosen, chunk_size=4)
    H = exact_hessian(m, (x, y), params=chosen)
    v = [torch.randn_like(p) for p in h.params]
    hv = torch.cat([t.flatten() for t in h.hvp(v)])
    assert torch.allclose(hv, H @ torch.cat([t.flatten() for t in v]), rtol=1e-4, atol=1e-5)  # float32
    exact = torch.trace(H).item()
    assert h.trace(n_probes=3 * H.shape[0], method="hutch++")["trace"] == pytest.approx(exact, rel=1e-3)


def _exact_ggn_trace(m, x, params):
    """tr(G) = mean_i sum_k p_ik ||grad_theta l_i(k)||^2, one back-propagation per sample and class."""
    total = 0.0
    for i in range(len(x)):
        out = m(x[i:i + 1])
        p = torch.softmax(out.detach().double(), 1)[0]
        for k in range(out.shape[1]):
            gr = torch.autograd.grad(F.cross_entropy(out, torch.tensor([k])), params, retain_graph=True)
            total += p[k].item() * sum(float((t.double() ** 2).sum()) for t in gr)
    return total / len(x)


@pytest.fixture
def quantized_tiny():
    from mpqlab.quant.quantizers import calibrate, quantize_model

    torch.manual_seed(0)
    m = TinyNet().eval()
    x, y = torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))
    quantize_model(m, {"conv1": (8, 8), "conv2": (4, 4), "conv3": (4, 4), "fc": (8, 8)})
    calibrate(m, [x])
    return m, x, y


def test_piecewise_linear_quantized_network_has_trace_of_h_equal_to_trace_of_ggn(quantized_tiny):
    m, x, y = quantized_tiny
    h = Hessian(m, (x, y))
    exact_h = torch.trace(exact_hessian(m, (x, y))).item()
    assert _exact_ggn_trace(m, x, h.params) == pytest.approx(exact_h, rel=1e-4)  # float32 model


def test_gauss_newton_trace_is_unbiased_through_fake_quantizers(quantized_tiny):
    m, x, y = quantized_tiny
    exact_h = torch.trace(exact_hessian(m, (x, y))).item()
    m.fc.weight.grad = torch.ones_like(m.fc.weight)
    r = Hessian(m, (x, y), chunk_size=4).trace(n_probes=600, method="gauss-newton", seed=3)
    assert torch.equal(m.fc.weight.grad, torch.ones_like(m.fc.weight)) and m.conv1.weight.grad is None
    assert r["hvps"] == 0 and r["backward_passes"] == 600 and r["decoupled"]
    assert abs(r["trace"] - exact_h) < 4 * r["std_error"]  # a 4-sigma band: fails by chance 6e-5 of the time
    assert r["std_error"] < 0.05 * exact_h  # the band is informative


def test_gauss_newton_trace_differs_from_trace_of_h_on_a_curved_network(problem):
    m, (x, y), H, _ = problem  # tanh: the network's own curvature enters H's diagonal blocks
    h = Hessian(m, (x, y))
    assert abs(_exact_ggn_trace(m, x, h.params) - torch.trace(H).item()) > 1e-3 * abs(torch.trace(H).item())


@pytest.mark.parametrize("what", ["loss", "batchnorm", "module", "quantizer"])
def test_gauss_newton_trace_refuses_what_breaks_it(what, quantized_tiny):
    torch.manual_seed(0)
    m = TinyNet().eval()
    kw = {}
    if what == "quantizer":
        m, kw["params"] = quantized_tiny[0], "all"
    elif what == "loss":
        kw["loss_fn"] = lambda out, y: F.cross_entropy(out, y, label_smoothing=0.1)
    elif what == "batchnorm":
        m.train()
    else:
        m.fc = nn.Sequential(nn.Tanh(), m.fc)
    x, y = torch.randn(4, 3, 8, 8), torch.randint(0, 3, (4,))
    with pytest.raises(MpqlabError, match={"loss": "cross_entropy", "batchnorm": "batch statistics",
                                           "module": "Tanh", "quantizer": "quantizer parameters"}[what]):
        Hessian(m, (x, y), **kw).trace(n_probes=2, method="gauss-newton")


def test_gauss_newton_layer_traces_match_the_exact_diagonal_blocks(quantized_tiny):
    m, x, y = quantized_tiny
    h = Hessian(m, (x, y), chunk_size=4)
    H = exact_hessian(m, (x, y))
    exact, off = {}, 0
    for name, p in zip(h.names, h.params):
        k = p.numel()
        layer = name.rsplit(".", 1)[0]
        exact[layer] = exact.get(layer, 0.0) + torch.trace(H[off:off + k, off:off + k]).item()
        off += k
    est = h.layer_traces(n_probes=800, seed=2, method="gauss-newton")
    assert set(est) == set(exact)
    for layer, v in exact.items():  # blocks spanning three orders of magnitude, each within 5 % (800 samples
        assert est[layer] == pytest.approx(v, rel=0.05), layer  # put them within about 1 %)
    assert sum(est.values()) == pytest.approx(h.trace(n_probes=800, seed=2, method="gauss-newton")["trace"])


def test_auto_trace_takes_gauss_newton_where_the_graph_allows_it(quantized_tiny, problem):
    m, x, y = quantized_tiny
    h = Hessian(m, (x, y), chunk_size=4)
    auto, gn = h.trace(n_probes=6, seed=5), h.trace(n_probes=6, seed=5, method="gauss-newton")
    assert auto["method"] == "gauss-newton" and auto["samples"] == gn["samples"] and "piecewise" in auto["why"]
    assert h.layer_traces(n_probes=4, seed=1) == h.layer_traces(n_probes=4, seed=1, method="gauss-newton")
    textbook = h.trace(n_probes=2, decouple=False)
    assert textbook["method"] == "hutchinson" and "decouple=False" in textbook["why"]
    assert h.trace(n_probes=2, exact="auto")["method"] == "hutchinson"
    curved, data, _, _ = problem  # torch.tanh called in forward, no module to see: the graph shows it
    r = Hessian(curved, data).trace(n_probes=2)
    assert r["method"] == "hutchinson" and "Tanh" in r["why"]
    with pytest.raises(MpqlabError, match="curved in single parameter tensors at Tanh"):
        Hessian(curved, data).trace(n_probes=2, method="gauss-newton")
    with pytest.raises(MpqlabError, match="unknown trace method 'hutch'"):
        h.trace(n_probes=2, method="hutch")
