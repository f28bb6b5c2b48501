"""GMPQ: EdMIPS + attribution-rank preservation through Grad-CAM maps (see the family's docstring)."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import Objective, register_objective


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


@register_objective("gmpq")
class GMPQ(Objective):
    """GMPQ (Wang et al. 2021): EdMIPS + Grad-CAM attribution-rank preservation"""

    def __init__(self, fp_model: nn.Module, feature_name: str, weight: float = 40.0):
        self.fp_model, self.feature_name, self.weight = fp_model, feature_name, weight
        self.fp_model.eval()
        for p in self.fp_model.parameters():
            p.requires_grad_(False)
        self._target: torch.Tensor | None = None

    @classmethod
    def from_config(cls, cfg, model, feature_name):
        """A frozen copy of the starting model gives the full-precision attribution maps."""
        if feature_name is None:
            raise ValueError("gmpq needs the feature layer name of the model")
        return cls(copy.deepcopy(model), feature_name, cfg.gmpq_weight)

    def begin_step(self, x, y) -> None:
        """Compute the full-precision model's attribution for this batch once (both passes of a step use it)."""
        with torch.enable_grad():
            _, cam = gradcam(self.fp_model, self.fp_model.get_submodule(self.feature_name), x.detach(), y, False)
        self._target = cam.detach()

    def __call__(self, net, x, y):
        if self._target is None or len(self._target) != len(y):
            self.begin_step(x, y)
        inner = getattr(net, "net", net)  # a Supernet keeps the model in .net
        logits, cam = gradcam(net, inner.get_submodule(self.feature_name), x, y, True)
        ce = F.cross_entropy(logits, y)
        attr = (cam - self._target).norm(dim=1).mean()
        return ce + self.weight * attr, {"ce": ce.item(), "attribution": attr.item(), "logits": logits}
