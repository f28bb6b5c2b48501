"""Datasets as in-memory uint8 tensors, one registry: ``create_dataset(name, split)``, ``list_datasets()``.

Data root
    A folder holding one folder per dataset. Taken from the ``root`` argument, else the environment variable
    ``MPQLAB_DATA``, else ``~/.cache/mpqlab/data`` (the documented default). Errors for a missing dataset name
    every folder that was searched.

Small datasets (CIFAR-10, Fashion-MNIST, the embedded ``cifar10-mini``, ``synthetic``) are decoded once into
``uint8`` tensors (the JPEG tree is cached on disk as ``.npy``), and :class:`TensorLoader` does the standard
augmentation (random crop with 4-pixel padding, horizontal flip) on whole batches, so training is
compute-bound. ``imagefolder`` (ImageNet layout) goes through torchvision's ``ImageFolder`` and a
``DataLoader`` with the standard ImageNet transforms.
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from .errors import MpqlabError

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
FASHION_MEAN, FASHION_STD = (0.2860,) * 3, (0.3530,) * 3
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_DIR = Path(__file__).parent / "embedded"
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


@dataclass
class TensorData:
    """A labelled image set held in memory: ``images`` uint8 [N, C, H, W], ``labels`` int64 [N]."""

    name: str
    split: str
    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise MpqlabError(f"dataset {self.name}: images must be uint8 [N,C,H,W], got {self.images.dtype} "
                              f"{tuple(self.images.shape)}")
        if len(self.images) != len(self.labels):
            raise MpqlabError(f"dataset {self.name}: {len(self.images)} images but {len(self.labels)} labels")
        if len(self.images) == 0:
            raise MpqlabError(f"dataset {self.name} ({self.split}) is empty")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_size(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def subset(self, indices, name: str | None = None) -> "TensorData":
        idx = torch.as_tensor(indices, dtype=torch.long)
        return TensorData(name or self.name, self.split, self.images[idx], self.labels[idx], self.classes,
                          self.mean, self.std, dict(self.info, subset_size=len(idx)))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 batch -> float, scaled to [0, 1] and standardised with the dataset's mean and std."""
        mean = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1)
        return (x.float().div_(255.0) - mean) / std

    def tensors(self, n: int | None = None, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """The first ``n`` samples as a normalised float batch and labels (for analysis on a fixed set)."""
        n = len(self) if n is None else min(n, len(self))
        return self.normalize(self.images[:n].to(device)), self.labels[:n].to(device)


# --------------------------------------------------------------------------------------------- augmentation

def crop_flip_params(n: int, generator: torch.Generator, padding: int = 4):
    """Random (row offset, column offset, flip) for ``n`` samples."""
    oy = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    ox = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    return oy, ox, torch.rand(n, generator=generator) < 0.5


def random_crop_flip(x: torch.Tensor, generator: torch.Generator | None = None, padding: int = 4,
                     params=None) -> torch.Tensor:
    """Random crop with zero padding and random horizontal flip, on a whole uint8 batch [B, C, H, W]
    (``params`` = (oy, ox, flip) per sample, else drawn from ``generator``)."""
    b, c, h, w = x.shape
    oy, ox, flip = params if params is not None else crop_flip_params(b, generator, padding)
    xp = F.pad(x, (padding,) * 4)
    rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
    cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
    out = xp[torch.arange(b)[:, None, None, None], torch.arange(c)[None, :, None, None], rows, cols]
    out[flip] = out[flip].flip(3)
    return out


def cutout_params(n: int, generator: torch.Generator, size: int, h: int, w: int):
    """Random square centres (row, column) for Cutout, anywhere in the image (the square may be clipped)."""
    return torch.randint(0, h, (n,), generator=generator), torch.randint(0, w, (n,), generator=generator)


def cutout(x: torch.Tensor, centres, size: int, fill: torch.Tensor) -> torch.Tensor:
    """Cutout (DeVries & Taylor, 2017): a ``size`` x ``size`` square around each sample's centre is set to
    ``fill`` (uint8 per channel: the dataset mean, i.e. zero after standardisation). Returns a new batch."""
    b, c, h, w = x.shape
    cy, cx = centres
    rows, cols = torch.arange(h), torch.arange(w)
    top, left = (cy - size // 2)[:, None], (cx - size // 2)[:, None]
    inside = (((rows >= top) & (rows < top + size))[:, :, None] & ((cols >= left) & (cols < left + size))[:, None, :])
    return torch.where(inside[:, None], fill.view(1, -1, 1, 1).to(x.dtype), x)


class TensorLoader:
    """Batches from a :class:`TensorData`: shuffled and augmented when ``train``; sharded over ``world_size``.

    ``set_epoch(e)`` reseeds the shuffle (as ``DistributedSampler`` does), so an interrupted run that resumes
    at epoch ``e`` sees the same batches it would have seen.
    """

    def __init__(self, data: TensorData, batch_size: int, train: bool, seed: int = 0, augment: bool | None = None,
                 drop_last: bool | None = None, device="cpu", rank: int = 0, world_size: int = 1,
                 max_batches: int | None = None, cutout: int = 0):
        if batch_size <= 0:
            raise MpqlabError(f"batch_size must be positive, got {batch_size}")
        self.data, self.batch_size, self.train, self.seed = data, batch_size, train, seed
        self.augment = train if augment is None else augment
        self.drop_last = train if drop_last is None else drop_last
        self.device, self.rank, self.world_size = torch.device(device), rank, world_size
        self.max_batches, self.epoch = max_batches, 0
        if cutout < 0 or cutout > min(data.images.shape[-2:]):
            raise MpqlabError(f"cutout must be between 0 and the image size {min(data.images.shape[-2:])}, got {cutout}")
        self.cutout = cutout

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _positions(self) -> torch.Tensor:
        """This rank's positions in the epoch's global order (every rank gets the same number of samples, as
        DistributedSampler). Rank r takes every world_size-th sample, so a global batch of B = world_size * b
        holds the same samples as one process's batch of B."""
        n = len(self.data)
        pos = torch.arange(n)
        if self.world_size > 1:
            per = n // self.world_size if self.drop_last else -(-n // self.world_size)
            pos = torch.cat([pos, pos[: per * self.world_size - n]]) if per * self.world_size > n else pos
            pos = pos[: per * self.world_size].view(-1, self.world_size)[:, self.rank]
        return pos

    def _order(self) -> torch.Tensor:
        if not self.train:
            return torch.arange(len(self.data))
        return torch.randperm(len(self.data), generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch))

    def _indices(self) -> torch.Tensor:
        return self._order()[self._positions()]

    def __len__(self) -> int:
        n = len(self._indices())
        nb = n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        return min(nb, self.max_batches) if self.max_batches else nb

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order, pos = self._order(), self._positions()
        if self.augment:  # drawn per global position, so sharding does not change any sample's augmentation
            g = torch.Generator().manual_seed(self.seed * 7919 + self.epoch + 1)
            oy, ox, flip = crop_flip_params(len(order), g)
            if self.cutout:  # its own stream, so crops and flips do not depend on whether Cutout is on
                gc = torch.Generator().manual_seed(self.seed * 7907 + self.epoch + 2)
                cy, cx = cutout_params(len(order), gc, self.cutout, *self.data.images.shape[-2:])
                fill = torch.tensor([round(255 * m) for m in self.data.mean], dtype=torch.uint8)
        for i in range(len(self)):
            p = pos[i * self.batch_size:(i + 1) * self.batch_size]
            j = order[p]
            x = self.data.images[j]
            if self.augment:
                x = random_crop_flip(x, params=(oy[p], ox[p], flip[p]))
                if self.cutout:
                    x = cutout(x, (cy[p], cx[p]), self.cutout, fill)
            yield self.data.normalize(x.to(self.device, non_blocking=True)), self.data.labels[j].to(self.device)


def make_loader(data, batch_size: int, train: bool, seed: int = 0, device="cpu", rank: int = 0,
                world_size: int = 1, max_batches: int | None = None, num_workers: int = 2, cutout: int = 0):
    """A loader for any dataset :func:`create_dataset` returns (in-memory tensors or an ``ImageFolder``);
    ``cutout`` > 0 adds Cutout squares of that size to training batches (in-memory data only)."""
    if isinstance(data, TensorData):
        return TensorLoader(data, batch_size, train, seed=seed, device=device, rank=rank, world_size=world_size,
                            max_batches=max_batches, cutout=cutout)
    if cutout:
        raise MpqlabError("cutout is implemented for in-memory datasets only (cifar10, fashion-mnist, ...)")
    return _FolderLoader(data, batch_size, train, seed, device, rank, world_size, max_batches, num_workers)


class _FolderLoader:
    """``DataLoader`` over an ``ImageFolder`` with a (distributed) sampler; same interface as TensorLoader."""

    def __init__(self, data, batch_size, train, seed, device, rank, world_size, max_batches, num_workers):
        from torch.utils.data import DataLoader, DistributedSampler

        self.sampler = DistributedSampler(data, num_replicas=world_size, rank=rank, shuffle=train, seed=seed,
                                          drop_last=train)
        self.loader = DataLoader(data, batch_size=batch_size, sampler=self.sampler, num_workers=num_workers,
                                 drop_last=train)
        self.device, self.max_batches, self.data = torch.device(device), max_batches, data

    def set_epoch(self, epoch):
        self.sampler.set_epoch(epoch)

    def __len__(self):
        return min(len(self.loader), self.max_batches) if self.max_batches else len(self.loader)

    def __iter__(self):
        for i, (x, y) in enumerate(self.loader):
            if i >= len(self):
                break
            yield x.to(self.device), y.to(self.device)


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
        from .io import atomic_write_bytes, atomic_write_text

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


# ------------------------------------------------------------------------------------------- proxy subsets

def class_balanced_indices(labels: torch.Tensor, per_class: int, seed: int = 0) -> torch.Tensor:
    """``per_class`` random indices of every class (sorted), drawn with a seeded generator."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for c in torch.unique(labels).tolist():
        idx = torch.nonzero(labels == c).flatten()
        if len(idx) < per_class:
            raise MpqlabError(f"class {c} has {len(idx)} samples, fewer than the {per_class} asked for")
        out.append(idx[torch.randperm(len(idx), generator=g)[:per_class]])
    return torch.sort(torch.cat(out)).values


def proxy_subset(data: TensorData, size: int | None = None, fraction: float | None = None, seed: int = 0,
                 val_fraction: float = 0.0) -> tuple[TensorData, TensorData | None]:
    """A seeded, class-balanced subset of ``data`` (``size`` samples or ``fraction`` of them), split into a
    proxy-train and a held-out proxy-val part (``val_fraction``, for the bi-level search). Returns (train, val)."""
    if (size is None) == (fraction is None):
        if size is None and fraction is None:
            size = len(data)
        else:
            raise MpqlabError("give the proxy subset a size or a fraction, not both")
    k = data.num_classes
    if size is None:
        if not 0 < fraction <= 1:
            raise MpqlabError(f"proxy fraction must be in (0, 1], got {fraction}")
        size = int(round(fraction * len(data)))
    if size < k or size > len(data):
        raise MpqlabError(f"proxy size {size} must be between {k} (one per class) and {len(data)}")
    idx = class_balanced_indices(data.labels, size // k, seed)
    sub = data.subset(idx, name=data.name)
    sub.info.update(proxy_seed=seed, proxy_size=len(idx))
    if val_fraction <= 0:
        return sub, None
    nval = max(1, int(round(val_fraction * size / k)))
    vidx = class_balanced_indices(sub.labels, nval, seed + 1)
    mask = torch.ones(len(sub), dtype=torch.bool)
    mask[vidx] = False
    return sub.subset(torch.nonzero(mask).flatten()), sub.subset(vidx)
