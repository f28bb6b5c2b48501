"""A 21x21 2-D loss landscape of ResNet-20 (uniform W4A4) vs the bare cost of its 441 forward passes.

    python benchmarks/landscape.py [n_images]
Goal: landscape wall time at most 1.15x the bare forward passes over the same evaluation set.
"""
import sys
import time

import numpy as np
import torch
from _common import table

from mpqlab.analysis.landscape import evaluate_fixed, random_direction, slice_2d
from mpqlab.quant.checkpoints import pretrained
from mpqlab.quant.loading import model_under_policy
from mpqlab.data import create_dataset
from mpqlab.core.runtime import set_threads

set_threads()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
train, test = create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test")
model, _ = model_under_policy("resnet20", str(pretrained("resnet20_cifar10-mini")), 10, uniform="4/4",
                              calib_data=train)
model.eval()
x, y = test.tensors(n)
grid = np.linspace(-1, 1, 21)
evaluate_fixed(model, x, y)  # warm-up
t0 = time.perf_counter()
for _ in range(441):
    evaluate_fixed(model, x, y)
bare = time.perf_counter() - t0
t0 = time.perf_counter()
slice_2d(model, (x, y), random_direction(model, 0), random_direction(model, 1), grid, grid)
land = time.perf_counter() - t0
print(f"{n} images, {torch.get_num_threads()} threads")
table([["441 bare forward passes", f"{bare:.1f}"], ["21x21 landscape", f"{land:.1f}"], ["ratio", f"{land / bare:.3f}x"]],
      ["what", "time (s)"])
