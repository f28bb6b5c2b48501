"""Every command on the paper's data layout: an ImageNet-layout tree and a torchvision model. train, eval, cost,
hessian and landscape run end to end from the command line on a tiny generated tree, and the analysis batch of an
image folder is drawn by the same seeded, class-balanced sampler as an in-memory dataset's."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mpqlab.data import analysis_batch, create_dataset, labels_of, sample_indices

REPO = Path(__file__).resolve().parents[1]


def _tree(root: Path, classes=("ant", "bee", "cat"), per_class=4, size=40):
    rng = np.random.default_rng(0)
    for split in ("train", "val"):
        for c in classes:
            (root / "imagenet" / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                img = Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8))
                img.save(root / "imagenet" / split / c / f"{c}_{i}.JPEG")
    return root


def test_the_analysis_batch_of_an_image_folder_is_the_stratified_sample(tmp_path):
    _tree(tmp_path)
    test = create_dataset("imagefolder", "test", root=tmp_path, image_size=32)
    x, y = analysis_batch(test, 6, seed=3)
    idx = sample_indices(labels_of(test), 6, 3)
    assert x.shape == (6, 3, 32, 32) and y.tolist() == labels_of(test)[idx].tolist()
    assert sorted(y.tolist()) == [0, 0, 1, 1, 2, 2]  # class-balanced, never the first 6 (all of class 0 and 1)
    assert torch.equal(x[0], test[int(idx[0])][0])


def _cli(*args, cwd):
    out = subprocess.run([sys.executable, "-m", "mpqlab.cli", *args, "--json"], capture_output=True, text=True,
                         cwd=cwd, env={"PATH": "/usr/bin:/bin", "MPQLAB_COMPILE": "0", "OMP_NUM_THREADS": "1",
                                        "PYTHONPATH": str(REPO)})
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout[out.stdout.index("{"):])


@pytest.mark.slow
def test_every_command_runs_on_an_imagenet_layout_tree_with_a_torchvision_model(tmp_path):
    root = str(_tree(tmp_path / "data"))
    ck = str(tmp_path / "resnet18.safetensors")
    common = ["--model", "resnet18", "--data", "imagefolder", "--root", root]
    _cli("train", *common, "--epochs", "1", "--batch-size", "6", "--out", ck, cwd=tmp_path)
    assert Path(ck).is_file()
    _cli("eval", *common, "--checkpoint", ck, "--uniform", "4/4", "--max-batches", "1", cwd=tmp_path)
    _cli("cost", "--model", "resnet18", "--uniform", "4/4", "--input-size", "224", "--num-classes", "3",
         cwd=tmp_path)
    h = _cli("hessian", *common, "--checkpoint", ck, "--uniform", "4/4", "--n", "3", "--top-k", "1",
             "--trace-probes", "1", cwd=tmp_path)
    assert np.isfinite(h["eigenvalues"][0])
    out = tmp_path / "slice.npz"
    _cli("landscape", *common, "--checkpoint", ck, "--uniform", "4/4", "--n", "3", "--points", "3",
         "--out", str(out), cwd=tmp_path)
    assert out.is_file()
