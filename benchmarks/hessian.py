"""Hessian trace of ResNet-20 on 256 CIFAR-10 images under a uniform 4-bit policy: wall time of each backend
to reach the same relative error against a long reference run; top-1 eigenvalue time for both.

    python benchmarks/hessian.py [n_images] [max_products]
The reference is mpqlab's Hutch++ with 240 products (kept in benchmarks/results/hessian_reference.json and reused
while the images, checkpoint and policy are the same). For pyhessian's Hutchinson and mpqlab's Hutch++ the number of
products doubles from 6 until the median relative error over 3 seeds is at most 5%; mpqlab's Hutchinson (the same
estimator as pyhessian's) runs at pyhessian's final size. The time reported is the median time at that size.
"""
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from _common import table

from mpqlab.io import write_json

from mpqlab.analysis.hessian import Hessian
from mpqlab.commands import model_under_policy
from mpqlab.checkpoints import pretrained
from mpqlab.data import create_dataset
from mpqlab.train import set_threads

set_threads()
n = int(sys.argv[1]) if len(sys.argv) > 1 else 256
MAX_PRODUCTS = int(sys.argv[2]) if len(sys.argv) > 2 else 96  # a ladder that has not reached the target stops here
try:
    train, test, ck = create_dataset("cifar10", "train"), create_dataset("cifar10", "test"), pretrained("resnet20_cifar10")
except Exception:
    train, test, ck = (create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test"),
                       pretrained("resnet20_cifar10-mini"))
model, _ = model_under_policy("resnet20", str(ck), 10, uniform="4/4", calib_data=train)
model.eval()
data = test.tensors(n)
key = {"data": test.name, "n": n, "checkpoint": ck.name, "policy": "uniform 4/4", "products": 240, "seed": 100}
cache = Path(__file__).parent / "results" / "hessian_reference.json"
saved = json.loads(cache.read_text()) if cache.is_file() else {}
if saved.get("key") == key:
    ref = saved["trace"]
    print(f"reference trace {ref:.2f} (from {cache.name}), {test.name}, {n} images, {torch.get_num_threads()} threads")
else:
    t0 = time.time()
    ref = Hessian(model, data).trace(n_probes=240, method="hutch++", seed=100)["trace"]
    write_json(cache, {"key": key, "trace": ref, "time_s": round(time.time() - t0, 1)})
    print(f"reference trace {ref:.2f} ({time.time() - t0:.0f} s), {test.name}, {n} images, {torch.get_num_threads()} threads")
TARGET = 0.05


def at_size(backend, method, probes):
    errs, ts = [], []
    for seed in range(3):
        kw = {"method": method} if method else {}
        r = Hessian(model, data, backend=backend).trace(n_probes=probes, seed=seed, **kw)
        errs.append(abs(r["trace"] - ref) / abs(ref))
        ts.append(r["time_s"])
    print(f"  {backend} {method or ''} {probes} products: errors {[round(e, 3) for e in errs]}, times {ts}", flush=True)
    return statistics.median(errs), statistics.median(ts)


def ladder(backend, method):
    probes = 6
    while True:
        err, t = at_size(backend, method, probes)
        if err <= TARGET or probes >= MAX_PRODUCTS:
            return probes, err, t
        probes *= 2


rows = []
p_py, e, t = ladder("pyhessian", None)
rows.append(["pyhessian Hutchinson", p_py, f"{e:.3f}", f"{t:.1f}"])
e, t = at_size("mpqlab", "hutchinson", p_py)
rows.append(["mpqlab Hutchinson", p_py, f"{e:.3f}", f"{t:.1f}"])
p, e, t = ladder("mpqlab", "hutch++")
rows.append(["mpqlab Hutch++", p, f"{e:.3f}", f"{t:.1f}"])
base = float(rows[0][3])
for r in rows:
    reached = float(r[2]) <= TARGET
    r.append(f"{base / float(r[3]):.2f}x" if reached else "target not reached")
    r.append(f"{float(r[3]) / r[1]:.2f}")
table(rows, ["trace estimator", "products", "median rel. error", "time (s)", f"speed-up vs pyhessian at {TARGET:.0%}",
             "s / product"])
eig = []
for backend in ("pyhessian", "mpqlab"):
    r = Hessian(model, data, backend=backend).eigenvalues(top_k=1, max_iter=100, tol=1e-3, seed=0)
    eig.append([backend, f"{r['eigenvalues'][0]:.3f}", f"{r['time_s']:.1f}"])
eig[1].append(f"{float(eig[0][2]) / float(eig[1][2]):.2f}x")
eig[0].append("1.00x")
table(eig, ["top-1 eigenvalue", "value", "time (s)", "speed-up vs pyhessian"])
