"""mpqlab's Hessian trace beside the field's tools: ResNet-20 (the CIFAR-10 checkpoint), 256 CIFAR-10 test images,
eval BatchNorm, mean cross-entropy, weights only; float by default (``--policy 4/4``: uniform W4A4).

    pip install -e .[anchors]        # curvlinops-for-pytorch, hessian-eigenthings (optional; never required)
    python benchmarks/hessian_anchors.py [--policy float|4/4] [--rounds 5] [--samples 8] [--seeds 3]

Why float by default: curvlinops takes forward-over-reverse products through torch.func, where mpqlab's fused
activation quantizer gives way to the unfused composition; the two differ by about one ulp, enough to flip a
rounding downstream, and a quantized network's Hessian follows such flips (W4A4: v^T H v 9 % apart). On the float
model every tool computes the same function, so the agreement check (1.) can hold them to float rounding.

Anchors: PyHessian 0.1 (always), curvlinops (``HessianLinearOperator``; Hutchinson, Hutch++, XTrace) and
hessian-eigenthings (``HessianOperator``; Hutchinson, Hutch++), each where it is installed.
1. Agreement: v^T H v for one Rademacher v from every tool (relative difference to mpqlab's): the tools measure
   the same matrix.
2. Seconds per pass (one Hessian-vector product over the 256 images), timed round-robin over ``--rounds`` rounds;
   curvlinops and hessian-eigenthings at batch 16, 64 and 256 (their fastest used below), PyHessian on one batch
   of 256 with its graph kept, as mpqlab's adapter runs it.
3. Time to a 5 % median trace error against the long reference of benchmarks/hessian.py. Hutchinson estimators
   are means of independent samples: passes = (0.6745 sd / (0.05 |trace|))^2 from their sample sd. The textbook
   (one shared probe) samples of every tool have one distribution, so their sd is pooled over the tools (each
   draws ``--samples`` with its own code). mpqlab's decoupled Hutchinson (probes per chunk) is its own estimator,
   and so is its default, trace(method="auto"), which takes Gauss-Newton here (sampled-label back-propagations;
   its seconds per pass from its own call).
   Hutch++ and XTrace are not sample means: each runs up a ladder of budgets (6, 12, 24, 48 matvecs), ``--seeds``
   seeds each, until its median error is at most 5 % (its time: the median wall time at that budget), or until
   it takes twice the time of the fastest estimator so far (it cannot win; "> m" is printed).
The reference: mpqlab's Hutch++ with 240 products over the images in one chunk (cached in
benchmarks/results/hessian_anchors_reference.json with its key). The last lines compare the fastest mpqlab
estimator with PyHessian and with the fastest anchor.
"""
import argparse
import importlib.util
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from _common import interleaved, spread, table

from mpqlab.analysis.hessian import Hessian
from mpqlab.analysis.params import select_params
from mpqlab.quant.checkpoints import pretrained
from mpqlab.data import create_dataset
from mpqlab.core.files import write_json
from mpqlab.quant.loading import model_under_policy
from mpqlab.core.runtime import set_threads

TARGET = 0.05
ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("--policy", default="float", choices=["float", "4/4"], help="float, or uniform W4A4")
ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the per-pass timing")
ap.add_argument("--samples", type=int, default=8, help="textbook Hutchinson samples drawn by each tool")
ap.add_argument("--mpqlab-samples", type=int, default=24, help="samples of mpqlab's default estimator")
ap.add_argument("--seeds", type=int, default=3, help="runs of each Hutch++ / XTrace budget")
ap.add_argument("--n", type=int, default=256, help="test images")
a = ap.parse_args()
set_threads()

try:
    train, test, ck = create_dataset("cifar10", "train"), create_dataset("cifar10", "test"), pretrained("resnet20_cifar10")
except Exception:
    train, test, ck = (create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test"),
                       pretrained("resnet20_cifar10-mini"))
model, _ = model_under_policy("resnet20", str(ck), 10, uniform=None if a.policy == "float" else a.policy,
                              calib_data=train)
