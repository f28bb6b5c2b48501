"""Hessian trace of ResNet-20 on 256 CIFAR-10 images under a uniform 4-bit policy: wall time of each backend to
reach the same relative error against a long reference run; top-1 eigenvalue time and accuracy for both.

    python benchmarks/hessian.py [n_images] [samples] [--only NAME,NAME] [--rounds 4]

``--only`` keeps the estimators whose names contain one of the given words, any case (pyhessian's is always kept: it is the
baseline). The samples of every estimator are written to benchmarks/results/hessian_samples.json as they are drawn.

Method. Every trace estimator here is a mean of independent samples, one pass over the data each (of Hessian-vector
products; for Gauss-Newton, of back-propagations with labels drawn from the softmax), so its error after n passes is set by the samples' standard deviation s: the median relative error
is 0.6745 s / (sqrt(n) |trace|). For each estimator the script
1. draws ``samples`` samples (default 128) and times them: seconds per pass and s. The estimators take turns in
   ``--rounds`` rounds (default 4; each round every estimator draws samples / rounds), so a slower stretch of a
   shared machine slows them all alike; seconds per pass is an estimator's total time over its samples;
2. predicts n_5%, the passes for a median relative error of 5% against the reference, and the time
   t = (one-off time: the exact head block, with the gradient graphs built before it, or the Gauss-Newton
   estimator's forward graphs and the default's graph check) + n_5% x seconds per pass; the speed-up over pyhessian is the ratio of these times, with a bootstrap 90% interval
   (resampling both estimators' samples);
3. checks the prediction: runs the estimator with ceil(n_5%) passes for 3 seeds and prints their errors and times.
The reference is mpqlab's Hutch++ with 240 shared-probe products (benchmarks/results/hessian_reference.json, reused
while images, checkpoint and policy are unchanged); the pooled mean of all samples is printed beside it.
Top-1 eigenvalue: each method's value, its error against a Lanczos run to tolerance 1e-6, passes and time.
"""
import argparse
import json
import math
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _common import table

from mpqlab.analysis.hessian import Hessian
from mpqlab.quant.checkpoints import pretrained
from mpqlab.quant.loading import model_under_policy
from mpqlab.data import create_dataset
from mpqlab.core.files import write_json
from mpqlab.core.runtime import set_threads

set_threads()
ap = argparse.ArgumentParser()
ap.add_argument("n", type=int, nargs="?", default=256, help="test images")
ap.add_argument("samples", type=int, nargs="?", default=128, help="samples drawn per estimator")
ap.add_argument("--only", default="", help="comma-separated words; keep the estimators whose names hold one")
ap.add_argument("--rounds", type=int, default=4, help="interleaved rounds (1: each estimator's samples in one block)")
args = ap.parse_args()
if args.rounds < 1 or args.samples % args.rounds:
    raise SystemExit(f"--rounds {args.rounds} must be a positive divisor of samples ({args.samples})")
n, N = args.n, args.samples
TARGET = 0.05
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
    r = Hessian(model, data, chunk_size=n).trace(n_probes=240, method="hutch++", seed=100)
    ref = r["trace"]
    write_json(cache, {"key": key, "trace": ref, "std_error": r["std_error"], "time_s": round(time.time() - t0, 1)})
    print(f"reference trace {ref:.2f} ({time.time() - t0:.0f} s), {test.name}, {n} images, "
          f"{torch.get_num_threads()} threads")

ESTIMATORS = {  # name: (backend, Hessian options, trace options)
    "pyhessian Hutchinson": ("pyhessian", {}, {}),
    "mpqlab Hutchinson, shared probe (textbook)": ("mpqlab", {}, {"method": "hutchinson", "decouple": False}),
    "mpqlab Hutchinson, decoupled probes, chunks of 16": ("mpqlab", {}, {"method": "hutchinson"}),
    "mpqlab Hutchinson, decoupled + exact head (exact='auto')": ("mpqlab", {}, {"method": "hutchinson",
                                                                                 "exact": "auto"}),
    # trace()'s default: "auto" takes Gauss-Newton on this network (asserted below), its graph check timed in
    "mpqlab default: auto = Gauss-Newton, sampled labels, chunks of 16": ("mpqlab", {}, {}),
}


if args.only:
    words = [w.strip().lower() for w in args.only.split(",") if w.strip()]  # case does not matter
    ESTIMATORS = {k: v for k, v in ESTIMATORS.items()
                  if k.startswith("pyhessian") or any(w in k.lower() for w in words)}
    if len(ESTIMATORS) == 1:
        raise SystemExit(f"--only {args.only!r} keeps no estimator besides pyhessian's")


def run(name, probes, seed):
    backend, hkw, tkw = ESTIMATORS[name]
    return Hessian(model, data, backend=backend, **hkw).trace(n_probes=probes, seed=seed, **tkw)


def passes_to_target(sd):
    return (0.6745 * sd / (TARGET * abs(ref))) ** 2


