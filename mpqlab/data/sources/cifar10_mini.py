"""``cifar10-mini``: the small CIFAR-10 sample embedded in the package (offline, no data root)."""
from __future__ import annotations

import json
import warnings
import zipfile

import torch

from ..tensors import TensorData
from . import CIFAR10_CLASSES, CIFAR10_MEAN, CIFAR10_STD, EMBEDDED_DIR, _missing, register_dataset


@register_dataset("cifar10-mini")
def cifar10_mini(split="train", root=None, **_):
    """The embedded class-balanced CIFAR-10 subset (500 train + 100 test images per class, seed 0), shipped
    inside the package as the original JPEG bytes; see ``mpqlab/embedded/README.md`` for how it was made."""
    path = EMBEDDED_DIR / "cifar10_mini.zip"
    if not path.is_file():
        raise _missing("cifar10-mini", [path], "The package was installed without its embedded data.")
    from torchvision.io import ImageReadMode, decode_image  # deferred: slow import, this path only

    warnings.filterwarnings("ignore", message="The image decoding", category=DeprecationWarning)
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        entries = manifest[split]
        imgs = [decode_image(torch.frombuffer(bytearray(z.read(e["file"])), dtype=torch.uint8), mode=ImageReadMode.RGB)
                for e in entries]
    labels = torch.tensor([CIFAR10_CLASSES.index(e["class"]) for e in entries], dtype=torch.long)
    return TensorData("cifar10-mini", split, torch.stack(imgs), labels, list(CIFAR10_CLASSES), CIFAR10_MEAN,
                      CIFAR10_STD, {"source": str(path), "seed": manifest["seed"]})
