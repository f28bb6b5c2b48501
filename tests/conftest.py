import os
from pathlib import Path

import pytest
import torch
import torch.nn as nn

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("MPQLAB_DATA", str((REPO.parent / "shared" / "datasets").resolve()))
# Under pytest-xdist (`make test` runs min(cores, 4) workers) the cores are shared out, so that workers and the
# processes the tests start (they inherit OMP_NUM_THREADS) do not oversubscribe the machine.
# The workers inherit the controller's environment, so what the user set is kept aside under its own name: a
# worker must not mistake the controller's choice (all cores, one process) for the user's.
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
_USER_THREADS = os.environ.setdefault("MPQLAB_TEST_USER_THREADS", os.environ.get("OMP_NUM_THREADS", ""))
THREADS = int(_USER_THREADS) if _USER_THREADS else max(1, min(2, (os.cpu_count() or 1) // _WORKERS))
os.environ["OMP_NUM_THREADS"] = str(THREADS)
torch.set_num_threads(THREADS)


class TinyNet(nn.Module):
    """conv(3->4) - BN - ReLU - conv(4->4, depthwise) - ReLU - pool - fc: small enough for exact Hessians."""

    def __init__(self, num_classes=3, bn=True):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4) if bn else nn.Identity()
        self.conv2 = nn.Conv2d(4, 4, 3, stride=2, padding=1, groups=4, bias=False)
        self.conv3 = nn.Conv2d(4, 6, 1, bias=False)
        self.fc = nn.Linear(6, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.conv3(torch.relu(self.conv2(x))))
        return self.fc(x.mean((2, 3)))


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return TinyNet()


@pytest.fixture
def synth():
    from mpqlab.data import create_dataset

    return (create_dataset("synthetic", "train", n=256, num_classes=4, image_size=16, seed=1),
            create_dataset("synthetic", "test", n=128, num_classes=4, image_size=16, seed=1))


def make_image_tree(root: Path, classes, per_class: int, size: int, ext=".png", seed=0):
    from PIL import Image
    import numpy as np

    rng = np.random.default_rng(seed)
    for c in classes:
        d = root / c
        d.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(d / f"{i:04d}{ext}")
    return root


def pytest_collection_modifyitems(config, items):
    """The slow end-to-end tests go first (stable order otherwise), so that pytest-xdist's workers start the long
    poles early instead of finishing on one of them while the other worker idles."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
