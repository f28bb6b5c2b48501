"""Hessian trace of ResNet-20 on 256 CIFAR-10 images under a uniform 4-bit policy: wall time of each backend
to reach the same relative error against a long reference run; top-1 eigenvalue time for both.

    python benchmarks/hessian.py [n_images]
The reference is mpqlab's Hutch++ with 240 products. For each estimator the number of products doubles until the
median relative error over 3 seeds is at most 5%; the time reported is the median time at that size.
"""
import statistics
import sys
import time

import torch
from _common import table

from mpqlab.analysis.hessian import Hessian
from mpqlab.commands import model_under_policy
from mpqlab.checkpoints import pretrained
from mpqlab.data import create_dataset
from mpqlab.train import set_threads

set_threads()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
try:
    train, test, ck = create_dataset("cifar10", "train"), create_dataset("cifar10", "test"), pretrained("resnet20_cifar10")
except Exception:
    train, test, ck = (create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test"),
                       pretrained("resnet20_cifar10-mini"))
model, _ = model_under_policy("resnet20", str(ck), 10, uniform="4/4", calib_data=train)
model.eval()
data = test.tensors(n)
t0 = time.time()
ref = Hessian(model, data).trace(n_probes=240, method="hutch++", seed=100)["trace"]
print(f"reference trace {ref:.2f} ({time.time() - t0:.0f} s), {test.name}, {n} images, {torch.get_num_threads()} threads")
TARGET = 0.05
rows = []
for label, backend, method in (("pyhessian Hutchinson", "pyhessian", None), ("mpqlab Hutchinson", "mpqlab", "hutchinson"),
                               ("mpqlab Hutch++", "mpqlab", "hutch++")):
    probes = 6
    while True:
        errs, ts = [], []
        for seed in range(3):
            h = Hessian(model, data, backend=backend)
            kw = {"method": method} if method else {}
            r = h.trace(n_probes=probes, seed=seed, **kw)
            errs.append(abs(r["trace"] - ref) / abs(ref))
            ts.append(r["time_s"])
        if statistics.median(errs) <= TARGET or probes >= 96:
            break
        probes *= 2
    rows.append([label, probes, f"{statistics.median(errs):.3f}", f"{statistics.median(ts):.1f}"])
base = float(rows[0][3])
for r in rows:
    r.append(f"{base / float(r[3]):.2f}x")
table(rows, ["trace estimator", "products", "median rel. error", "time (s)", "speed-up vs pyhessian"])
eig = []
for backend in ("pyhessian", "mpqlab"):
    r = Hessian(model, data, backend=backend).eigenvalues(top_k=1, max_iter=100, tol=1e-3, seed=0)
    eig.append([backend, f"{r['eigenvalues'][0]:.3f}", f"{r['time_s']:.1f}"])
table(eig, ["top-1 eigenvalue", "value", "time (s)"])
