"""The two-pass (sharpness-aware) optimizer: :class:`TwoPassOptimizer`, a ``torch.optim.Optimizer`` that wraps a
base optimizer (shared ``param_groups``, as in davda54/sam) with explicit ``first_step`` / ``second_step``. A rule
(SAM, GSAM, ASGA: :mod:`mpqlab.optim.rules`) is a subclass that defines the perturbation and the update
direction; the radius schedule is a registered class of :mod:`mpqlab.optim.radius`.

One step, with g the gradient at theta (pass 1) and g_p the gradient at theta + e (pass 2)::

    loss0 = loss_fn(model(x), y); loss0.backward()
    opt.first_step(loss0, zero_grad=True)          # theta <- theta + e
    with frozen_bn_stats(model):                   # BatchNorm running statistics untouched in pass 2
        loss1 = loss_fn(model(x), y); loss1.backward()
    opt.second_step(loss1, zero_grad=True)         # theta restored, base step along d

or ``opt.step(closure)`` with a closure that zeroes the gradients, runs forward and backward and returns the
loss (pass ``model=`` to the constructor so pass 2 freezes BatchNorm statistics).

============  ================================  ================================================
optimizer     perturbation e                    update direction d
============  ================================  ================================================
SAM           rho * g / ||g||                   g_p
GSAM          rho * g / ||g||                   g_p - gamma * g_orth  (g_orth: part of g orthogonal to g_p)
ASGA          (rho / ||g|| - beta) * g          (g + g_p) / 2
============  ================================  ================================================

ASGA's perturbation and update are the SAGM form of implicit gradient alignment (Wang et al., CVPR 2023):
minimising L(theta) + L_p(theta - beta * grad L) **[choice: the paper gives no equation]**. ``rho`` means the
Euclidean radius of the perturbation in the space of the perturbed parameters (for ASGA ``||e|| = rho - beta ||g||``).

Radius schedules (``radius=``): ``"fixed"``; ``"lr"`` (GSAM's): rho proportional to the learning rate between
``rho_min`` and ``rho_max``; and two adaptive ones, both updated after every step from that step's surrogate gap
``h = L_p - L``:

- ``"adaptive"``, the paper's rule taken literally: ``rho <- min(rho_max, ln(1 + h))`` (optionally an
  exponential moving average of h, ``h_ema=0.9``), floored at ``rho_min``. With one ascent step
  ``h ~ rho ||g|| + rho^2 kappa / 2``, so ``rho_{t+1} ~ rho_t ||g||``: it climbs to ``rho_max`` whenever
  ``||g|| > 1`` and decays to the floor whenever ``||g|| < 1``. It answers the gradient's scale, not the
  landscape (in mpqlab's first grid 85-100 % of ASGA steps sat at a bound). The floor (0.01) keeps one step with
  ``h = 0`` from fixing rho at 0 for good.
- ``"relative"`` (ASGA's default), a reconstruction **[choice]**: the gap per unit radius ``u_t = h_t / rho_t``
  (how fast the loss rises towards the worst case in the ball: the slope plus ``rho kappa / 2``), relative to its
  running scale ``ubar`` (an exponential moving average, decay ``h_ema`` or 0.9), sets
  ``rho_{t+1} = rho_0 * ln(1 + (e - 1) * u_t / ubar_t)``, clipped to ``[rho_min, rho_max]``. Reasoning: the paper
  wants the radius to grow with the sharpness the gap measures and shrink where the landscape is flat, through
  the concave ``ln(1 + .)``. Dividing h by rho removes the feedback that makes the literal rule bang-bang (h is
  measured at the radius it sets), and dividing by the running scale removes the loss's and the gradient's
  units: rho sits at ``rho_0`` on a typical batch, rises on batches several times sharper than usual (3.7x
  reaches 0.1 from 0.05) and falls on flatter ones. Near ``rho_0`` the map is contracting when
  ``0.63 rho_0 |du/drho| / u < 1``, so rho moves around ``rho_0`` instead of running to a bound.
- ``"curvature"``: the part of the gap the gradient does not explain, ``kappa_t = 2 (h_t - e^T g) / ||e||^2``
  (exact on a quadratic: ``e^T H e / ||e||^2``), relative to its running scale (a moving average of
  ``max(kappa, 0)``), in the same formula. **Measured:** through fake quantizers the straight-through gradient
  overstates the first-order rise (rounding makes the loss locally flat), so kappa is noisy and often negative
  and in one exploratory 15-step ResNet-20 search (not a committed result) the radius sat at ``rho_min`` on about
  half the steps; kept as an option.

Defaults **[choice]**: ``rho_0 = 0.05``, ``rho_max = 0.1``, ``rho_min = 0.01``, ``beta = 0.001``.

Amortised two-pass steps (``ascent_every=k``, **[choice]**, LookSAM-style, Liu et al. CVPR 2022): the ascent pass
runs on every k-th step only. A full step stores the gradient change per unit radius, ``Delta = (g_p - g) / rho``
(about ``H e / rho``: the curvature the perturbation saw); in between, the loop calls :meth:`amortised_step`,
which estimates ``g_p ~ g + rho * Delta`` from the current gradient and applies the same update rule (ASGA:
``d = g + rho Delta / 2``), at the cost of one pass. Where the Hessian along the perturbation changes slowly
between steps the estimate is good; on a quadratic at a fixed point it is exact. ``k = 1`` is the full method.

Parameter groups with ``perturb=False`` (e.g. quantizer parameters) are not perturbed, but are updated with the
same direction rule. After every ``second_step`` ``opt.last`` holds L, L_p, h, rho, ||g||, ||g_p||,
cos(g, g_p) and cos(g, g_p) per parameter tensor (by name when the optimizer was given named parameters).
Under ``torch.distributed`` the gradients are the all-reduced ones (DistributedDataParallel), so norms and
perturbations use the global gradient; the two losses are averaged across ranks before h is formed.
"""
from __future__ import annotations

