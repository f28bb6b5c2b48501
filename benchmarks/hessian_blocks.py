"""Seconds per Hessian-vector product when probes go one at a time vs in vmapped blocks (mpqlab backend),
ResNet-20 under a uniform 4-bit policy on n test images. Decides ``Hessian.probe_block``'s CPU default.

    python benchmarks/hessian_blocks.py [n_images] [products]
"""
import sys
import time

import torch
from _common import table

from mpqlab.analysis import vectors as V
from mpqlab.analysis.hessian import Hessian
from mpqlab.checkpoints import pretrained
from mpqlab.commands import model_under_policy
from mpqlab.data import create_dataset
from mpqlab.train import set_threads

set_threads()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
k = int(sys.argv[2]) if len(sys.argv) > 2 else 8
train, test = create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test")
model, _ = model_under_policy("resnet20", str(pretrained("resnet20_cifar10-mini")), 10, uniform="4/4",
                              calib_data=train)
model.eval()
data = test.tensors(n)
rows = []
for block in (1, 4, 8):
    h = Hessian(model, data, probe_block=block)
    g = torch.Generator().manual_seed(0)
    h.hvp(V.rademacher(h.params, g))  # builds and keeps the gradient graph: not timed
    vs = [V.rademacher(h.params, g) for _ in range(k)]
    t0 = time.perf_counter()
    h._hvp_many(vs)
    rows.append([block, k, f"{(time.perf_counter() - t0) / k:.2f}"])
base = float(rows[0][2])
for r in rows:
    r.append(f"{float(r[2]) / base:.2f}x")
print(f"{n} images, {torch.get_num_threads()} threads, device cpu")
table(rows, ["probe block", "products", "s / product", "vs block 1"])
