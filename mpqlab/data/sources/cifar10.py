"""CIFAR-10: the JPEG tree under the data root, or torchvision's download (``download=True``)."""
from __future__ import annotations

import torch

from ...core.errors import MpqlabError
from ..tensors import TensorData
from . import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, _cached_tree, _missing, data_root, register_dataset


@register_dataset("cifar10")
def cifar10(split="train", root=None, download=False, **_):
    """CIFAR-10: torchvision's pickled batches (``<root>/cifar-10-batches-py``, ``download=True`` fetches them)
    or the JPEG class-per-folder export ``<root>/cifar10-jpeg/{train,test}``."""
    r = data_root(root)
    pickled, jpeg = r / "cifar-10-batches-py", r / "cifar10-jpeg" / split
    if pickled.is_dir() or download:
        from torchvision.datasets import CIFAR10  # deferred: slow import, this path only

        ds = CIFAR10(str(r), train=split == "train", download=download)
        images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
        labels, source = torch.tensor(ds.targets, dtype=torch.long), str(pickled)
    elif jpeg.is_dir():
        images, labels, classes = _cached_tree(jpeg)
        if classes != CIFAR10_CLASSES:
            raise MpqlabError(f"{jpeg} has class folders {classes}, expected CIFAR-10's {CIFAR10_CLASSES}")
        source = str(jpeg)
    else:
        raise _missing("cifar10", [pickled, jpeg], "Pass download=True (internet) or set MPQLAB_DATA.")
    return TensorData("cifar10", split, images, labels, list(CIFAR10_CLASSES), CIFAR10_MEAN, CIFAR10_STD,
                      {"source": source})
