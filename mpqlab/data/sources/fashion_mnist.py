"""Fashion-MNIST: Debian's ``dataset-fashion-mnist`` package or IDX files under the data root, padded to 32x32 RGB."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...core.errors import MpqlabError
from ..tensors import TensorData
from . import DEBIAN_FASHION, FASHION_CLASSES, FASHION_MEAN, FASHION_STD, _missing, data_root, register_dataset


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    if (magic >> 8) != 0x08 or ndim < 1:
        raise MpqlabError(f"{path} is not an IDX file of unsigned bytes")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise MpqlabError(f"{path} is truncated: expected {int(np.prod(dims))} values, found {arr.size}")
    return arr.reshape(dims)


@register_dataset("fashion-mnist")
def fashion_mnist(split="train", root=None, **_):
    """Fashion-MNIST from the original IDX files, padded to 32x32 and repeated to 3 channels (CIFAR models
    take it unchanged). Looked for in ``<root>/fashion-mnist``, ``<root>/FashionMNIST/raw`` (torchvision's
    folder) and Debian's ``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``)."""
    r = data_root(root)
    prefix = "train" if split == "train" else "t10k"
    looked = [r / "fashion-mnist", r / "FashionMNIST" / "raw", DEBIAN_FASHION]
    for d in looked:
        for ext in (".gz", ""):
            xi, yi = d / f"{prefix}-images-idx3-ubyte{ext}", d / f"{prefix}-labels-idx1-ubyte{ext}"
            if xi.is_file() and yi.is_file():
                x = torch.from_numpy(_read_idx(xi).copy())
                y = torch.from_numpy(_read_idx(yi).astype(np.int64))
                x = F.pad(x, (2, 2, 2, 2))[:, None].expand(-1, 3, -1, -1).contiguous()
                return TensorData("fashion-mnist", split, x, y, list(FASHION_CLASSES), FASHION_MEAN, FASHION_STD,
                                  {"source": str(d)})
    raise _missing("fashion-mnist", looked, "Install the Debian package dataset-fashion-mnist or set MPQLAB_DATA.")
