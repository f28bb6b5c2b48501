"""Per model, on one device: the search step of EdMIPS and EdMIPS+ASGA in three arithmetics, the ASGA / EdMIPS
ratio, peak memory, one Hessian-vector product against one gradient, and one whole grid cell.

    python benchmarks/gpu_models.py [--device cuda] [--models resnet20,resnet18,mobilenet_v2] [--repeats 10]
                                    [--batch 0] [--image-size 0] [--skip-cell]

The arithmetics: ``eager`` (float32, the quantizer kernels eager, ``MPQLAB_COMPILE=0``), ``compiled`` (float32, the
quantizer kernels through torch.compile), ``fast`` (compiled, bfloat16 autocast, channels-last: ``SearchConfig``'s
``precision="bf16"`` and ``channels_last=True``). Steps are timed round-robin over the six (method, arithmetic)
pairs, ``--repeats`` rounds after two warm-up steps each, on the wall clock with the device drained after each
step; medians with their interquartile range. ResNet-20 runs CIFAR-sized inputs (32 px, 10 classes, batch 128);
the torchvision models ImageNet-sized ones (224 px, 1,000 classes, batch 64) unless ``--image-size`` / ``--batch``
say otherwise. Peak memory is the device's (``torch.cuda.max_memory_allocated``) per (method, arithmetic); on a CPU
it is not separable per configuration and reads "n/a". The Hessian-vector product and the gradient are taken on
the float model at the same batch (mpqlab's :class:`~mpqlab.analysis.hessian.Hessian`, one chunk). The grid cell is
one EdMIPS+ASGA cell of the smoke grid (synthetic data, a few batches per stage) on the device, wall time.
``scripts/gpu_check.sh`` runs it on a GPU; the test suite runs it on the CPU on tiny inputs, to keep it working.
"""
import argparse
import os
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from _common import interleaved, median_time, spread, table

from mpqlab.analysis.hessian import Hessian
from mpqlab.core.runtime import set_threads
from mpqlab.experiments.executors import run_grid
from mpqlab.experiments.presets import smoke_config
from mpqlab.models import create_model
from mpqlab.search.loop import Search, SearchConfig

ARITHMETIC = {"eager": ("0", {}), "compiled": ("1", {}),
              "fast": ("1", {"precision": "bf16", "channels_last": True})}  # MPQLAB_COMPILE, SearchConfig fields
METHODS = {"EdMIPS": "none", "EdMIPS+ASGA": "asga"}
CIFAR = {"resnet20"}  # the CIFAR-sized models; the others take ImageNet-sized inputs


def drain(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def shape_of(model: str, a) -> tuple[int, int, int]:
    """(batch, image size, classes) of ``model``'s inputs, ``--batch`` / ``--image-size`` overriding."""
    batch, size, classes = (128, 32, 10) if model in CIFAR else (64, 224, 1000)
    return a.batch or batch, a.image_size or size, classes


def step_times(model: str, a, dev) -> tuple[list, dict]:
    """Rows of the step table of one model, and its EdMIPS step median per arithmetic."""
    batch, size, classes = shape_of(model, a)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, size, size, generator=g).to(dev)
    y = torch.randint(0, classes, (batch,), generator=g).to(dev)
    searches, peaks = {}, {}
    for arith in a.arithmetics.split(","):
        compile_flag, fields = ARITHMETIC[arith]
        os.environ["MPQLAB_COMPILE"] = compile_flag
        for method, sharp in METHODS.items():
            torch.manual_seed(0)
            cfg = SearchConfig(model=model, sharpness=sharp, budget=4.0, device=str(dev), per_layer_telemetry=False,
                               **fields)
            s = Search(cfg, create_model(model, num_classes=classes).to(dev), (3, size, size), x)
            if dev.type == "cuda":
                torch.cuda.reset_peak_memory_stats(dev)
            for _ in range(2):  # warm-up: compilation, allocator, autotuning
                s.step(x, y)
            drain(dev)
            peaks[(method, arith)] = (f"{torch.cuda.max_memory_allocated(dev) / 2 ** 30:.2f} GiB"
                                      if dev.type == "cuda" else "n/a")
            searches[(method, arith)] = s
    def timed(method, arith):
        def step():
            os.environ["MPQLAB_COMPILE"] = ARITHMETIC[arith][0]
            searches[(method, arith)].step(x, y)
            drain(dev)
        return step

    # round-robin, so drift in the device's clock or load hits every pair alike (warmed up above)
    times = interleaved({k: timed(*k) for k in searches}, repeats=a.repeats, warmup=0, clock="wall")
    med = {k: statistics.median(v) for k, v in times.items()}
    rows = []
    for (method, arith), ts in times.items():
        ratio = (f"{med[(method, arith)] / med[('EdMIPS', arith)]:.2f}x" if method != "EdMIPS" else "1")
        rows.append([model, method, arith, spread(ts, "ms"), f"{batch / med[(method, arith)]:.0f}", ratio,
                     peaks[(method, arith)]])
    return rows, med


