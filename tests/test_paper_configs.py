"""The paper's grids as configs (configs/paper_imagenet_*.json): torchvision models, an ImageNet-layout target,
CIFAR-10 / Flowers102 / Food101 proxies. Each config is read as written; the ResNet-18 one runs end to end on tiny
generated data in the same layouts, with its schedules shrunk (the config's structure, models, datasets and methods
kept): with the local process pool (the CIFAR-10 proxy) and with submitit's local executor, the one a Slurm
cluster's jobs go through (the Food101 proxy)."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import REPO
from test_distributed import _search_pair
from test_proxy_sources import _food
from mpqlab.core.errors import MpqlabError
from mpqlab.data import create_dataset
from mpqlab.data.sources import CIFAR10_CLASSES, parse_dataset
from mpqlab.experiments.cell import load_config

PAPER = sorted((REPO / "configs").glob("paper_imagenet_*.json"))


def test_the_paper_configs_name_the_papers_models_proxies_and_target():
    assert [p.stem for p in PAPER] == ["paper_imagenet_mobilenet_v2", "paper_imagenet_resnet18",
                                       "paper_imagenet_resnet50"]
    for path in PAPER:
        cfg = load_config(path)
        assert cfg.model in ("resnet18", "resnet50", "mobilenet_v2")
        assert parse_dataset(cfg.target.data)[0] == "imagefolder"
        assert sorted(parse_dataset(s.proxy)[0] for s in cfg.settings.values()) == ["cifar10", "flowers102", "food101"]
        assert {"edmips", "edmips+asga", "gmpq", "gmpq+asga", "edmips@target"} <= set(cfg.methods)
        assert cfg.device == "cuda" and cfg.search["epochs"] == 25 and cfg.target.finetune.lr == 0.01


def test_a_dataset_spec_passes_options_and_refuses_unknown_ones(tmp_path):
    assert parse_dataset("imagefolder:image_size=64,path=/data/in1k") == (
        "imagefolder", {"image_size": 64, "path": "/data/in1k"})
    with pytest.raises(MpqlabError, match="cifar10 takes no image_size; it takes download"):
        create_dataset("cifar10:image_size=64", "train", root=tmp_path)
    with pytest.raises(MpqlabError, match="'image_size' is not key=value"):
        parse_dataset("food101:image_size")
    with pytest.raises(MpqlabError, match="unknown dataset 'imagenet'"):
        parse_dataset("imagenet:image_size=64")


def _image(path, rng, size=(36, 36)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 255, (*size, 3), dtype=np.uint8)).save(path)


def _data(root):
    """Tiny trees in the real layouts: ImageNet (train/val class folders), CIFAR-10's JPEG export, Food-101."""
    rng = np.random.default_rng(0)
    for split, n in (("train", 8), ("val", 4)):
        for c in ("n01440764", "n01443537", "n01484850"):
            for i in range(n):
                _image(root / "imagenet" / split / c / f"{c}_{i}.JPEG", rng)
    for split, n in (("train", 4), ("test", 2)):
        for c in CIFAR10_CLASSES:
            for i in range(n):
                _image(root / "cifar10-jpeg" / split / c / f"{i}.jpg", rng, (32, 32))
    _food(root)  # Food-101's layout, as the source's own test builds it
    return root


@pytest.fixture(scope="module")
def tiny_world(tmp_path_factory):
    """Tiny trees in the real layouts and a ResNet-18 checkpoint per dataset, trained here for one epoch (24 to 40
    images): shared by the executors' runs."""
    from mpqlab.commands import train_command
    from mpqlab.training.train import TrainConfig

    base = tmp_path_factory.mktemp("paper")
    root = _data(base / "data")
    for name, data in {"imagenet": TARGET, **PROXIES}.items():
        train_command("resnet18", data, str(base / f"resnet18_{name}.safetensors"), TrainConfig(epochs=1, batch_size=8),
                      root=root)
    return base, root


TARGET = "imagefolder:image_size=32"
PROXIES = {"cifar10": "cifar10", "food101": "food101:image_size=32"}


