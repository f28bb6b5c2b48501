"""Seconds per pass of Hessian-vector products over n test images (mpqlab backend, ResNet-20 under a uniform 4-bit
policy) by chunk size (samples per retained gradient graph) and by probe block (probes pushed through at once with
vmap). Decides ``Hessian``'s CPU defaults ``chunk_size=32`` and ``probe_block=1``.

    python benchmarks/hessian_blocks.py [n_images] [products]
"""
import sys
import time

import torch
from _common import table

from mpqlab.core import vectors as V
from mpqlab.analysis.hessian import Hessian
from mpqlab.quant.checkpoints import pretrained
from mpqlab.quant.loading import model_under_policy
from mpqlab.data import create_dataset
from mpqlab.core.runtime import set_threads

set_threads()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
k = int(sys.argv[2]) if len(sys.argv) > 2 else 8
train, test = create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test")
model, _ = model_under_policy("resnet20", str(pretrained("resnet20_cifar10-mini")), 10, uniform="4/4",
                              calib_data=train)
model.eval()
data = test.tensors(n)
rows = []
for chunk, block in [(n, 1), (128, 1), (64, 1), (32, 1), (16, 1), (32, 4), (32, 8)]:
    if chunk > n:
        continue
    h = Hessian(model, data, probe_block=block, chunk_size=chunk)
    g = torch.Generator().manual_seed(0)
    h.hvp(V.rademacher(h.params, g))  # builds and keeps the gradient graphs: not timed
    vs = [V.rademacher(h.params, g) for _ in range(k)]
    t0 = time.perf_counter()
    h._hvp_many(vs)
    rows.append([chunk, block, k, f"{(time.perf_counter() - t0) / k:.2f}"])
base = float(rows[0][3])
for r in rows:
    r.append(f"{base / float(r[3]):.2f}x")
print(f"{n} images, {torch.get_num_threads()} threads, device cpu")
table(rows, ["chunk size", "probe block", "passes", "s / pass", "speed vs one chunk"])
