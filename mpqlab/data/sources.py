"""Where datasets come from, one registry: ``create_dataset(name, split)``, ``list_datasets()``; the data root
and the decoded-tensor cache; CIFAR-10 (JPEG tree or the torchvision download), Fashion-MNIST (Debian package or
IDX files), the embedded ``cifar10-mini``, ``synthetic`` and ``imagefolder`` (ImageNet layout)."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import MpqlabError
from .tensors import TensorData

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
FASHION_MEAN, FASHION_STD = (0.2860,) * 3, (0.3530,) * 3
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_DIR = Path(__file__).parent.parent / "embedded"
DEFAULT_ROOT = Path("~/.cache/mpqlab/data").expanduser()


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$MPQLAB_DATA``, else ``~/.cache/mpqlab/data``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("MPQLAB_DATA")
    return Path(env).expanduser() if env else DEFAULT_ROOT


def cache_dir() -> Path:
    """Where decoded tensors are cached: ``$MPQLAB_CACHE`` or ``~/.cache/mpqlab``."""
    return Path(os.environ.get("MPQLAB_CACHE", "~/.cache/mpqlab")).expanduser()


# ----------------------------------------------------------------------------------------------- registry

_REGISTRY: dict[str, Callable] = {}


def register_dataset(name: str):
    """Decorator: register a dataset builder ``fn(split, root, **kw)`` under ``name``."""
    def deco(fn):
        _REGISTRY[name] = fn
        return fn
    return deco


def list_datasets() -> list[str]:
    """The registered dataset names."""
    return sorted(_REGISTRY)


def create_dataset(name: str, split: str = "train", root: str | os.PathLike | None = None, **kwargs):
    """Build dataset ``name`` (see :func:`list_datasets`) for ``split`` in {"train", "test"}."""
    if name not in _REGISTRY:
        raise MpqlabError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}")
    if split not in ("train", "test"):
        raise MpqlabError(f"unknown split {split!r} for dataset {name!r}; use 'train' or 'test'")
    return _REGISTRY[name](split=split, root=root, **kwargs)


def _missing(name: str, looked: list[Path], hint: str) -> MpqlabError:
    return MpqlabError(f"dataset {name!r} not found; looked in: {', '.join(str(p) for p in looked)}. {hint}")


def _decode_jpeg_tree(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode a class-per-folder tree of same-size images into uint8 [N,C,H,W] (ImageFolder's class order)."""
    from torchvision.io import ImageReadMode, decode_image, read_file

    classes = sorted(d.name for d in folder.iterdir() if d.is_dir())
    if not classes:
        raise MpqlabError(f"image folder {folder} has no class folders")
    imgs, labels = [], []
    warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
    for ci, c in enumerate(classes):
        files = sorted(p for p in (folder / c).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for p in files:
            imgs.append(decode_image(read_file(str(p)), mode=ImageReadMode.RGB))
            labels.append(ci)
    if not imgs:
        raise MpqlabError(f"image folder {folder} holds no images")
    return torch.stack(imgs), torch.tensor(labels, dtype=torch.long), classes


def _cached_tree(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """:func:`_decode_jpeg_tree` with an on-disk ``.npy`` cache keyed by the folder's path and file list."""
    files = sorted(str(p.relative_to(folder)) for p in folder.glob("*/*"))
    key = hashlib.sha1((str(folder.resolve()) + "\n" + "\n".join(files)).encode()).hexdigest()[:16]
    cdir = cache_dir() / "decoded"
    base = cdir / f"{folder.parent.name}-{folder.name}-{key}"
    try:
        images = torch.from_numpy(np.load(f"{base}.images.npy", allow_pickle=False))
        labels = torch.from_numpy(np.load(f"{base}.labels.npy", allow_pickle=False))
        classes = json.loads(Path(f"{base}.classes.json").read_text())
        return images, labels, classes
    except (OSError, ValueError):
        pass
    images, labels, classes = _decode_jpeg_tree(folder)
    try:
        from ..io import atomic_write_bytes, atomic_write_text

        for suffix, arr in (("images", images.numpy()), ("labels", labels.numpy())):
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            atomic_write_bytes(f"{base}.{suffix}.npy", buf.getvalue())
        atomic_write_text(f"{base}.classes.json", json.dumps(classes))
    except OSError:  # a read-only cache folder only costs speed
        pass
    return images, labels, classes


@register_dataset("cifar10")
def cifar10(split="train", root=None, download=False, **_):
    """CIFAR-10: torchvision's pickled batches (``<root>/cifar-10-batches-py``, ``download=True`` fetches them)
    or the JPEG class-per-folder export ``<root>/cifar10-jpeg/{train,test}``."""
    r = data_root(root)
    pickled, jpeg = r / "cifar-10-batches-py", r / "cifar10-jpeg" / split
    if pickled.is_dir() or download:
        from torchvision.datasets import CIFAR10

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


@register_dataset("cifar10-mini")
def cifar10_mini(split="train", root=None, **_):
    """The embedded class-balanced CIFAR-10 subset (500 train + 100 test images per class, seed 0), shipped
    inside the package as the original JPEG bytes; see ``mpqlab/embedded/README.md`` for how it was made."""
    path = EMBEDDED_DIR / "cifar10_mini.zip"
    if not path.is_file():
        raise _missing("cifar10-mini", [path], "The package was installed without its embedded data.")
    from torchvision.io import ImageReadMode, decode_image

    warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        entries = manifest[split]
        imgs = [decode_image(torch.frombuffer(bytearray(z.read(e["file"])), dtype=torch.uint8), mode=ImageReadMode.RGB)
                for e in entries]
    labels = torch.tensor([CIFAR10_CLASSES.index(e["class"]) for e in entries], dtype=torch.long)
    return TensorData("cifar10-mini", split, torch.stack(imgs), labels, list(CIFAR10_CLASSES), CIFAR10_MEAN,
                      CIFAR10_STD, {"source": str(path), "seed": manifest["seed"]})


@register_dataset("synthetic")
def synthetic(split="train", root=None, n: int = 512, num_classes: int = 10, image_size: int = 32,
              channels: int = 3, seed: int = 0, noise: float = 25.0, **_):
    """Learnable synthetic images for fast tests: each class is a fixed random smooth pattern plus noise.
    The class patterns depend only on ``seed``; train and test draw different noise."""
    g = torch.Generator().manual_seed(seed)
    protos = F.interpolate(torch.rand(num_classes, channels, 4, 4, generator=g) * 128, size=image_size,
                           mode="bilinear", align_corners=False) + torch.rand(num_classes, channels, 1, 1, generator=g) * 127
    g2 = torch.Generator().manual_seed(seed * 2 + (0 if split == "train" else 1) + 1)
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


@register_dataset("imagefolder")
def imagefolder(split="train", root=None, path: str | None = None, image_size: int = 224, **_):
    """An ImageNet-style tree ``<path>/{train,val}/<class>/*.JPEG`` (``val`` or ``test`` for the test split)
    with the standard transforms: RandomResizedCrop + flip for training, Resize(1.14x) + CenterCrop for
    testing, ImageNet mean and std. ``path`` defaults to ``<root>/imagenet``."""
    from torchvision import transforms as T
    from torchvision.datasets import ImageFolder

    base = Path(path).expanduser() if path else data_root(root) / "imagenet"
    names = ["train"] if split == "train" else ["val", "test"]
    looked = [base / n for n in names]
    folder = next((p for p in looked if p.is_dir()), None)
    if folder is None:
        raise _missing("imagefolder", looked, "Pass path=<ImageNet folder>.")
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    if split == "train":
        tf = T.Compose([T.RandomResizedCrop(image_size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
    else:
        tf = T.Compose([T.Resize(int(round(image_size * 256 / 224))), T.CenterCrop(image_size), T.ToTensor(), norm])
    try:
        ds = ImageFolder(str(folder), transform=tf)
    except (FileNotFoundError, RuntimeError) as e:
        raise MpqlabError(f"image folder {folder} is empty or unreadable: {e}") from None
    ds.name, ds.split, ds.num_classes, ds.input_size = "imagefolder", split, len(ds.classes), (3, image_size, image_size)
    ds.mean, ds.std = IMAGENET_MEAN, IMAGENET_STD
    return ds
