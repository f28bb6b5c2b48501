"""Search step time on ResNet-20, batch 128, CPU, as ratios to edmips measured in the same run (medians).

    python benchmarks/search_step.py
Goals: ASGA at most 2.05x edmips (two passes are the floor); amortised ASGA with the ascent pass every 5 steps
(``edmips+asga/k5``) at most 1.3x edmips; the supernet step at most 1.3x a fixed-policy (uniform W4A4) quantized
model's training step. An amortised method's time is the mean step over blocks of k steps (median of 5 blocks).
"""
import torch
import torch.nn.functional as F
from _common import median_time, table

from mpqlab.models import create_model
from mpqlab.policy import Policy
from mpqlab.quant import calibrate
from mpqlab.search.loop import SearchConfig, build_search, search_step
from mpqlab.runtime import set_threads

set_threads()
torch.manual_seed(0)
x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
times = {}
for method in ("edmips", "edmips+sam", "edmips+asga", "gmpq", "gmpq+asga"):
    obj, _, sharp = method.partition("+")
    cfg = SearchConfig(objective=obj, sharpness=sharp or "none", per_layer_telemetry=True)
    net, objective, wopt, aopt, alphas, budget = build_search(cfg, create_model("resnet20"), (3, 32, 32), x)
    times[method] = median_time(lambda: search_step(cfg, net, objective, wopt, aopt, alphas, x, y, budget), 5, 2)
for k in (2, 5, 10):
    cfg = SearchConfig(objective="edmips", sharpness="asga", ascent_every=k, per_layer_telemetry=True)
    net, objective, wopt, aopt, alphas, budget = build_search(cfg, create_model("resnet20"), (3, 32, 32), x)

    def block():
        for _ in range(k):
            search_step(cfg, net, objective, wopt, aopt, alphas, x, y, budget)

    times[f"edmips+asga/k{k}"] = median_time(block, 5, 1) / k

fixed = create_model("resnet20")
Policy.uniform(fixed, 4, 4).apply(fixed)
calibrate(fixed, [x])
opt = torch.optim.SGD(fixed.parameters(), lr=0.01, momentum=0.9)


def fixed_step():
    loss = F.cross_entropy(fixed(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()


t_fixed = median_time(fixed_step, 5, 2)
rows = [[m, f"{t * 1000:.0f}", f"{t / times['edmips']:.2f}x"] for m, t in times.items()]
rows.append(["fixed-policy W4A4 QAT step", f"{t_fixed * 1000:.0f}", f"{t_fixed / times['edmips']:.2f}x"])
print(f"ResNet-20, batch 128, {torch.get_num_threads()} threads; supernet (edmips) / fixed-policy step = "
      f"{times['edmips'] / t_fixed:.2f}x")
table(rows, ["method", "step (ms, median of 5)", "vs edmips"])