model.eval()
x, y = test.tensors(a.n)
params = [p for _, p in select_params(model)]
key = {"data": test.name, "n": a.n, "checkpoint": ck.name, "policy": a.policy, "products": 240, "seed": 100}
cache = Path(__file__).parent / "results" / "hessian_anchors_reference.json"
saved = json.loads(cache.read_text()) if cache.is_file() else {}
if saved.get("key") == key:
    REF = saved["trace"]
else:  # mpqlab's Hutch++ with 240 products (its standard error printed); saved for the next run
    t0 = time.time()
    r = Hessian(model, (x, y), chunk_size=a.n).trace(n_probes=240, method="hutch++", seed=100)
    REF = r["trace"]
    print(f"reference trace computed: {REF:.1f} +- {r['std_error']:.1f} ({time.time() - t0:.0f} s)")
    write_json(cache, {"key": key, "trace": REF, "std_error": r["std_error"], "time_s": round(time.time() - t0, 1)})
have = {m: importlib.util.find_spec(m) is not None for m in ("curvlinops", "hessian_eigenthings")}
print(f"{test.name}, {a.n} images, {ck.name}, {'float' if a.policy == 'float' else 'uniform W' + a.policy.replace('/', 'A')}, {sum(p.numel() for p in params)} weights, "
      f"{torch.get_num_threads()} threads; reference trace {REF:.1f}; installed: "
      + ", ".join(f"{m} {'yes' if ok else 'no'}" for m, ok in have.items()))


def batches(bs):
    return [(x[i:i + bs], y[i:i + bs]) for i in range(0, a.n, bs)]


def flat(vs):
    return torch.cat([v.reshape(-1) for v in vs])


def unflat(v):
    out, i = [], 0
    for p in params:
        out.append(v[i:i + p.numel()].view_as(p))
        i += p.numel()
    return out


# ------------------------------------------------------------------------------------- one matvec per tool
mp = Hessian(model, (x, y))
MATVEC = {"mpqlab (chunks of 16, graphs kept)": lambda v: flat(mp.hvp(unflat(v)))}


def pyhessian_matvec():
    """PyHessian 0.1 as mpqlab's adapter runs it: one batch, its gradient graph built once, the weights only (the
    quantizers' steps frozen)."""
    from pyhessian import hessian as PH  # noqa: N814
    from pyhessian.utils import hessian_vector_product

    chosen = {id(p) for p in params}
    for p in model.parameters():
        if id(p) not in chosen:
            p.requires_grad_(False)
    ph = PH(model, torch.nn.CrossEntropyLoss(), data=(x, y), cuda=False)
    for p in model.parameters():
        p.requires_grad_(True)
    return lambda v: flat(hessian_vector_product(ph.gradsH, ph.params, unflat(v)))


MATVEC["pyhessian 0.1 (one batch, graph kept)"] = pyhessian_matvec()
CL, HE = {}, {}
if have["curvlinops"]:
    from curvlinops import HessianLinearOperator

    for bs in (16, 64, 256):
        CL[bs] = HessianLinearOperator(model, torch.nn.CrossEntropyLoss(), params, batches(bs),
                                       check_deterministic=False)
        MATVEC[f"curvlinops, batch {bs}"] = (lambda op: lambda v: op @ v)(CL[bs])
if have["hessian_eigenthings"]:
    import hessian_eigenthings as he

    names = {id(p) for p in params}
    for bs in (16, 64, 256):
        HE[bs] = he.HessianOperator(model, batches(bs), he.supervised_loss(torch.nn.CrossEntropyLoss()),
                                    param_filter=lambda n, p: id(p) in names)
        MATVEC[f"hessian-eigenthings, batch {bs}"] = (lambda op: lambda v: op.matvec(v))(HE[bs])

