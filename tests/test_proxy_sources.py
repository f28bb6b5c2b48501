"""The paper's other proxies, Flowers102 and Food101, through torchvision's dataset classes (their real layout,
download code and checksums), decoded into in-memory data that every sampler and search takes: tested on tiny
generated trees in their formats (Flowers102's label files are checked against the real checksums, so the test
lets its generated .mat files through; the layout and decoding are the real ones)."""
import json

import numpy as np
import pytest
from PIL import Image

from mpqlab.core.errors import MpqlabError
from mpqlab.data import create_dataset, proxy_subset


def _jpg(path, rng):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(path)


def _food(root):
    rng = np.random.default_rng(0)
    meta = {"train": {}, "test": {}}
    for c in ("apple_pie", "bibimbap", "churros"):
        for i in range(6):
            _jpg(root / "food-101" / "images" / c / f"{i}.jpg", rng)
            meta["train" if i < 4 else "test"].setdefault(c, []).append(f"{c}/{i}")
    (root / "food-101" / "meta").mkdir(parents=True)
    for split, d in meta.items():
        (root / "food-101" / "meta" / f"{split}.json").write_text(json.dumps(d))
    return root


def _flowers(root):
    from scipy.io import savemat

    rng = np.random.default_rng(1)
    n = 12
    for i in range(1, n + 1):
        _jpg(root / "flowers-102" / "jpg" / f"image_{i:05d}.jpg", rng)
    savemat(root / "flowers-102" / "imagelabels.mat", {"labels": np.array([1 + (i % 3) for i in range(n)])})
    savemat(root / "flowers-102" / "setid.mat", {"trnid": np.arange(1, 5), "valid": np.arange(5, 9),
                                                  "tstid": np.arange(9, n + 1)})
    return root


def test_food101_decodes_its_layout_and_feeds_a_proxy_subset(tmp_path):
    root = _food(tmp_path)
    train = create_dataset("food101", "train", root=root, image_size=24)
    test = create_dataset("food101", "test", root=root, image_size=24)
    assert train.images.shape == (12, 3, 24, 24) and len(test) == 6 and train.num_classes == 3
    sub, _ = proxy_subset(train, size=6, seed=0)
    assert sorted(sub.labels.tolist()) == [0, 0, 1, 1, 2, 2]


def test_flowers102_train_is_train_plus_val(tmp_path, monkeypatch):
    import torchvision.datasets.flowers102 as F

    monkeypatch.setattr(F, "check_integrity", lambda path, md5=None: __import__("os").path.isfile(path))
    root = _flowers(tmp_path)
    train = create_dataset("flowers102", "train", root=root, image_size=16)
    test = create_dataset("flowers102", "test", root=root, image_size=16)
    assert len(train) == 8 and len(test) == 4 and train.images.shape[1:] == (3, 16, 16)
    assert train.num_classes == 102 and set(train.labels.tolist()) <= {0, 1, 2}


def test_a_missing_proxy_says_where_it_looked(tmp_path):
    for name, folder in (("food101", "food-101"), ("flowers102", "flowers-102")):
        with pytest.raises(MpqlabError, match=f"dataset '{name}' not found; looked in: .*{folder}"):
            create_dataset(name, "train", root=tmp_path)
