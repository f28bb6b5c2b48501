"""Canned grid configs: the quick grid on the embedded data (CI, smoke runs) and the smoke grid on synthetic
images (executors' tests, benchmarks)."""
from __future__ import annotations

from ..quant.checkpoints import pretrained
from ..search.methods import REFERENCE


def quick_config() -> dict:
    """A 4-cell grid on the embedded data (CI, smoke runs; a few minutes): uniform, random, edmips+asga and the
    reference, proxy = 500 images of cifar10-mini, candidates {2, 3, 4} at 2.5 average bits."""
    ck = str(pretrained("resnet20_cifar10-mini"))
    return {"name": "quick", "model": "resnet20", "seeds": [0], "budgets": [2.5],
            "methods": ["uniform", "random", "edmips+asga", REFERENCE],
            "target": {"data": "cifar10-mini", "init": ck, "epochs": 1, "subset": 1000,
                       "max_batches": 3},
            "settings": {"subset-control": {"proxy": "cifar10-mini", "proxy_subset": 500, "proxy_init": ck}},
            "search": {"epochs": 1, "max_batches": 3, "batch_size": 64, "w_candidates": [2, 3, 4],
                       "a_candidates": [2, 3, 4]},
            "reference": {"max_batches": 4}, "sharpness_images": 128, "proxy_sharpness_images": 32}


def smoke_config() -> dict:
    """The quick grid's shape on synthetic images and random initial weights, a few batches per stage (seconds of
    CPU per cell): the executors' tests and ``benchmarks/grid.py``. Its numbers mean nothing about quantization."""
    return {"name": "smoke", "model": "resnet20", "seeds": [0], "budgets": [2.5],
            "methods": ["uniform", "random", "edmips+asga", REFERENCE],
            "target": {"data": "synthetic-tiny", "init": None, "epochs": 1, "max_batches": 2},
            "settings": {"proxy-subset": {"proxy": "synthetic-tiny", "proxy_subset": 128, "proxy_init": None}},
            "search": {"epochs": 1, "max_batches": 2, "batch_size": 32, "w_candidates": [2, 3, 4],
                       "a_candidates": [2, 3, 4]},
            "reference": {"max_batches": 3}, "sharpness_images": 32, "proxy_sharpness_images": 16}
