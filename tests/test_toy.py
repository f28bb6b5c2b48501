"""The closed-form quadratic (mpqlab.analysis.toy) against the library's estimators: the worked examples'
ground truth, and one more check of the estimators on a case whose answer is known exactly."""
import math

import pytest
import torch

from mpqlab.analysis.conflict import perturbation_conflict
from mpqlab.analysis.hessian import Hessian
from mpqlab.analysis.sharpness import surrogate_gap
from mpqlab.analysis.toy import Quadratic, quadratic_loss, rotated_hessian


@pytest.fixture
def quad():
    return Quadratic(rotated_hessian([3.0, 0.5], angle=math.pi / 6), theta=[1.0, -2.0], center=[0.2, 0.1])


def test_closed_forms(quad):
    assert quad.trace() == pytest.approx(3.5)
    assert quad.eigenvalues() == pytest.approx([3.0, 0.5])
    g = quad.gradient()
    d = quad.theta.detach() - quad.center
    assert quad.loss() == pytest.approx(float(0.5 * d @ quad.H @ d))
    rho = 0.3  # h by brute force: the loss at the perturbed point
    e = rho * g / g.norm()
    assert quad.surrogate_gap(rho) == pytest.approx(float(0.5 * (d + e) @ quad.H @ (d + e) - 0.5 * d @ quad.H @ d))


def test_estimators_recover_the_closed_forms(quad):
    data = quad.batch()
    hess = Hessian(quad, data, loss_fn=quadratic_loss)
    assert hess.eigenvalues(top_k=2)["eigenvalues"] == pytest.approx([3.0, 0.5], rel=1e-6)
    est = hess.trace(n_probes=400, method="hutchinson", seed=0)
    assert est["trace"] == pytest.approx(3.5, abs=5 * est["std_error"])  # unbiased: within 5 standard errors
    assert surrogate_gap(quad, [data], rho=0.3, loss_fn=quadratic_loss)["surrogate_gap"] == pytest.approx(
        quad.surrogate_gap(0.3), rel=1e-9)
    assert perturbation_conflict(quad, *data, rho=0.3, loss_fn=quadratic_loss)["global"] == pytest.approx(
        quad.cos_g_gp(0.3), rel=1e-9)


def test_refuses_a_non_symmetric_hessian():
    with pytest.raises(ValueError, match="symmetric"):
        Quadratic(torch.tensor([[1.0, 2.0], [0.0, 1.0]]), theta=[0.0, 0.0])
