"""On a CUDA device (skipped without one; `scripts/gpu_check.sh` runs them): the sharpness-aware step syncs the
host at most once, the Hessian and a search run on the GPU and agree with the CPU."""
import warnings

import pytest
import torch
import torch.nn.functional as F

pytestmark = [pytest.mark.cuda, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("name", ["sam", "gsam", "asga"])
def test_one_sharpness_aware_step_syncs_the_host_at_most_once(name):
    from mpqlab.models import create_model
    from mpqlab.optim import OPTIMIZERS

    torch.manual_seed(0)
    net = create_model("resnet20").cuda()
    x, y = torch.randn(32, 3, 32, 32, device="cuda"), torch.randint(0, 10, (32,), device="cuda")
    opt = OPTIMIZERS[name](net.parameters(), torch.optim.SGD, lr=0.1, rho=0.05, model=net)
    losses = []

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        losses.append(loss.detach())
        return loss

    opt.step(closure)
    torch.cuda.synchronize()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            opt.step(closure)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    # the first use of the debug mode also warns that it is a prototype: that notice is no synchronisation
    syncs = [w for w in caught if "called a synchronizing" in str(w.message)]
    assert len(syncs) <= 1, [str(w.message) for w in syncs]


def test_hessian_vector_products_on_the_gpu_match_the_cpu():
    from mpqlab.core import vectors as V
    from mpqlab.analysis.hessian import Hessian
    from mpqlab.models import create_model

    torch.manual_seed(0)
    net = create_model("resnet20").eval()
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    cpu = Hessian(net, (x, y))
    v = V.rademacher(cpu.params, torch.Generator().manual_seed(1))
    hv_cpu = cpu.hvp(v)
    gpu = Hessian(net.cuda(), (x.cuda(), y.cuda()), device="cuda")
    hv_gpu = gpu.hvp([t.cuda() for t in v])
    num = sum(((a - b.cpu()) ** 2).sum() for a, b in zip(hv_cpu, hv_gpu)).sqrt()
    den = sum((a ** 2).sum() for a in hv_cpu).sqrt()
    assert num / den < 1e-3


def test_a_search_runs_on_the_gpu(tmp_path):
    from mpqlab.search import SearchConfig, run

    cfg = SearchConfig(data="synthetic-tiny", objective="edmips", sharpness="asga", budget=3.0, epochs=1,
                       max_batches=3, batch_size=32, device="cuda", w_candidates=[2, 3, 4], a_candidates=[2, 3, 4])
    policy = run(cfg, tmp_path / "policy.json", show_progress=False)
    assert 2.0 <= policy.totals()["average_bits"] <= 3.0 + 1e-6
