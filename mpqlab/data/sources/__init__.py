"""Where datasets come from, one registry (one file per dataset in this folder, discovered): ``create_dataset(name, split)``, ``list_datasets()``; the data root
and the decoded-tensor cache; CIFAR-10 (JPEG tree or the torchvision download), Fashion-MNIST (Debian package or
IDX files), the embedded ``cifar10-mini``, ``synthetic`` and ``imagefolder`` (ImageNet layout)."""
from __future__ import annotations

import hashlib
import inspect
import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from ...core.errors import MpqlabError
from ...core.files import atomic_write_bytes, atomic_write_text
from ...core.registry import Registry, discover

CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
FASHION_MEAN, FASHION_STD = (0.2860,) * 3, (0.3530,) * 3
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
EMBEDDED_DIR = Path(__file__).parent.parent.parent / "embedded"
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

DATASETS = Registry("dataset")  # name -> builder fn(split, root, **kw); one file per dataset in this folder


def register_dataset(name: str):
    """Decorator: register a dataset builder ``fn(split, root, **kw)`` under ``name`` (refused when taken; its
    docstring's first line is its help)."""
    def deco(fn):
        DATASETS.add(name, fn)
        return fn
    return deco


def list_datasets() -> list[str]:
    """The registered dataset names."""
    return sorted(DATASETS)


def parse_dataset(spec: str) -> tuple[str, dict]:
    """A dataset spec, ``name`` or ``name:key=value,key=value`` (e.g. ``imagefolder:image_size=64``, which a grid
    config or a ``SearchConfig`` can name where it takes a dataset), as (name, keyword arguments of its builder);
    integer and float values are converted. A key its builder does not take is refused, naming it and the keys it
    takes."""
    name, _, opts = str(spec).partition(":")
    if name not in DATASETS:
        raise MpqlabError(f"unknown dataset {name!r}; known datasets: {', '.join(list_datasets())}")
    kwargs = {}
    for item in filter(None, opts.split(",")):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise MpqlabError(f"dataset spec {spec!r}: {item!r} is not key=value")
        for kind in (int, float):
            try:
                value = kind(value)
                break
            except ValueError:
                pass
        kwargs[key.strip()] = value
    params = inspect.signature(DATASETS[name]).parameters
    takes = [k for k, p in params.items() if p.kind is not p.VAR_KEYWORD and k not in ("split", "root")]
    unknown = [k for k in kwargs if k not in takes]
    if unknown:
        raise MpqlabError(f"dataset spec {spec!r}: {name} takes no {', '.join(unknown)}; it takes "
                          f"{', '.join(takes) or 'no options'}")
    return name, kwargs


def create_dataset(name: str, split: str = "train", root: str | os.PathLike | None = None, **kwargs):
    """Build dataset ``name`` (see :func:`list_datasets`; or a spec with options, :func:`parse_dataset`) for
    ``split`` in {"train", "test"}."""
    name, options = parse_dataset(name)
    if split not in ("train", "test"):
        raise MpqlabError(f"unknown split {split!r} for dataset {name!r}; use 'train' or 'test'")
    return DATASETS[name](split=split, root=root, **{**options, **kwargs})


def _missing(name: str, looked: list[Path], hint: str) -> MpqlabError:
    return MpqlabError(f"dataset {name!r} not found; looked in: {', '.join(str(p) for p in looked)}. {hint}")


def _decode_jpeg_tree(folder: Path) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Decode a class-per-folder tree of same-size images into uint8 [N,C,H,W] (ImageFolder's class order)."""
    from torchvision.io import ImageReadMode, decode_image, read_file  # deferred: slow import, this path only

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
        for suffix, arr in (("images", images.numpy()), ("labels", labels.numpy())):
            buf = io.BytesIO()
            np.save(buf, arr, allow_pickle=False)
            atomic_write_bytes(f"{base}.{suffix}.npy", buf.getvalue())
        atomic_write_text(f"{base}.classes.json", json.dumps(classes))
    except OSError:  # a read-only cache folder only costs speed
        pass
    return images, labels, classes



# every module beside this file is a dataset (a new file is the whole change); MPQLAB_PLUGINS is read once
# mpqlab.data has loaded (a plugin may import it)
discover(__name__, __path__)
