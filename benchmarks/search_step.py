"""Search step time on ResNet-20, batch 128, CPU, as ratios to edmips measured in the same run (medians).

    python benchmarks/search_step.py [--device cuda] [--repeats 5]
Goals: ASGA at most 2.05x edmips (two passes are the floor); amortised ASGA with the ascent pass every 5 steps
(``edmips+asga/k5``) at most 1.3x edmips; the supernet step at most 1.3x a fixed-policy (uniform W4A4) quantized
model's training step. An amortised method's time is the mean step over blocks of k steps (median of 5 blocks).
"""
import argparse

import torch
import torch.nn.functional as F
from _common import median_time, table

from mpqlab.models import create_model
from mpqlab.policy import Policy
from mpqlab.quant import calibrate
from mpqlab.search.loop import Search, SearchConfig
from mpqlab.runtime import set_threads

ap = argparse.ArgumentParser()
ap.add_argument("--device", default="cpu")
ap.add_argument("--repeats", type=int, default=5)
args = ap.parse_args()
dev = torch.device(args.device)
set_threads()
torch.manual_seed(0)
x, y = torch.randn(128, 3, 32, 32, device=dev), torch.randint(0, 10, (128,), device=dev)


def timed(fn, repeats, warmup):
    """median_time, with the device drained before and after each call on a GPU."""
    if dev.type != "cuda":
        return median_time(fn, repeats, warmup)

    def synced():
        fn()
        torch.cuda.synchronize()

    torch.cuda.synchronize()
    return median_time(synced, repeats, warmup)

times = {}
for method in ("edmips", "edmips+sam", "edmips+asga", "gmpq", "gmpq+asga"):
    obj, _, sharp = method.partition("+")
    cfg = SearchConfig(objective=obj, sharpness=sharp or "none", per_layer_telemetry=True, device=args.device)
    search = Search(cfg, create_model("resnet20").to(dev), (3, 32, 32), x)
    times[method] = timed(lambda: search.step(x, y), args.repeats, 2)
for k in (2, 5, 10):
    cfg = SearchConfig(objective="edmips", sharpness="asga", ascent_every=k, per_layer_telemetry=True,
                       device=args.device)
    search = Search(cfg, create_model("resnet20").to(dev), (3, 32, 32), x)

    def block():
        for _ in range(k):
            search.step(x, y)

    times[f"edmips+asga/k{k}"] = timed(block, args.repeats, 1) / k

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


t_fixed = timed(fixed_step, args.repeats, 2)
rows = [[m, f"{t * 1000:.0f}", f"{t / times['edmips']:.2f}x"] for m, t in times.items()]
rows.append(["fixed-policy W4A4 QAT step", f"{t_fixed * 1000:.0f}", f"{t_fixed / times['edmips']:.2f}x"])
print(f"ResNet-20, batch 128, {args.device}, {torch.get_num_threads()} threads; supernet (edmips) / fixed-policy step = "
      f"{times['edmips'] / t_fixed:.2f}x")
table(rows, ["method", f"step (ms, median of {args.repeats})", "vs edmips"])
