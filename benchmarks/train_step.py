"""One ResNet-20 training step (batch 128, CIFAR-size images, SGD) as ``mpqlab train`` took it in float32
(channels-last memory format, eager) against the alternatives: the default memory format, torch.compile, and
bfloat16 autocast (``--precision bf16``, :mod:`mpqlab.core.precision`; what ``auto`` picks on a CPU with AMX).
Interleaved repeats, medians with interquartile ranges, ratios per round. Goal: a variant >= 1.5x the float32
step; correctness: the loss curve over ``--check-steps`` steps from the same weights and batches (max relative
difference printed; bfloat16's unit roundoff is 2^-8 = 3.9e-3, so a bf16 curve differs at that scale).

    OMP_NUM_THREADS=1 python benchmarks/train_step.py [--repeats 100] [--threads 1]
"""
import argparse
import copy

import torch
import torch.nn.functional as F

from _common import CLOCK_HELP, interleaved, ratio_spread, spread, table

from mpqlab.models import create_model  # noqa: E402
from mpqlab.core.precision import autocast, native_bf16  # noqa: E402
from mpqlab.core.runtime import tune_allocator  # noqa: E402


def make_step(model, channels_last: bool, compiled: bool, precision: str, x, y):
    model = copy.deepcopy(model)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fwd = torch.compile(model) if compiled else model
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
    model.train()

    def step(xb=x, yb=y):
        opt.zero_grad(set_to_none=True)
        with autocast(precision, "cpu"):
            out = fwd(xb)
        loss = F.cross_entropy(out.float(), yb)
        loss.backward()
        opt.step()
        return loss.detach()
    return step


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=100)  # 40 left two runs 5.3 % apart on bf16; 100 gave 1.6 %
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--check-steps", type=int, default=10)
    ap.add_argument("--clock", choices=("cpu", "wall"), default=None,
                    help=CLOCK_HELP + "; with more than one thread CPU time sums the threads, so 'wall' is the default")
    a = ap.parse_args()
    if a.repeats < 2:
        ap.error(f"--repeats must be at least 2 (an interquartile range needs two), got {a.repeats}")
    a.clock = a.clock or ("cpu" if a.threads == 1 else "wall")
    torch.set_num_threads(a.threads)
    tuned = tune_allocator()  # as every mpqlab run does (mpqlab.core.runtime.set_threads)
    torch.manual_seed(0)
    model = create_model("resnet20")
    x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    variants = {  # name: (channels_last, compiled, precision)
        "fp32, eager, channels-last": (True, False, "fp32"), "eager, default layout": (False, False, "fp32"),
        "compiled, channels-last": (True, True, "fp32"), "compiled, default layout": (False, True, "fp32"),
        "bf16 autocast, eager, channels-last": (True, False, "bf16"),
        "bf16 autocast, compiled, channels-last": (True, True, "bf16")}
    steps = {k: make_step(model, *v, x, y) for k, v in variants.items()}
    times = interleaved(steps, repeats=a.repeats, warmup=3, clock=a.clock)
    base = times["fp32, eager, channels-last"]
    print(f"ResNet-20 training step, batch 128, {a.threads} thread(s), torch {torch.__version__}, "
          f"{a.repeats} interleaved repeats, {a.clock} time; native bf16 (AMX): {native_bf16('cpu')}, "
          f"allocator tuned: {tuned}")
    table([[k, spread(t), ratio_spread(base, t)] for k, t in times.items()],
          ["variant", "median step (IQR)", "speed-up vs fp32 eager (IQR)"])
    gen = torch.Generator().manual_seed(1)  # the same batches for every variant
    batches = [(torch.randn(128, 3, 32, 32, generator=gen), torch.randint(0, 10, (128,), generator=gen))
               for _ in range(a.check_steps)]
    curves = {}
    for k, v in variants.items():
        step = make_step(model, *v, x, y)
        curves[k] = [float(step(xb.contiguous(memory_format=torch.channels_last) if v[0] else xb, yb))
                     for xb, yb in batches]
    ref = curves["fp32, eager, channels-last"]
    table([[k, f"{c[0]:.4f} -> {c[-1]:.4f}", f"{max(abs(p - q) / abs(q) for p, q in zip(c, ref)):.1e}"]
           for k, c in curves.items()], ["variant", f"loss, step 1 -> {a.check_steps}", "max rel. diff vs fp32 eager"])


if __name__ == "__main__":
    main()