def _tiny(base, settings, tmp_path):
    """configs/paper_imagenet_resnet18.json with its schedules shrunk to seconds, on the tiny trees, 32 px, on the CPU:
    one seed, one budget, uniform / EdMIPS+ASGA / the reference, bit candidates {2, 4}, the given proxies (CIFAR-10,
    Food101; Flowers102's label files are checked against their real checksums, which generated files cannot pass:
    its source is tested in test_proxy_sources)."""
    cfg = json.loads((REPO / "configs" / "paper_imagenet_resnet18.json").read_text())
    cfg.update(seeds=[0], budgets=[3.0], methods=["uniform", "edmips+asga", "edmips@target"],
               sharpness_images=4, proxy_sharpness_images=4)
    cfg["target"].update(data=TARGET, init=str(base / "resnet18_imagenet.safetensors"), epochs=1, max_batches=1,
                         batch_size=8)
    cfg["settings"] = {k: {"proxy": PROXIES[k], "proxy_subset": 12,
                           "proxy_init": str(base / f"resnet18_{k}.safetensors")} for k in settings}
    cfg["search"].update(epochs=1, max_batches=1, batch_size=8, device="cpu", w_candidates=[2, 4], a_candidates=[2, 4])
    cfg["reference"].update(epochs=1, max_batches=1, device="cpu", subset=12)
    path = tmp_path / "paper_tiny.json"
    path.write_text(json.dumps(cfg))
    return path


@pytest.mark.slow  # small grids of torchvision ResNet-18 cells, in spawned processes
@pytest.mark.xdist_group("paper")  # on one worker: the trained checkpoints are shared
@pytest.mark.parametrize("executor, settings", [("local", ("cifar10",)), ("submitit", ("food101",))])
def test_the_resnet18_paper_grid_runs_end_to_end_on_tiny_data(executor, settings, tiny_world, tmp_path, monkeypatch):
    import csv

    from mpqlab.cli import main

    base, root = tiny_world
    monkeypatch.setenv("MPQLAB_DATA", str(root))
    monkeypatch.setenv("MPQLAB_COMPILE", "0")
    out = tmp_path / "grid"
    args = ["experiment", str(_tiny(base, settings, tmp_path)), "--out", str(out)]
    args += ["--workers", "2"] if executor == "local" else ["--executor", "submitit", "--cluster", "local"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert len(rows) == 3  # uniform and EdMIPS+ASGA on the proxy, the reference
    assert {r["method"] for r in rows} == {"uniform", "edmips+asga", "edmips@target"}
    assert {r["proxy"] for r in rows if r["method"] == "edmips+asga"} == {PROXIES[k] for k in settings}
    assert all(r["target"] == "imagefolder:image_size=32" and 0 <= float(r["target_top1"]) <= 100 for r in rows)
    assert all(float(r["average_bits"]) <= 3.0 + 1e-6 for r in rows)
    assert "PARTIAL" not in (out / "results.md").read_text()


@pytest.mark.slow  # four ResNet-18 searches in spawned processes, two of them under torchrun
@pytest.mark.xdist_group("paper")  # on one worker: the trained checkpoints are shared
def test_a_paper_search_under_torchrun_equals_the_one_process_search(tiny_world, tmp_path):
    """The paper config's search (torchvision ResNet-18 from its proxy checkpoint, on a Food-101-layout tree) by two
    gloo processes with batch 4 each equals the one-process search with batch 8: after one step the supernet's
    weights and bit logits agree to float round-off (1e-5), and so do the step's logged quantities."""
    base, root = tiny_world
    model = ("--model", "resnet18", "--data", PROXIES["food101"], "--root", str(root),
             "--checkpoint", str(base / "resnet18_food101.safetensors"))
    pols, mets, states = _search_pair(tmp_path, ["--budget", "3", "--epochs", "1", "--max-batches", "1",
                                                 "--w-candidates", "2,4", "--a-candidates", "2,4"], "r18",
                                      model=model, batch=8)
    a, b = states
    floats = [k for k in a if a[k].is_floating_point()]
    assert floats and all(torch.allclose(a[k].float(), b[k].float(), atol=1e-5) for k in floats)
    for key in ("loss_p", "h", "rho", "grad_norm", "expected_bitops"):
        u, v = mets[0][0][key], mets[1][0][key]
        assert (u is None) == (v is None), key
        if u is not None:
            assert abs(u - v) <= 1e-5 * max(1.0, abs(u)), key
    s1, s2 = (p["provenance"]["final_softmaxes"] for p in pols)
    assert all(abs(u - v) < 1e-5 for k in s1 for t in ("w", "a") for u, v in zip(s1[k][t], s2[k][t]))