g = torch.Generator().manual_seed(0)
v0 = torch.randint(0, 2, (sum(p.numel() for p in params),), generator=g).float() * 2 - 1
quad = {k: float(v0 @ mv(v0)) for k, mv in MATVEC.items()}
base = quad["mpqlab (chunks of 16, graphs kept)"]
print(f"\n1. v^T H v for one Rademacher v (mpqlab {base:.3f})")
table([[k, f"{q:.3f}", f"{abs(q - base) / abs(base):.1e}"] for k, q in quad.items()],
      ["tool", "v^T H v", "rel. diff vs mpqlab"])

times = interleaved({k: (lambda mv: lambda: mv(v0))(mv) for k, mv in MATVEC.items()}, repeats=a.rounds, warmup=1)
per = {k: statistics.median(t) for k, t in times.items()}
print(f"\n2. seconds per pass, {a.rounds} interleaved rounds")
table([[k, spread(t)] for k, t in times.items()], ["tool", "s / pass: median (IQR)"])


def best(prefix):
    rows = {k: t for k, t in per.items() if k.startswith(prefix)}
    return min(rows.items(), key=lambda kv: kv[1]) if rows else (None, None)


def passes_to_target(sd):
    return (0.6745 * sd / (TARGET * abs(REF))) ** 2


# ------------------------------------------------------------------------ 3. time to a 5 % trace error
textbook = {}
textbook["mpqlab"] = mp.trace(n_probes=a.samples, seed=11, decouple=False, exact=None)["samples"]
textbook["pyhessian"] = Hessian(model, (x, y), backend="pyhessian").trace(n_probes=a.samples, seed=12)["samples"]
if have["curvlinops"]:
    from curvlinops import hutchinson_trace, hutchpp_trace, xtrace

    op = CL[int(best("curvlinops")[0].split()[-1])]
    torch.manual_seed(13)
    textbook["curvlinops"] = [float(hutchinson_trace(op, 1)) for _ in range(a.samples)]
if have["hessian_eigenthings"]:
    op_he = HE[int(best("hessian-eigenthings")[0].split()[-1])]
    textbook["hessian-eigenthings"] = [float(he.hutchinson(op_he, num_samples=1, seed=14 + i).estimate)
                                       for i in range(a.samples)]
pooled = np.concatenate([np.asarray(s, dtype=float) for s in textbook.values()])
sd_tb = pooled.std(ddof=1)
dflt = mp.trace(n_probes=a.mpqlab_samples, seed=21, method="hutchinson")
sd_mp = float(np.std(dflt["samples"], ddof=1))
t_mp = dflt.get("exact_time_s", 0.0) + passes_to_target(sd_mp) * per["mpqlab (chunks of 16, graphs kept)"]
rows = [["mpqlab Hutchinson, decoupled probes", "mpqlab (chunks of 16, graphs kept)", f"{sd_mp:.0f}",
         f"{passes_to_target(sd_mp):.1f}", f"{t_mp:.1f}", "1.00x"]]
# mpqlab's default, trace(method="auto"): Gauss-Newton on this piecewise-linear network (tr(H) = tr(G); sampled-label
# back-propagations instead of Hessian-vector products): its own sd and seconds per pass, measured in the same call,
# plus the one-off forward graphs and graph check
gn = Hessian(model, (x, y)).trace(n_probes=a.mpqlab_samples, seed=22)
if gn["method"] != "gauss-newton":
    raise SystemExit(f"trace()'s default ran {gn['method']} here, not gauss-newton: {gn['why']}")
once = gn["forward_time_s"] + gn["check_time_s"]
sd_gn = float(np.std(gn["samples"], ddof=1))
s_gn = (gn["time_s"] - once) / a.mpqlab_samples
t_gn = once + passes_to_target(sd_gn) * s_gn
rows.append(["mpqlab trace() default (auto: Gauss-Newton)", f"back-propagation, chunks of 16 ({s_gn:.2f} s / pass, "
             f"+{once:.1f} s once)", f"{sd_gn:.0f}", f"{passes_to_target(sd_gn):.1f}", f"{t_gn:.1f}",
             f"{t_mp / t_gn:.2f}x"])
