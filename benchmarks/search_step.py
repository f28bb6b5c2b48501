"""Search step time on ResNet-20, batch 128, as ratios to edmips measured in the same run: every method is timed
round-robin (interleaved repeats, so drift in machine load hits them alike), medians over ``--repeats`` rounds of the
per-round ratio with a 90 % confidence interval of that median and the ratios' interquartile range. On a CPU a
repeat's time is the process's CPU time by default (``--clock cpu``): a core taken by another process for a while
then costs nothing, where wall time would charge it to whichever method was running.

    python benchmarks/search_step.py [--device cuda] [--repeats 40] [--clock cpu|wall]
Goals: ASGA at most 2.05x edmips (two passes are the floor); amortised ASGA with the ascent pass every 5 steps
(``edmips+asga/k5``) at most 1.3x edmips; the supernet step at most 1.3x a fixed-policy (uniform W4A4) quantized
model's training step. An amortised method's time per round is the mean step over one block of k steps.
"""
import argparse

import torch
import torch.nn.functional as F
from _common import CLOCK_HELP, default_clock, interleaved, ratio_spread, spread, table

from mpqlab.models import create_model
from mpqlab.quant.policy import Policy
from mpqlab.quant.quantizers import calibrate
from mpqlab.search.loop import Search, SearchConfig
from mpqlab.core.runtime import set_threads

ap = argparse.ArgumentParser()
ap.add_argument("--device", default="cpu")
ap.add_argument("--repeats", type=int, default=40)
ap.add_argument("--clock", choices=("cpu", "wall"), default=None, help=CLOCK_HELP)
args = ap.parse_args()
dev = torch.device(args.device)
set_threads()
# CPU time sums a process's threads: it stands for a step's time only on one thread
args.clock = args.clock or (default_clock(args.device) if torch.get_num_threads() == 1 else "wall")
torch.manual_seed(0)
x, y = torch.randn(128, 3, 32, 32, device=dev), torch.randint(0, 10, (128,), device=dev)


def synced(fn):
    """On a GPU, drain the device after each call so the time is the work's, not the launch's."""
    if dev.type != "cuda":
        return fn

    def run():
        fn()
        torch.cuda.synchronize()
    return run


def search_step(cfg: SearchConfig, k: int = 1):
    """A block of k search steps of one fresh search."""
    search = Search(cfg, create_model("resnet20").to(dev), (3, 32, 32), x)

    def block():
        for _ in range(k):
            search.step(x, y)
    return synced(block)


fns, steps = {}, {}
for method in ("edmips", "edmips+sam", "edmips+asga", "gmpq", "gmpq+asga"):
    obj, _, sharp = method.partition("+")
    fns[method] = search_step(SearchConfig(objective=obj, sharpness=sharp or "none", per_layer_telemetry=True,
                                           device=args.device))
    steps[method] = 1
for k in (2, 5, 10):
    fns[f"edmips+asga/k{k}"] = search_step(SearchConfig(objective="edmips", sharpness="asga", ascent_every=k,
                                                        per_layer_telemetry=True, device=args.device), k)
    steps[f"edmips+asga/k{k}"] = k

fixed = create_model("resnet20")
Policy.uniform(fixed, 4, 4).apply(fixed)
fixed.to(dev)
calibrate(fixed, [x])
opt = torch.optim.SGD(fixed.parameters(), lr=0.01, momentum=0.9)


def fixed_step():
    loss = F.cross_entropy(fixed(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


fns["fixed-policy W4A4 QAT step"], steps["fixed-policy W4A4 QAT step"] = synced(fixed_step), 1
raw = interleaved(fns, repeats=args.repeats, warmup=2, clock=args.clock)
per_step = {m: [t / steps[m] for t in ts] for m, ts in raw.items()}
ed = per_step["edmips"]
rows = [[m, spread(ts, "ms"), ratio_spread(ts, ed)] for m, ts in per_step.items()]
print(f"ResNet-20, batch 128, {args.device}, {torch.get_num_threads()} threads, {args.repeats} interleaved rounds, {args.clock} time; "
      f"supernet (edmips) / fixed-policy step = {ratio_spread(ed, per_step['fixed-policy W4A4 QAT step'])}")
table(rows, ["method", "step: median (IQR)", "vs edmips: median of per-round ratios [90 % CI]; IQR"])
