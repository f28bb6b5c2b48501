"""``imagefolder``: an ImageNet-layout tree (``train/<class>/*.JPEG``, ``val/<class>/*``) through torchvision."""
from __future__ import annotations

from pathlib import Path

from ...core.errors import MpqlabError
from . import IMAGENET_MEAN, IMAGENET_STD, _missing, data_root, register_dataset


@register_dataset("imagefolder")
def imagefolder(split="train", root=None, path: str | None = None, image_size: int = 224, **_):
    """An ImageNet-style tree ``<path>/{train,val}/<class>/*.JPEG`` (``val`` or ``test`` for the test split)
    with the standard transforms: RandomResizedCrop + flip for training, Resize(1.14x) + CenterCrop for
    testing, ImageNet mean and std. ``path`` defaults to ``<root>/imagenet``."""
    from torchvision import transforms as T  # deferred: slow import, this path only
    from torchvision.datasets import ImageFolder  # deferred: slow import, this path only

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
