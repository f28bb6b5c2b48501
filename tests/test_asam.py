"""A rule sees the parameter it perturbs: ASAM is one small file (a scale and a perturbation), no override of the
step protocol and no private state; its ascent has radius rho in the scaled geometry, and it searches."""
import torch
from torch import nn

import mpqlab
from mpqlab.optim import ASGA, TwoPassOptimizer
from mpqlab.optim.rules import RULES


def test_asam_is_registered_and_its_ascent_has_radius_rho_in_the_scaled_geometry():
    assert "asam" in mpqlab.list_rules() and "edmips+asam" in mpqlab.list_methods()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    opt = RULES["asam"].optimizer(model.parameters(), torch.optim.SGD, rho=0.05, lr=0.1, model=model)
    before = [p.detach().clone() for p in model.parameters()]
    nn.functional.cross_entropy(model(torch.randn(8, 6)), torch.randint(0, 3, (8,))).backward()
    opt.first_step(zero_grad=True)
    scaled = sum(((p.detach() - w) / (w.abs() + 0.01)).pow(2).sum() for p, w in zip(model.parameters(), before))
    assert abs(scaled.sqrt().item() - 0.05) < 1e-5  # ||T^-1 e|| = rho
    big = max(range(len(before)), key=lambda i: before[i].abs().max())
    e = [p.detach() - w for p, w in zip(model.parameters(), before)]
    assert e[big].abs().max() > 0  # moved, scaled by |w|


def test_a_rule_without_the_parameter_in_its_signature_still_works():
    class Plain(TwoPassOptimizer):
        """SAM written the old way: perturbation(g, gnorm, rho)."""

        def perturbation(self, g, gnorm, rho):
            return g * (rho / (gnorm + 1e-12))

        def direction(self, g, gp, ctx):
            return gp

    model = nn.Linear(4, 2)
    opt = Plain(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, model=model)
    w0 = [p.detach().clone() for p in model.parameters()]
    nn.functional.cross_entropy(model(torch.randn(5, 4)), torch.randint(0, 2, (5,))).backward()
    opt.first_step(zero_grad=True)
    norm = sum((p.detach() - w).pow(2).sum() for p, w in zip(model.parameters(), w0)).sqrt()
    assert abs(norm.item() - 0.1) < 1e-5 and ASGA.ascent_scale(None, None) is None
