"""Build mpqlab/embedded/cifar10_mini.zip: a class-balanced CIFAR-10 subset (500 train + 100 test per class).

    python scripts/make_cifar10_mini.py ../shared/datasets/cifar10-jpeg

The images are chosen with torch.Generator().manual_seed(0): for every class (in CIFAR-10's order), a random
permutation of that class's files (sorted by name) and the first 500 (train) / 100 (test). The original JPEG
bytes are stored unchanged (no re-encoding); manifest.json lists every file, its class and its source path.
"""
import json
import sys
import zipfile
from pathlib import Path

import torch

CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
SEED, PER_CLASS = 0, {"train": 500, "test": 100}


def main(src: str, out: str = "mpqlab/embedded/cifar10_mini.zip") -> None:
    src_p = Path(src)
    manifest = {"seed": SEED, "per_class": PER_CLASS, "source": "CIFAR-10 JPEG export, class-per-folder",
                "train": [], "test": []}
    g = torch.Generator().manual_seed(SEED)
    tmp = Path(out + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
        for split, k in PER_CLASS.items():
            for c in CLASSES:
                files = sorted((src_p / split / c).glob("*.jpg"))
                for i in sorted(torch.randperm(len(files), generator=g)[:k].tolist()):
                    name = f"{split}/{c}/{files[i].name}"
                    z.writestr(name, files[i].read_bytes())
                    manifest[split].append({"file": name, "class": c, "source": f"{split}/{c}/{files[i].name}"})
        z.writestr("manifest.json", json.dumps(manifest, indent=1))
    tmp.replace(out)
    print(f"wrote {out}: {len(manifest['train'])} train, {len(manifest['test'])} test images")


if __name__ == "__main__":
    main(*sys.argv[1:])
