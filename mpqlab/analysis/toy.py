"""A loss whose every quantity is known in closed form, for worked examples and for checking the estimators.

:class:`Quadratic` is a "model" whose loss is L(θ) = ½ (θ − c)ᵀ H (θ − c) for a fixed symmetric H: its Hessian is H
everywhere, so tr H, its eigenvalues, the SAM surrogate gap h(ρ) = L(θ + ρ ĝ) − L(θ) = ρ‖g‖ + ½ ρ² ĝᵀHĝ
(ĝ = g/‖g‖, g = H(θ − c)) and the angle between g and the perturbed gradient g_p = g + ρHĝ are exact. Its
forward returns the loss once per sample, so the library's analyses run on it unchanged with
``loss_fn=quadratic_loss``: ``Hessian(q, q.batch(), loss_fn=quadratic_loss).trace()`` estimates what
:meth:`Quadratic.trace` knows.
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn


def rotated_hessian(eigenvalues, angle: float) -> torch.Tensor:
    """The 2 x 2 symmetric matrix with ``eigenvalues`` whose eigenvectors are the axes rotated by ``angle`` radians."""
    c, s = math.cos(angle), math.sin(angle)
    r = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    return r @ torch.diag(torch.tensor(eigenvalues, dtype=torch.float64)) @ r.T


def quadratic_loss(out: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
    """The loss of a :class:`Quadratic`'s output: its mean (every entry is L(θ))."""
    return out.mean()


class Quadratic(nn.Module):
    """L(θ) = ½ (θ − c)ᵀ H (θ − c), θ a trainable parameter named ``theta`` (float64)."""

    def __init__(self, hessian, theta, center=None):
        super().__init__()
        h = torch.as_tensor(hessian, dtype=torch.float64)
        if h.ndim != 2 or h.shape[0] != h.shape[1] or not torch.allclose(h, h.T):
            raise ValueError(f"hessian must be a symmetric square matrix, got shape {tuple(h.shape)}")
        self.register_buffer("H", h)
        self.theta = nn.Parameter(torch.as_tensor(theta, dtype=torch.float64).clone())
        c = torch.zeros_like(self.theta) if center is None else torch.as_tensor(center, dtype=torch.float64)
        self.register_buffer("center", c.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.theta - self.center
        return (0.5 * d @ self.H @ d).expand(len(x))

    def batch(self, n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch for the analyses' ``data`` argument (its values are ignored)."""
        return torch.zeros(n, 1, dtype=torch.float64), torch.zeros(n, dtype=torch.long)

    # ------------------------------------------------------------------ the closed forms
    def loss(self) -> float:
        return float(self.forward(torch.zeros(1))[0].detach())

    def gradient(self) -> torch.Tensor:
        return (self.H @ (self.theta - self.center)).detach()

    def trace(self) -> float:
        return float(torch.trace(self.H))

    def eigenvalues(self) -> list[float]:
        """All eigenvalues, largest first."""
        return sorted(torch.linalg.eigvalsh(self.H).tolist(), reverse=True)

    def surrogate_gap(self, rho: float) -> float:
        """h(ρ) = L(θ + ρ ĝ) − L(θ) = ρ‖g‖ + ½ ρ² ĝᵀHĝ, exactly."""
        g = self.gradient()
        u = g / g.norm()
        return float(rho * g.norm() + 0.5 * rho ** 2 * u @ self.H @ u)

    def cos_g_gp(self, rho: float) -> float:
        """cos(g, g_p) with g_p = H(θ + ρĝ − c) = g + ρHĝ, exactly."""
        g = self.gradient()
        gp = g + rho * self.H @ (g / g.norm())
        return float(g @ gp / (g.norm() * gp.norm()))