import contextlib
import inspect
import math

import torch
import torch.nn as nn

from ..core.batchnorm_state import frozen_bn_stats  # noqa: F401 (re-exported: mpqlab.optim.frozen_bn_stats)
from ..core.vectors import cosine_of
from .radius import RHO0, RHO_MAX, RHO_MIN, RadiusSchedule, create_radius


def directional_curvature(gap: float, e_dot_g: float, e_norm_sq: float) -> float | None:
    """``2 (gap - e^T g) / ||e||^2``: the curvature of the loss along the perturbation e, from the surrogate gap
    ``gap = L(theta + e) - L(theta)`` (exact for a quadratic loss); None when e = 0."""
    if not e_norm_sq > 0:
        return None
    return 2.0 * (gap - e_dot_g) / e_norm_sq


def _global_mean(x: float) -> float:
    import torch.distributed as dist  # deferred: distributed runs only

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        t = torch.tensor([x], dtype=torch.float64)
        dist.all_reduce(t)
        return (t / dist.get_world_size()).item()
    return x


class TwoPassOptimizer(torch.optim.Optimizer):
    """Shared machinery of the two-pass rules; a subclass defines ``perturbation`` and ``direction`` (and, when
    its update needs quantities over all parameters, ``direction_context``). ``radius`` names a registered
    schedule (:mod:`mpqlab.optim.radius`)."""

    def __init__(self, params, base_optimizer, rho: float = RHO0, radius: str = "fixed", rho_max: float = RHO_MAX,
                 rho_min: float = RHO_MIN, h_ema: float | None = None, model: nn.Module | None = None,
                 ascent_every: int = 1, **kwargs):
        if rho < 0:
            raise ValueError(f"rho must be non-negative, got {rho}")
        if int(ascent_every) < 1:
            raise ValueError(f"ascent_every must be at least 1, got {ascent_every}")
        self.ascent_every, self.steps_taken = int(ascent_every), 0
        self.schedule: RadiusSchedule = create_radius(radius, rho, rho_max, rho_min, h_ema)
        defaults = dict(rho=rho, perturb=True, **kwargs)
        super().__init__(params, defaults)
        self.base_optimizer = base_optimizer(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups
        self.defaults.update(self.base_optimizer.defaults)
        self.radius = radius
        self.model = model
        self.last: dict = {}
        self._loss0 = None

    # -- the two rules a subclass provides ----------------------------------------------------------------
    def perturbation(self, g: torch.Tensor, gnorm: float, rho: float, p: torch.Tensor | None = None) -> torch.Tensor:
        """The ascent step e for one parameter tensor ``p`` from its gradient g, the global norm and radius rho.
        ``gnorm`` is ``||T g||`` over every perturbed tensor, T the rule's :meth:`ascent_scale` (``||g||`` without one).
        A rule may leave ``p`` out of its signature (it is passed only to rules that take it)."""
        raise NotImplementedError

    def ascent_scale(self, p: torch.Tensor) -> torch.Tensor | None:
        """An elementwise scale T(p) of the ascent's geometry (ASAM: ``|p| + eta``); None: the Euclidean one. With
        a scale, the global norm handed to :meth:`perturbation` is ``||T g||``."""
        return None

    def direction(self, g: torch.Tensor, gp: torch.Tensor, ctx: dict) -> torch.Tensor:
        """The gradient handed to the base optimizer, from g (at w) and g_p (at w + e) of one tensor."""
        raise NotImplementedError

    def direction_context(self, grads, grads_p) -> dict:
        """Quantities over all parameters that :meth:`direction` needs (device tensors: no host sync)."""
        return {}

    # -- radius ------------------------------------------------------------------------------------------------
    @property
    def radius_state(self) -> dict:
        """The schedule's state (rho and its running scales)."""
        return self.schedule.state

    def current_rho(self) -> float:
        """The radius rho for the next ascent step, by the radius schedule."""
        return self.schedule.current(self.param_groups[0]["lr"])

    def _update_radius(self, h: float, kappa: float | None = None, rho_used: float | None = None) -> None:
        self.schedule.update(h, kappa, rho_used)

    # -- helpers -------------------------------------------------------------------------------------------------
    def _params(self, perturbed_only: bool = False):
        for group in self.param_groups:
            if perturbed_only and not group.get("perturb", True):
                continue
            names = group.get("param_names") or [None] * len(group["params"])
            for name, p in zip(names, group["params"]):
                if p.grad is not None:
                    yield name, p

    @staticmethod
    def _norm(tensors) -> torch.Tensor:
        """The global 2-norm of a list of tensors, as a 0-d float64 tensor on their device (no host sync)."""
        tensors = list(tensors)
        if not tensors:
            return torch.zeros((), dtype=torch.float64)
        return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(t.float()) for t in tensors])).double()

    @staticmethod
    def _scalar(x, like: torch.Tensor) -> torch.Tensor:
        """``x`` (a float, a tensor or None -> nan) as a 0-d float64 tensor on ``like``'s device."""
        if x is None:
            x = float("nan")
        return torch.as_tensor(x, dtype=torch.float64, device=like.device).detach().reshape(())

    # -- the steps ---------------------------------------------------------------------------------------------
    def needs_ascent(self) -> bool:
        """Whether this step takes both passes (every ``ascent_every``-th step, and whenever no Delta is stored)."""
        if self.ascent_every <= 1 or self.steps_taken % self.ascent_every == 0:
            return True
        return not any("delta" in self.state[p] for _, p in self._params())

    @torch.no_grad()
    def amortised_step(self, loss=None, zero_grad: bool = False) -> None:
        """One-pass step: ``g_p`` estimated as ``g + rho * Delta`` from the last full step, then the rule's update."""
        rho = self.current_rho()
        items = [(n, p) for n, p in self._params()]
        grads = [p.grad.detach().clone() for _, p in items]
        grads_p = [g + rho * self.state[p]["delta"] if "delta" in self.state[p] else g.clone()
                   for (_, p), g in zip(items, grads)]
        ctx = self.direction_context(grads, grads_p)
        for (_, p), g, gp in zip(items, grads, grads_p):
            p.grad.copy_(self.direction(g, gp, ctx))
        self.base_optimizer.step()
        self.steps_taken += 1
        self.last = {"rho": rho, "loss": None if loss is None else _global_mean(float(loss)), "loss_p": None,
                     "h": None, "grad_norm": None, "grad_p_norm": None, "cos": None, "cos_per_param": {},
                     "curvature": None, "amortised": True}
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def first_step(self, loss=None, zero_grad: bool = False) -> None:
        """Store g, move the perturbed parameters to theta + e."""
        self._loss0 = None if loss is None else (loss.detach() if torch.is_tensor(loss) else float(loss))
        pert = list(self._params(perturbed_only=True))
        scales = [self.ascent_scale(p) for _, p in pert]
        gnorm = self._norm(p.grad if t is None else t * p.grad  # a device tensor: no host sync in the first pass
                           for (_, p), t in zip(pert, scales))
        takes_param = "p" in inspect.signature(self.perturbation).parameters
        rho = self.current_rho()
        for _, p in self._params():
            self.state[p]["g"] = p.grad.detach().clone()
        e_dot_g = e_sq = torch.zeros((), dtype=torch.float64, device=gnorm.device)
        for _, p in pert:
            e = self.perturbation(p.grad, gnorm, rho, p) if takes_param else self.perturbation(p.grad, gnorm, rho)
            self.state[p]["e"] = e
            e_dot_g = e_dot_g + torch.dot(e.flatten().double(), p.grad.flatten().double())
            e_sq = e_sq + torch.dot(e.flatten().double(), e.flatten().double())
            p.add_(e)
        self.last = {"rho": rho, "_gnorm": gnorm, "_e_dot_g": e_dot_g, "_e_sq": e_sq}
        if zero_grad:
            self.zero_grad(set_to_none=True)

    @torch.no_grad()
    def second_step(self, loss=None, zero_grad: bool = False) -> None:
        """Restore theta, set the gradient to the rule's direction d and take the base optimizer's step."""
        items = [(n, p) for n, p in self._params() if "g" in self.state[p]]
        grads = [self.state[p]["g"] for _, p in items]
        grads_p = [p.grad.detach().clone() for _, p in items]
        for _, p in items:
            if "e" in self.state[p]:
                p.sub_(self.state[p].pop("e"))
        ctx = self.direction_context(grads, grads_p)
        rho_used = self.last.get("rho") or 0.0
        if self.ascent_every > 1 and rho_used > 0:  # the curvature the perturbation saw, per unit radius
            for (_, p), g, gp in zip(items, grads, grads_p):
                self.state[p]["delta"] = (gp - g) / rho_used
        self.steps_taken += 1
        # telemetry stays on the device until one transfer at the end: one host sync per optimizer step
        dots, norms_g, norms_gp = [], [], []
        for (name, p), g, gp in zip(items, grads, grads_p):
            p.grad.copy_(self.direction(g, gp, ctx))
            dots.append(torch.dot(g.flatten().float(), gp.flatten().float()).double())
            norms_g.append(torch.linalg.vector_norm(g.float()).double())
            norms_gp.append(torch.linalg.vector_norm(gp.float()).double())
            del self.state[p]["g"]
        self.base_optimizer.step()
        like = grads[0] if grads else torch.zeros(())
        head = [self.last.pop("_gnorm", None), self.last.pop("_e_dot_g", 0.0), self.last.pop("_e_sq", 0.0),
                self._loss0, loss, self._norm(grads), self._norm(grads_p)]
        vals = torch.stack([self._scalar(v, like) for v in head] + dots + norms_g + norms_gp).tolist()
        gnorm0, e_dot_g, e_sq, l0, l1, gn, gpn = vals[:7]
        n = len(items)
        d_list, ng_list, ngp_list = vals[7:7 + n], vals[7 + n:7 + 2 * n], vals[7 + 2 * n:]
        per_param = {}
        for (name, _), d, a, b in zip(items, d_list, ng_list, ngp_list):
            per_param[name or str(len(per_param))] = cosine_of(d, a, b)
        dot = sum(d_list)
        self.last["grad_norm"] = gnorm0
        l0 = None if self._loss0 is None else _global_mean(l0)
        l1 = None if loss is None else _global_mean(l1)
        h = None if (l0 is None or l1 is None) else max(l1 - l0, 0.0)
        kappa = None if h is None else directional_curvature(l1 - l0, e_dot_g, e_sq)
        # the radius the step used is the perturbation's norm ||e||: the schedule's rho unless the rule scales it
        self.last.update(loss=l0, loss_p=l1, h=h, grad_norm_all=gn, grad_p_norm=gpn,
                         cos=cosine_of(dot, gn, gpn), cos_per_param=per_param, curvature=kappa,
                         perturbation_norm=math.sqrt(e_sq), rho_schedule=self.last["rho"], rho=math.sqrt(e_sq),
                         amortised=False)
        if h is not None:
            self._update_radius(h, kappa, self.last["rho_schedule"])
        if zero_grad:
            self.zero_grad(set_to_none=True)

    def step(self, closure=None):
        """One step of the protocol: both passes (ascent, perturbed pass with BatchNorm statistics frozen, descent),
        or on an amortised step (``ascent_every`` > 1, :meth:`needs_ascent` false) one pass and
        :meth:`amortised_step`. ``closure`` zeroes the gradients, runs forward + backward and returns the loss; it
        is called once per pass taken."""
        if closure is None:
            raise RuntimeError(f"{type(self).__name__}.step needs a closure (or call first_step / second_step)")
        closure = torch.enable_grad()(closure)
        loss0 = closure()
        if not self.needs_ascent():
            self.amortised_step(loss0.detach(), zero_grad=True)
            return loss0
        self.first_step(loss0.detach(), zero_grad=True)
        with (frozen_bn_stats(self.model) if self.model is not None else contextlib.nullcontext()):
            loss1 = closure()
        self.second_step(loss1.detach(), zero_grad=True)
        return loss0

    def state_dict(self):
        out = {"base": self.base_optimizer.state_dict(), "radius_state": dict(self.radius_state),
               "steps_taken": self.steps_taken}
        if self.ascent_every > 1:  # the stored Delta, in parameter order, so an amortised run resumes exactly
            out["delta"] = [self.state[p].get("delta") for g in self.param_groups for p in g["params"]]
        return out

    def load_state_dict(self, state_dict):
        self.base_optimizer.load_state_dict(state_dict["base"])
        self.param_groups = self.base_optimizer.param_groups
        self.radius_state.update(state_dict["radius_state"])
        self.steps_taken = int(state_dict.get("steps_taken", 0))
        for p, d in zip([p for g in self.param_groups for p in g["params"]], state_dict.get("delta") or []):
            if d is not None:
                self.state[p]["delta"] = d