drawn = {name: {"samples": [], "pass_s": 0.0, "once_s": []} for name in ESTIMATORS}
draws = {}
for rnd in range(args.rounds):  # the estimators take turns (seeds as one block had them when --rounds 1)
    for i, name in enumerate(ESTIMATORS):
        r = run(name, N // args.rounds, seed=1000 + 100 * rnd + i)
        if name.startswith("mpqlab default") and r["method"] != "gauss-newton":
            raise SystemExit(f"trace()'s default ran {r['method']} here, not gauss-newton: {r['why']}")
        # paid once per call: the chunk graphs + the exact head block, or the Gauss-Newton forward graphs and check
        fixed = r.get("exact_time_s", 0.0) + r.get("forward_time_s", 0.0) + r.get("check_time_s", 0.0)
        d = drawn[name]
        d["samples"] += [x + r.get("exact_part", 0.0) for x in r["samples"]]
        d["pass_s"] += r["time_s"] - fixed
        d["once_s"].append(fixed)
        if rnd == args.rounds - 1:  # one-off time: the median over the rounds' calls
            draws[name] = (np.array(d["samples"]), d["pass_s"] / N, statistics.median(d["once_s"]))
            print(f"  {name}: {N} samples, mean {np.mean(draws[name][0]):.1f}, "
                  f"sd {np.std(d['samples'], ddof=1):.1f}, {draws[name][1]:.2f} s / pass + {draws[name][2]:.2f} s once",
                  flush=True)
    write_json(Path(__file__).parent / "results" / "hessian_samples.json",
               {"key": {**key, "samples": N, "rounds": args.rounds, "threads": torch.get_num_threads()},
                "reference": ref, "estimators": {k: {"samples": [float(x) for x in v["samples"]],
                                                     "s_per_pass": v["pass_s"] / len(v["samples"]),
                                                     "once_s": v["once_s"]} for k, v in drawn.items()}})
pooled = np.concatenate([s for s, _, _ in draws.values()])
print(f"pooled mean of all {len(pooled)} samples {pooled.mean():.1f} +- {pooled.std(ddof=1) / math.sqrt(len(pooled)):.1f} "
      f"(reference {ref:.1f})")

rng = np.random.default_rng(0)
base_s, base_t, _ = draws["pyhessian Hutchinson"]
rows = []
for name, (s, per, fixed) in draws.items():
    need = passes_to_target(s.std(ddof=1))
    t_pred = fixed + need * per
    boot = []
    for _ in range(2000):
        a, b = rng.choice(base_s, len(base_s)), rng.choice(s, len(s))
        boot.append(passes_to_target(a.std(ddof=1)) * base_t / (fixed + passes_to_target(b.std(ddof=1)) * per))
    lo, hi = np.percentile(boot, [5, 95])
    k = max(2, math.ceil(need))
    checks = [run(name, k, seed) for seed in range(3)]
    errs = [abs(c["trace"] - ref) / abs(ref) for c in checks]
    rows.append([name, f"{s.std(ddof=1):.0f}", f"{per:.2f}", f"{need:.1f}", f"{t_pred:.1f}",
                 "1.00x (baseline)" if s is base_s else
                 f"{passes_to_target(base_s.std(ddof=1)) * base_t / t_pred:.2f}x [{lo:.2f}, {hi:.2f}]",
                 k, " ".join(f"{e:.3f}" for e in errs), f"{statistics.median(c['time_s'] for c in checks):.1f}"])
    print(f"  checked {name}", flush=True)
table(rows, ["trace estimator", "sd / sample", "s / pass", f"passes to {TARGET:.0%}", "time to 5% (s)",
             "speed-up vs pyhessian [90% CI]", "check: passes", "check: rel. errors (3 seeds)", "check: median time (s)"])

ref_eig = Hessian(model, data).eigenvalues(top_k=1, max_iter=200, tol=1e-6, seed=7)
lam = ref_eig["eigenvalues"][0]
eig = []
for label, backend, kw in (("pyhessian power iteration", "pyhessian", {}),
                           ("mpqlab power iteration", "mpqlab", {"method": "power"}),
                           ("mpqlab Lanczos", "mpqlab", {"method": "lanczos"})):
    r = Hessian(model, data, backend=backend).eigenvalues(top_k=1, max_iter=100, tol=1e-3, seed=0, **kw)
    eig.append([label, f"{r['eigenvalues'][0]:.3f}", f"{abs(r['eigenvalues'][0] - lam) / abs(lam):.1e}",
                r.get("hvps", "-"), f"{r['time_s']:.1f}"])
for r in eig:
    r.append(f"{float(eig[0][4]) / float(r[4]):.2f}x")
print(f"top eigenvalue reference {lam:.4f} (Lanczos, residual <= 1e-6 |lambda|, {ref_eig['hvps']:.0f} passes)")
table(eig, ["top-1 eigenvalue, tol 1e-3", "value", "rel. error", "passes", "time (s)", "speed-up vs pyhessian"])
