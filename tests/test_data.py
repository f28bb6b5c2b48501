import gzip
import struct

import numpy as np
import pytest
import torch

from mpqlab.data.sample import stratified_order

from conftest import make_image_tree
from mpqlab.data import (
    TensorLoader, class_balanced_indices, create_dataset, data_root, list_datasets, make_loader, proxy_subset,
    random_crop_flip)
from mpqlab.core.errors import MpqlabError


def test_registry_lists_every_dataset():
    assert {"cifar10", "cifar10-mini", "fashion-mnist", "imagefolder", "synthetic"} <= set(list_datasets())
    with pytest.raises(MpqlabError, match="unknown dataset 'nope'"):
        create_dataset("nope")


def test_data_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("MPQLAB_DATA", str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg"
    assert data_root() == tmp_path / "env"
    monkeypatch.delenv("MPQLAB_DATA")
    assert str(data_root()).endswith(".cache/mpqlab/data")


def test_missing_dataset_names_where_it_looked(tmp_path):
    with pytest.raises(MpqlabError) as e:
        create_dataset("cifar10", root=tmp_path)
    assert str(tmp_path / "cifar10-jpeg" / "train") in str(e.value)
    assert str(tmp_path / "cifar-10-batches-py") in str(e.value)


def test_cifar10_jpeg_tree_decodes_and_caches(tmp_path, monkeypatch):
    from mpqlab.data import CIFAR10_CLASSES

    make_image_tree(tmp_path / "cifar10-jpeg" / "train", CIFAR10_CLASSES, 2, 32, ext=".jpg")
    monkeypatch.setenv("MPQLAB_CACHE", str(tmp_path / "cache"))
    d = create_dataset("cifar10", "train", root=tmp_path)
    assert d.images.shape == (20, 3, 32, 32) and d.images.dtype == torch.uint8
    assert d.labels.tolist() == [i // 2 for i in range(20)]
    assert list((tmp_path / "cache" / "decoded").glob("*.images.npy"))
    again = create_dataset("cifar10", "train", root=tmp_path)  # from the cache
    assert torch.equal(again.images, d.images)


def test_cifar10_jpeg_tree_with_wrong_classes_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MPQLAB_CACHE", str(tmp_path / "cache"))
    make_image_tree(tmp_path / "cifar10-jpeg" / "test", ["a", "b"], 1, 32, ext=".jpg")
    with pytest.raises(MpqlabError, match="expected CIFAR-10"):
        create_dataset("cifar10", "test", root=tmp_path)


def _write_idx(path, arr):
    arr = np.asarray(arr, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | arr.ndim) + b"".join(struct.pack(">I", s) for s in arr.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + arr.tobytes())


def test_fashion_mnist_idx_is_padded_to_3x32x32(tmp_path):
    d = tmp_path / "fashion-mnist"
    d.mkdir()
    imgs = np.arange(5 * 28 * 28).reshape(5, 28, 28) % 251
    _write_idx(d / "train-images-idx3-ubyte.gz", imgs)
    _write_idx(d / "train-labels-idx1-ubyte.gz", [0, 1, 2, 3, 9])
    ds = create_dataset("fashion-mnist", "train", root=tmp_path)
    assert ds.images.shape == (5, 3, 32, 32)
    assert torch.equal(ds.images[:, 0, 2:30, 2:30], torch.tensor(imgs, dtype=torch.uint8))
    assert ds.images[:, :, :2].sum() == 0 and torch.equal(ds.images[:, 0], ds.images[:, 2])
    assert ds.labels.tolist() == [0, 1, 2, 3, 9]


def test_truncated_idx_is_reported(tmp_path):
    d = tmp_path / "fashion-mnist"
    d.mkdir()
    with gzip.open(d / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(struct.pack(">IIII", 0x0803, 10, 28, 28) + b"\0" * 100)
    _write_idx(d / "t10k-labels-idx1-ubyte.gz", [0] * 10)
    with pytest.raises(MpqlabError, match="truncated"):
        create_dataset("fashion-mnist", "test", root=tmp_path)


def test_embedded_cifar10_mini_is_balanced():
    tr, te = create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test")
    assert tr.images.shape == (5000, 3, 32, 32) and te.images.shape == (1000, 3, 32, 32)
    assert tr.labels.bincount().tolist() == [500] * 10 and te.labels.bincount().tolist() == [100] * 10


def test_imagefolder_uses_imagenet_transforms(tmp_path):
    make_image_tree(tmp_path / "train", ["n01", "n02"], 3, 64)
    make_image_tree(tmp_path / "val", ["n01", "n02"], 2, 64)
    tr = create_dataset("imagefolder", "train", path=str(tmp_path), image_size=48)
    te = create_dataset("imagefolder", "test", path=str(tmp_path), image_size=48)
    assert tr.num_classes == 2 and len(te) == 4
    x, y = next(iter(make_loader(tr, 4, train=True, num_workers=0)))
    assert x.shape == (4, 3, 48, 48) and x.dtype == torch.float32 and x.min() < 0
    with pytest.raises(MpqlabError, match="not found"):
        create_dataset("imagefolder", "train", path=str(tmp_path / "missing"))


def test_proxy_subset_is_balanced_seeded_and_split():
    d = create_dataset("synthetic", n=400, num_classes=4)
    a, va = proxy_subset(d, size=200, seed=3, val_fraction=0.2)
    b, vb = proxy_subset(d, size=200, seed=3, val_fraction=0.2)
    assert torch.equal(a.images, b.images) and len(a) == 160 and len(va) == 40
    assert a.labels.bincount().tolist() == [40] * 4 and va.labels.bincount().tolist() == [10] * 4
    c, _ = proxy_subset(d, fraction=0.5, seed=4)
    assert len(c) == 200 and not torch.equal(c.images, a.images[:200])
    with pytest.raises(MpqlabError):
        proxy_subset(d, size=2)
    with pytest.raises(MpqlabError):
        class_balanced_indices(d.labels, 1000)


def test_random_crop_flip_moves_content_by_at_most_the_padding():
    x = torch.arange(2 * 1 * 6 * 6, dtype=torch.uint8).view(2, 1, 6, 6)
    g = torch.Generator().manual_seed(0)
    outs = [random_crop_flip(x, g, padding=2) for _ in range(20)]
    assert all(o.shape == x.shape for o in outs)
    for o in outs:  # every output pixel is an input pixel of the same image, or padding
        for i in range(2):
            assert set(o[i].flatten().tolist()) <= set(x[i].flatten().tolist()) | {0}
    assert any(not torch.equal(o, x) for o in outs)


def test_tensor_loader_epochs_and_shards_are_reproducible():
    d = create_dataset("synthetic", n=100, num_classes=4)
    l = TensorLoader(d, 10, train=True, seed=1)
    l.set_epoch(2)
    a = [y for _, y in l]
    l.set_epoch(2)
    assert all(torch.equal(u, v) for u, v in zip(a, [y for _, y in l]))
    s0 = TensorLoader(d, 10, train=True, seed=1, rank=0, world_size=2)
    s1 = TensorLoader(d, 10, train=True, seed=1, rank=1, world_size=2)
    assert len(s0) == len(s1) == 5
    x, _ = next(iter(TensorLoader(d, 8, train=False)))  # evaluation: the stratified order, never a prefix
    assert torch.allclose(x, d.normalize(d.images[stratified_order(d.labels, 0)[:8]]))
    x, _ = next(iter(TensorLoader(d, 8, train=False, eval_order="dataset")))  # asked for: the stored order
    assert torch.allclose(x, d.normalize(d.images[:8]))


def test_cutout_blanks_one_square_per_sample_and_leaves_crops_unchanged():
    data = create_dataset("synthetic", n=64)
    plain = next(iter(TensorLoader(data, 64, train=True, seed=3)))[0]
    cut = next(iter(TensorLoader(data, 64, train=True, seed=3, cutout=8)))[0]
    changed = (plain != cut).any(1)  # [B, H, W] pixels Cutout touched
    fill = (torch.tensor([round(255 * m) for m in data.mean]) / 255.0 - torch.tensor(data.mean)) / torch.tensor(data.std)
    assert torch.allclose(cut.permute(0, 2, 3, 1)[changed], fill.expand(int(changed.sum()), 3), atol=1e-6)
    rows, cols = changed.any(2).sum(1), changed.any(1).sum(1)
    assert (rows <= 8).all() and (cols <= 8).all() and changed.flatten(1).any(1).float().mean() > 0.9
    with pytest.raises(MpqlabError, match="cutout"):
        TensorLoader(data, 64, train=True, cutout=33)


def test_class_subset_keeps_the_images_of_its_classes_relabelled():
    """``cifar10-mini-animals5``: the five animal classes of cifar10-mini, every image of them and no other, labels
    0-4 in the order named, the parent's normalisation (only the task changes)."""
    import torch

    from mpqlab.data import create_dataset
    from mpqlab.core.errors import MpqlabError

    full = create_dataset("cifar10-mini", "test")
    five = create_dataset("cifar10-mini-animals5", "test")
    assert five.classes == ["bird", "cat", "deer", "dog", "frog"] and five.num_classes == 5
    assert (five.mean, five.std) == (full.mean, full.std)
    for new, name in enumerate(five.classes):
        mine = five.images[five.labels == new]
        theirs = full.images[full.labels == full.classes.index(name)]
        assert torch.equal(mine, theirs)
    assert len(five) == sum(int((full.labels == full.classes.index(c)).sum()) for c in five.classes)
    with pytest.raises(MpqlabError, match="with_classes needs distinct classes"):
        full.with_classes(["bird", "unicorn"], "x")
