"""Flowers102 and Food101, the paper's other proxies, through torchvision's dataset classes: their real download
code and checksums (``download=True``), decoded once into an in-memory :class:`~mpqlab.data.TensorData` at
``image_size`` (resize of the short side, centre crop), so that every sampler, subset and search works on them as on
CIFAR-10. **[choice]** Flowers102's "train" is its train and val splits together (1,020 + 1,020 images; 6,149 test):
the proxy the paper searches on is the small labelled set, and 10 images per class would starve a search.
"""
from __future__ import annotations

import torch

from ...core.errors import MpqlabError
from ..tensors import TensorData
from . import IMAGENET_MEAN, IMAGENET_STD, _missing, data_root, register_dataset


def _decode(sets, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Every image of ``sets`` (torchvision datasets of PIL images) as uint8 [N, 3, s, s], with the labels."""
    from torchvision.transforms import functional as TF  # deferred: slow import, this path only

    images, labels = [], []
    for ds in sets:
        for i in range(len(ds)):
            img, label = ds[i]
            img = TF.center_crop(TF.resize(img.convert("RGB"), image_size), image_size)
            images.append(TF.pil_to_tensor(img))
            labels.append(int(label))
    if not images:
        raise MpqlabError("the dataset holds no images")
    return torch.stack(images), torch.tensor(labels, dtype=torch.long)


@register_dataset("flowers102")
def flowers102(split="train", root=None, download=False, image_size: int = 32, **_):
    """Oxford Flowers102 (102 classes) from ``<root>/flowers-102`` (torchvision's layout: ``jpg/``,
    ``imagelabels.mat``, ``setid.mat``, checked against their checksums), ``download=True`` fetches it."""
    from torchvision.datasets import Flowers102  # deferred: slow import, this path only

    r = data_root(root)
    try:
        sets = ([Flowers102(str(r), split=s, download=download) for s in ("train", "val")] if split == "train"
                else [Flowers102(str(r), split="test", download=download)])
    except RuntimeError:
        raise _missing("flowers102", [r / "flowers-102"], "Pass download=True (internet) or set MPQLAB_DATA.") from None
    images, labels = _decode(sets, image_size)
    return TensorData("flowers102", split, images, labels, [str(c) for c in range(102)], IMAGENET_MEAN,
                      IMAGENET_STD, {"source": str(r / "flowers-102"), "image_size": image_size})


@register_dataset("food101")
def food101(split="train", root=None, download=False, image_size: int = 32, **_):
    """Food-101 (101 classes) from ``<root>/food-101`` (torchvision's layout: ``images/<class>/``,
    ``meta/{train,test}.json``), ``download=True`` fetches it (its archive checked against its checksum)."""
    from torchvision.datasets import Food101  # deferred: slow import, this path only

    r = data_root(root)
    try:
        ds = Food101(str(r), split=split, download=download)
    except RuntimeError:
        raise _missing("food101", [r / "food-101"], "Pass download=True (internet) or set MPQLAB_DATA.") from None
    images, labels = _decode([ds], image_size)
    return TensorData("food101", split, images, labels, list(ds.classes), IMAGENET_MEAN, IMAGENET_STD,
                      {"source": str(r / "food-101"), "image_size": image_size})
