"""The directions a landscape is sliced along (mpqlab.analysis.directions), each checked against its definition on
a small network: the eigenvector against a Hessian-vector product, a rule's ascent against its formula, the
gradient gap against two gradients, the trajectory plane against a path that lies in a known plane, the width
against a parabola whose k-fold crossing is known; and the landscape study's verdict machinery on made-up widths
(a contrast that is wider on every seed is called flatter, one with no difference is not)."""
import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from mpqlab.analysis import directions as D
from mpqlab.analysis.hessian import Hessian
from mpqlab.analysis.params import select_params
from mpqlab.core.errors import MpqlabError


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()


def _data(seed=0, n=24):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


def _grad(net, data):
    x, y = data
    ps = [p for _, p in select_params(net, "weights")]
    return torch.autograd.grad(F.cross_entropy(net(x), y), ps)


def test_every_direction_has_the_weights_norm_and_leaves_the_model_as_it_was():
    net, data = _net(), _data()
    before = [p.detach().clone() for p in net.parameters()]
    wn = D.weight_norm(net)
    for kind in D.KINDS:
        d = D.make(kind, net, data, seed=1, target_data=_data(1))
        assert D.norm(d) == pytest.approx(wn, rel=1e-4), kind
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())
    with pytest.raises(MpqlabError, match="unknown direction kind 'sideways'"):
        D.make("sideways", net, data)
    with pytest.raises(MpqlabError, match="needs target_data"):
        D.make("gradient_gap", net, data)


def test_the_eigen_direction_is_an_eigenvector_of_the_hessian():
    net, data = _net(), _data()
    d = D.eigen(net, data, max_iter=60)[0]
    lam = float(d["__eigenvalue__"])
    v = [t / D.norm({k: t for k, t in d.items() if not k.startswith("__")}) for k, t in d.items()
         if not k.startswith("__")]
    hv = Hessian(net, data).hvp(v)
    residual = math.sqrt(sum(float(((a - lam * b) ** 2).sum()) for a, b in zip(hv, v)))
    assert lam > 0 and residual < 0.05 * lam


def test_sam_ascent_is_rho_along_the_gradient_and_asgas_is_the_same_line():
    net, data = _net(), _data()
    g = _grad(net, data)
    gnorm = math.sqrt(sum(float((t ** 2).sum()) for t in g))
    e = D.rule_ascent(net, data, "sam", rho=0.05)
    assert D.norm(e) == pytest.approx(0.05, rel=1e-4)
    assert list(e) == [n for n, _ in select_params(net, "weights")]
    for t, gi in zip(e.values(), g):
        assert torch.allclose(t, 0.05 * gi / gnorm, atol=1e-6)
    assert D.cosine(e, D.rule_ascent(net, data, "asga", rho=0.05)) == pytest.approx(1.0, abs=1e-6)
    # ASAM scales the ascent by |w|: another direction
    assert D.cosine(e, D.rule_ascent(net, data, "asam", rho=0.05)) < 0.999
    with pytest.raises(MpqlabError, match="not a sharpness-aware rule"):
        D.rule_ascent(net, data, "none")


def test_the_gradient_gap_is_the_difference_of_the_two_gradients():
    net, p, t = _net(), _data(0), _data(1)
    gp, gt = _grad(net, p), _grad(net, t)
    d = D.gradient_gap(net, p, t)
    diff = {k: a - b for k, a, b in zip(d, gt, gp)}
    assert D.cosine(d, diff) == pytest.approx(1.0, abs=1e-5)
    cos = float(sum((a * b).sum() for a, b in zip(gt, gp)) / (D.norm({str(i): t for i, t in enumerate(gt)})
                                                            * D.norm({str(i): t for i, t in enumerate(gp)})))
    assert float(d["__cos__"]) == pytest.approx(cos, abs=1e-5)


def test_the_trajectory_plane_recovers_a_path_that_lies_in_a_plane():
    rng = np.random.default_rng(0)
    u, v = rng.normal(size=50), rng.normal(size=50)
    u /= np.linalg.norm(u)
    v -= (v @ u) * u
    v /= np.linalg.norm(v)
    final = rng.normal(size=50)
    coords = [(3 * math.cos(t), math.sin(t)) for t in np.linspace(0, 3, 12)] + [(0.0, 0.0)]
    states = [{"w": torch.tensor(final + a * u + b * v).view(5, 10)} for a, b in coords]
    plane = D.trajectory_plane(states)
    assert plane["explained"].sum() == pytest.approx(1.0, abs=1e-9)
    basis = np.stack([plane["d1"]["w"].flatten().numpy(), plane["d2"]["w"].flatten().numpy()])
    for w in (u, v):  # u and v lie in the recovered plane
        assert np.linalg.norm(basis.T @ (basis @ w) - w) < 1e-8
    assert np.allclose(plane["path"][-1], 0.0)
    dists = np.linalg.norm(plane["path"], axis=1)  # the plane is orthonormal: distances to the end are kept
    assert np.allclose(dists, [math.hypot(a, b) for a, b in coords], atol=1e-8)
    with pytest.raises(MpqlabError, match="at least 3 saved states"):
        D.trajectory_plane(states[:2])


