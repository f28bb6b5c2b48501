"""``synthetic`` and ``synthetic-tiny``: seeded random images with a learnable class signal (tests, smoke runs)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..tensors import TensorData
from . import register_dataset
from ...core.seeding import generator


@register_dataset("synthetic")
def synthetic(split="train", root=None, n: int = 512, num_classes: int = 10, image_size: int = 32,
              channels: int = 3, seed: int = 0, noise: float = 25.0, **_):
    """Learnable synthetic images for fast tests: each class is a fixed random smooth pattern plus noise.
    The class patterns depend only on ``seed``; train and test draw different noise."""
    g = generator(seed)
    protos = F.interpolate(torch.rand(num_classes, channels, 4, 4, generator=g) * 128, size=image_size,
                           mode="bilinear", align_corners=False) + torch.rand(num_classes, channels, 1, 1, generator=g) * 127
    g2 = generator(seed, "synthetic", 0 if split == "train" else 1)
    labels = torch.arange(n) % num_classes
    labels = labels[torch.randperm(n, generator=g2)]
    x = protos[labels] + noise * torch.randn(n, channels, image_size, image_size, generator=g2)
    images = x.clamp(0, 255).round().to(torch.uint8)
    return TensorData("synthetic", split, images, labels, [f"class{i}" for i in range(num_classes)],
                      (0.5,) * channels, (0.25,) * channels, {"seed": seed})


@register_dataset("synthetic-tiny")
def synthetic_tiny(split="train", root=None, **kw):
    """``synthetic`` at 16x16, 256 images a split: smoke runs of whole pipelines (grids, executors) in seconds."""
    kw = {"n": 256, "image_size": 16, **kw}
    data = synthetic(split, root, **kw)
    data.name = "synthetic-tiny"
    return data