def hvp_vs_gradient(model: str, a, dev) -> list:
    """One Hessian-vector product against one gradient, float model, same batch (medians of ``--repeats``)."""
    batch, size, classes = shape_of(model, a)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, size, size, generator=g).to(dev)
    y = torch.randint(0, classes, (batch,), generator=g).to(dev)
    m = create_model(model, num_classes=classes).to(dev).eval()
    params = [p for p in m.parameters() if p.requires_grad]

    def gradient():
        torch.autograd.grad(F.cross_entropy(m(x), y), params)
        drain(dev)

    h = Hessian(m, (x, y), chunk_size=batch, keep_graphs=False)
    v = [torch.randn_like(p) for p in h.params]

    def hvp():
        h.hvp(v)
        drain(dev)

    out = {name: median_time(fn, repeats=a.repeats, warmup=1) for name, fn in (("gradient", gradient), ("hvp", hvp))}
    return [model, f"{1000 * out['gradient']:.1f}", f"{1000 * out['hvp']:.1f}", f"{out['hvp'] / out['gradient']:.2f}x"]


def grid_cell(dev) -> float:
    """Wall seconds of the smoke grid's EdMIPS+ASGA cell on ``dev`` (one seed, synthetic data)."""
    cfg = smoke_config()
    cfg["methods"] = ["edmips+asga"]
    cfg["search"]["device"] = cfg["reference"]["device"] = str(dev)  # the search block's device runs the whole cell
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        run_grid(cfg, d, workers=1, show_progress=False)
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--models", default="resnet20,resnet18,mobilenet_v2")
    ap.add_argument("--repeats", type=int, default=10, help="timed rounds (at least 2: a median with its spread)")
    ap.add_argument("--batch", type=int, default=0, help="images per step; 0: 128 for ResNet-20, 64 otherwise")
    ap.add_argument("--image-size", type=int, default=0, help="pixels per side; 0: 32 for ResNet-20, 224 otherwise")
    ap.add_argument("--arithmetics", default=",".join(ARITHMETIC), help="which of " + ", ".join(ARITHMETIC))
    ap.add_argument("--skip-cell", action="store_true", help="leave out the grid cell")
    a = ap.parse_args()
    if a.repeats < 2:
        ap.error(f"--repeats must be at least 2, got {a.repeats}")
    unknown = [x for x in a.arithmetics.split(",") if x not in ARITHMETIC]
    if unknown:
        ap.error(f"unknown arithmetic(s) {', '.join(unknown)}; use {', '.join(ARITHMETIC)}")
    dev = torch.device(a.device)
    if dev.type == "cpu":
        set_threads()
    saved = os.environ.get("MPQLAB_COMPILE")
    print(f"device {torch.cuda.get_device_name(dev) if dev.type == 'cuda' else 'cpu'}, torch {torch.__version__}, "
          f"{a.repeats} interleaved rounds per step")
    rows, hvps = [], []
    try:
        for model in a.models.split(","):
            rows += step_times(model, a, dev)[0]
            hvps.append(hvp_vs_gradient(model, a, dev))
    finally:
        if saved is None:
            os.environ.pop("MPQLAB_COMPILE", None)
        else:
            os.environ["MPQLAB_COMPILE"] = saved
    table(rows, ["model", "method", "arithmetic", "step: median (IQR)", "images/s", "vs EdMIPS (same arithmetic)",
                 "peak memory"])
    print()
    table(hvps, ["model", "gradient ms", "Hessian-vector product ms", "HVP / gradient"])
    if not a.skip_cell:
        print(f"\none grid cell (smoke grid, EdMIPS+ASGA, synthetic data): {grid_cell(dev):.1f} s wall")


if __name__ == "__main__":
    main()
