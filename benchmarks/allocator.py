"""What ``mpqlab.core.runtime.tune_allocator`` buys: steps timed in two worker processes that differ only in the CPU
allocator's settings (``MPQLAB_ALLOCATOR=default``: glibc as it comes; ``tuned``: mpqlab's settings), driven
round-robin from this process (interleaved repeats: both arms see the same drift in machine load). Per step kind,
the median of the per-round ratios default / tuned with its 90 % interval; and, per arm, a two-pass step over an
EdMIPS step (the amortisation goals of ``search_step.py`` are ratios of this kind).

    OMP_NUM_THREADS=1 python benchmarks/allocator.py [--repeats 20] [--threads 1]

Steps (ResNet-20, batch 128, CIFAR-size random inputs): a float training step as ``mpqlab train`` takes it
(channels-last, SGD with Nesterov momentum), an EdMIPS search step, an EdMIPS+ASGA search step (both passes).
On one thread a repeat's time is the worker's CPU time; with more threads, wall time.
"""
import argparse
import multiprocessing as mp
import os
import time

from _common import ratio_spread, spread, table

STEPS = ("train", "edmips", "edmips+asga")


def worker(conn, allocator: str, threads: int) -> None:
    """One arm: build every step kind, then time the one asked for until told to stop."""
    os.environ["MPQLAB_ALLOCATOR"] = allocator
    import torch
    import torch.nn.functional as F

    from mpqlab.models import create_model
    from mpqlab.core.runtime import tune_allocator
    from mpqlab.search.loop import Search, SearchConfig

    on = tune_allocator()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = torch.randn(128, 3, 32, 32), torch.randint(0, 10, (128,))
    model = create_model("resnet20").to(memory_format=torch.channels_last)
    xc = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)

    def train():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(xc), y).backward()
        opt.step()

    searches = {m: Search(SearchConfig(objective="edmips", sharpness=s), create_model("resnet20"), (3, 32, 32), x)
                for m, s in (("edmips", "none"), ("edmips+asga", "asga"))}
    fns = {"train": train, "edmips": lambda: searches["edmips"].step(x, y),
           "edmips+asga": lambda: searches["edmips+asga"].step(x, y)}
    clock = time.process_time if threads == 1 else time.perf_counter
    conn.send(on)
    while (name := conn.recv()) is not None:
        t0 = clock()
        fns[name]()
        conn.send(clock() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=20, help="timed rounds (after 2 warm-up rounds)")
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = ap.parse_args()
    ctx = mp.get_context("spawn")
    arms = {}
    for allocator in ("default", "tuned"):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(child, allocator, args.threads), daemon=True)
        proc.start()
        arms[allocator] = (parent, proc)
    settings = {a: conn.recv() for a, (conn, _) in arms.items()}
    times = {(a, s): [] for a in arms for s in STEPS}
    for r in range(args.repeats + 2):
        for s in STEPS:
            for a, (conn, _) in (arms.items() if r % 2 else reversed(arms.items())):  # alternate who goes first
                conn.send(s)
                t = conn.recv()
                if r >= 2:
                    times[a, s].append(t)
    for conn, proc in arms.values():
        conn.send(None)
        proc.join()
    clock = "CPU time" if args.threads == 1 else "wall time"
    print(f"ResNet-20, batch 128, {args.threads} thread(s), {args.repeats} interleaved rounds, {clock}; "
          f"allocator settings in force: default arm {settings['default']}, tuned arm {settings['tuned']}")
    rows = [[s, spread(times["default", s], "ms"), spread(times["tuned", s], "ms"),
             ratio_spread(times["default", s], times["tuned", s])] for s in STEPS]
    table(rows, ["step", "default allocator", "tuned allocator", "default / tuned [90 % CI]; IQR"])
    rows = [[a, ratio_spread(times[a, "edmips+asga"], times[a, "edmips"])] for a in arms]
    table(rows, ["arm", "edmips+asga / edmips step [90 % CI]; IQR"])


if __name__ == "__main__":
    main()