for tool, prefix in (("mpqlab", "mpqlab"), ("pyhessian", "pyhessian"), ("curvlinops", "curvlinops"),
                     ("hessian-eigenthings", "hessian-eigenthings")):
    if tool not in textbook:
        continue
    name, s = best(prefix)
    t = passes_to_target(sd_tb) * s
    rows.append([f"{tool} Hutchinson (shared probe)", name, f"{sd_tb:.0f} (pooled)", f"{passes_to_target(sd_tb):.1f}",
                 f"{t:.1f}", f"{t_mp / t:.2f}x"])
print(f"\n3a. Hutchinson estimators: passes and time to a {TARGET:.0%} median error (textbook sd pooled over "
      f"{len(pooled)} samples from {len(textbook)} tools; tool means: "
      + ", ".join(f"{k} {np.mean(v):.0f}" for k, v in textbook.items()) + ")")
table(rows, ["estimator", "matvec used", "sd / sample", f"passes to {TARGET:.0%}", "time (s)",
             "mpqlab decoupled Hutchinson's time / this"])
rows_3a = rows

LADDER = (6, 12, 24, 48)  # matvecs: multiples of 3 (Hutch++) and of 2 (XTrace)
budgeted = [("mpqlab Hutch++ (graphs kept)", "mpqlab",
             lambda m, seed: Hessian(model, (x, y)).trace(n_probes=m, method="hutch++", seed=seed)["trace"])]
if have["curvlinops"]:
    budgeted += [("curvlinops Hutch++", "curvlinops", lambda m, seed: hutchpp_trace(op, m)),
                 ("curvlinops XTrace", "curvlinops", lambda m, seed: xtrace(op, m))]
if have["hessian_eigenthings"]:
    budgeted.append(("hessian-eigenthings Hutch++", "hessian-eigenthings",
                     lambda m, seed: he.hutch_plus_plus(op_he, num_matvecs=m, seed=seed).estimate))
rows, reached = [], {r[0]: float(r[4]) for r in rows_3a}
for label, tool, fn in budgeted:
    for m in LADDER:
        errs, secs = [], []
        for seed in range(a.seeds):
            torch.manual_seed(seed)
            t0 = time.perf_counter()
            errs.append(abs(float(fn(m, seed)) - REF) / abs(REF))
            secs.append(time.perf_counter() - t0)
        ok = statistics.median(errs) <= TARGET
        if ok or m == LADDER[-1] or statistics.median(secs) > 2 * min(reached.values()):
            break  # reached, or already twice as slow as the fastest estimator so far: it cannot win
    if ok:
        reached[label] = statistics.median(secs)
    rows.append([label, m if ok else f"> {m}", " ".join(f"{e:.3f}" for e in errs), f"{statistics.median(secs):.1f}"])
    print(f"  {label}: {m} matvecs, median error {statistics.median(errs):.3f}", flush=True)
print(f"\n3b. Hutch++ / XTrace: the smallest budget of {LADDER} whose median error over {a.seeds} seeds is "
      f"<= {TARGET:.0%}, and its median wall time (fresh objects: graph building included)")
table(rows, ["estimator", f"matvecs to {TARGET:.0%}", "rel. errors at that budget", "time (s)"])

mine = {k: t for k, t in reached.items() if k.startswith("mpqlab")}
theirs = {k: t for k, t in reached.items() if not k.startswith("mpqlab")}
bm, bt = min(mine.items(), key=lambda kv: kv[1])
print(f"\nfastest to {TARGET:.0%}: mpqlab {bm} {bt:.1f} s; pyhessian Hutchinson "
      f"{reached['pyhessian Hutchinson (shared probe)']:.1f} s ({reached['pyhessian Hutchinson (shared probe)'] / bt:.2f}x)")
if len(theirs) > 1:
    ba, bat = min(((k, t) for k, t in theirs.items()), key=lambda kv: kv[1])
    print(f"best anchor: {ba} {bat:.1f} s; mpqlab's best / best anchor's time = {bt / bat:.2f} "
          f"({'mpqlab no slower' if bt <= bat else 'the anchor is faster'})")
