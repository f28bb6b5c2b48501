"""Search objectives on top of cross-entropy.

- ``edmips``: cross-entropy (+ the cost term, see :mod:`.budget`).
- ``gmpq``: edmips + attribution-rank preservation: Grad-CAM maps (Selvaraju et al.) at the last stage of the
  quantized supernet and of the frozen full-precision model, each normalised to unit L2 norm per image; the
  loss adds ``gmpq_weight * mean_i ||cam_q(i) - cam_fp(i)||_2`` **[choice: weight 40, GMPQ's README example]**.
  The supernet's map is built with ``create_graph=True`` so the penalty trains both weights and bit logits.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def gradcam(model: nn.Module, feature_module: nn.Module, x: torch.Tensor, y: torch.Tensor,
            create_graph: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(logits, cam): Grad-CAM of the true class at ``feature_module``'s output, flattened, unit L2 norm."""
    store = {}

    def hook(m, i, o):
        if not o.requires_grad:  # a frozen model: track gradients from the feature map on
            o = o.detach().requires_grad_(True)
        store["f"] = o
        return o

    handle = feature_module.register_forward_hook(hook)
    try:
        logits = model(x)
    finally:
        handle.remove()
    feats = store["f"]
    score = logits.gather(1, y[:, None]).sum()
    grad = torch.autograd.grad(score, feats, create_graph=create_graph, retain_graph=True)[0]
    cam = F.relu((grad.mean((2, 3), keepdim=True) * feats).sum(1)).flatten(1)
    return logits, cam / (cam.norm(dim=1, keepdim=True) + 1e-8)


class Objective:
    """Callable ``objective(net, x, y) -> (loss, logits)`` for ``edmips`` or ``gmpq``."""

    def __init__(self, name: str, feature_name: str | None = None, fp_model: nn.Module | None = None,
                 gmpq_weight: float = 40.0):
        self.name, self.feature_name, self.fp_model, self.gmpq_weight = name, feature_name, fp_model, gmpq_weight
        if name == "gmpq":
            if fp_model is None or feature_name is None:
                raise ValueError("gmpq needs the full-precision model and the feature layer name")
            self.fp_model.eval()
            for p in self.fp_model.parameters():
                p.requires_grad_(False)
        self._target: torch.Tensor | None = None

    def begin_step(self, x, y) -> None:
        """Compute the full-precision model's attribution for this batch once (both passes of a step use it)."""
        if self.name == "gmpq":
            with torch.enable_grad():
                _, cam = gradcam(self.fp_model, self.fp_model.get_submodule(self.feature_name), x.detach(), y, False)
            self._target = cam.detach()

    def __call__(self, net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, dict]:
        if self.name == "edmips":
            logits = net(x)
            ce = F.cross_entropy(logits, y)
            return ce, {"ce": ce.item(), "logits": logits}
        if self._target is None or len(self._target) != len(y):
            self.begin_step(x, y)
        target = self._target
        inner = getattr(net, "net", net)  # a Supernet keeps the model in .net
        logits, cam = gradcam(net, inner.get_submodule(self.feature_name), x, y, True)
        ce = F.cross_entropy(logits, y)
        attr = (cam - target).norm(dim=1).mean()
        return ce + self.gmpq_weight * attr, {"ce": ce.item(), "attribution": attr.item(), "logits": logits}
