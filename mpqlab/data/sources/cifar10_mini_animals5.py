"""``cifar10-mini-animals5``: five animal classes of the embedded ``cifar10-mini`` (bird, cat, deer, dog, frog),
relabelled 0-4: 2,500 training and 500 test images.

The natural-image proxy whose shift is the task only: the same camera, resolution, colour statistics and
normalisation as the CIFAR-10 target, but a checkpoint trained on five classes and a search that sees five classes,
while the target has ten (airplane, automobile, horse, ship and truck are never seen before the transfer). This is the shift
CIFAR-10 -> ImageNet makes (other classes, natural images of the same kind), where Fashion-MNIST changes the
image statistics, the classes and the checkpoint at once."""
from __future__ import annotations

from . import DATASETS, register_dataset

ANIMALS5 = ["bird", "cat", "deer", "dog", "frog"]


@register_dataset("cifar10-mini-animals5")
def cifar10_mini_animals5(split="train", root=None, **_):
    """cifar10-mini restricted to five animal classes (bird, cat, deer, dog, frog), labels 0-4."""
    return DATASETS["cifar10-mini"](split=split, root=root).with_classes(ANIMALS5, "cifar10-mini-animals5")