def test_width_is_where_the_loss_reaches_k_fold():
    ts = np.linspace(-2, 2, 41)
    loss = 1 + ts ** 2  # reaches 2x its centre value at |a| = 1
    assert D.width(ts, loss, k=2) == pytest.approx(1.0, abs=0.01)
    assert D.width(ts, 1 + 0.01 * ts ** 2, k=2) == math.inf  # never reaches it inside the slice
    assert D.width(ts, 1 + np.where(ts > 0, 4, 1) * ts ** 2, k=2) == pytest.approx(0.5, abs=0.01)  # the nearer side


def _fake_study(ratio_by_seed):
    """A study folder's loaded form with made-up widths: policy A's random band is ``ratio`` x B's at each seed."""
    from mpqlab.experiments.studies.policy_landscapes import DECLARED

    cfg = dict(DECLARED, seeds=list(range(len(ratio_by_seed))), random_seeds=[0], directions=["random", "eigen"],
               policies={"A": "", "B": ""}, contrasts=[["A", "B"]])
    ts = np.linspace(-1, 1, 11)
    models = {}
    for seed, r in enumerate(ratio_by_seed):
        for label, w in (("A", 0.5 * r), ("B", 0.5)):
            m = {"random0/ts": ts, "eigen/ts": ts * 0.01}
            for sample in ("train", "held-out"):
                m[f"random0/{sample}/width"] = np.array(w)
                m[f"eigen/{sample}/width"] = np.array(w * 0.001)
                for k in ("random0", "eigen"):
                    m[f"{k}/{sample}/loss"], m[f"{k}/{sample}/top1"] = 1 + ts ** 2, 50 - ts
            models[(seed, label)] = m
    return {"config": cfg, "models": models}


def test_the_study_calls_a_wider_policy_flatter_and_an_equal_one_undecided():
    from mpqlab.experiments.studies import landscape_report as P

    wider = _fake_study([1.5, 1.4, 1.6, 1.5, 1.45, 1.55, 1.5, 1.52])
    c = P.contrasts(wider)[0]
    assert c["verdict"] == "flatter" and c["wider"] == 8 and c["ci_low"] > 1
    assert P.gate(wider)["passed"]
    same = _fake_study([1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98, 1.0])
    assert P.contrasts(same)[0]["verdict"] == "no difference shown"
    lines = P.finding_lines(same)
    assert "passed" in lines[0] and "no difference shown" in lines[1]
    narrow = _fake_study([1 / 1.5, 1 / 1.4, 1 / 1.6, 1 / 1.5, 1 / 1.45, 1 / 1.55, 1 / 1.5, 1 / 1.52])
    assert P.contrasts(narrow)[0]["verdict"] == "sharper"


def test_proxy_and_target_ratios_agree_when_they_do_and_disagree_when_they_do_not():
    from mpqlab.experiments.studies import landscape_report as P

    ratios = [1.5, 1.4, 1.6, 1.5, 1.45, 1.55, 1.5, 1.52]
    proxy = _fake_study(ratios)
    target = _fake_study(ratios)
    target["config"] = dict(target["config"], side="target")
    assert "on the same side of 1 at the proxy and after the target fine-tune on 8 of 8 seeds" in \
        P.proxy_target_lines(proxy, target)[0]
    flipped = _fake_study([1 / r for r in ratios])
    assert "on 0 of 8 seeds" in P.proxy_target_lines(proxy, flipped)[0]
    assert P.finding_lines(target)[1].startswith("A's target landscape is wider than B's")


def test_contrasts_declared_as_their_own_tests_are_not_adjusted_for_each_other():
    """Two contrasts in one family: Holm and Bonferroni over both. Each declared as its own test (``families``
    [[0], [1]]): each keeps its own p and a 95 % interval, and a contrast with no seed sliced yet says so."""
    from mpqlab.experiments.studies import landscape_report as P
    from mpqlab.experiments.studies.policy_landscapes import only

    s = _fake_study([1.2, 1.3, 0.9, 1.25, 1.1, 1.3, 1.2, 1.15])
    s["config"] = dict(s["config"], policies={"A": "", "B": "", "C": ""}, contrasts=[["A", "B"], ["C", "B"]])
    one_family = P.contrasts(s)
    own = P.contrasts(dict(s, config=dict(s["config"], families=[[0], [1]])))
    assert one_family[0]["level"] == pytest.approx(0.975) and own[0]["level"] == pytest.approx(0.95)
    assert own[0]["p_holm"] == pytest.approx(own[0]["p"]) and one_family[0]["p_holm"] >= one_family[0]["p"]
    assert own[1]["pairs"] == 0
    lines = P.finding_lines(dict(s, config=dict(s["config"], families=[[0], [1]])))
    assert "C vs B: no seed has both models sliced yet." in lines
    assert any("each contrast declared as its own test" in line for line in lines)
    with pytest.raises(MpqlabError, match="families"):
        P.contrasts(dict(s, config=dict(s["config"], families=[[0]])))
    drawn = only(s, ["A"])
    assert list(drawn["config"]["policies"]) == ["A"] and {k[1] for k in drawn["models"]} == {"A"}
    with pytest.raises(MpqlabError, match="unknown policies"):
        only(s, ["Z"])
