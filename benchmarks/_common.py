"""Shared bits of the benchmark scripts: medians of repeated timings, a table printer."""
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("MPQLAB_DATA", str((Path(__file__).resolve().parents[2] / "shared" / "datasets")))


def median_time(fn, repeats: int = 5, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def table(rows, headers):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
CLOCK_HELP = ("what a repeat's time is: 'cpu', this process's CPU time (the default on CPU: time spent waiting for a "
              "core taken by another process is not counted), or 'wall' (the default on a GPU, whose work the "
              "process's CPU time does not see)")


def default_clock(device: str = "cpu") -> str:
    return "wall" if str(device).startswith("cuda") else "cpu"


def interleaved(fns: dict, repeats: int = 15, warmup: int = 2, clock: str = "wall") -> dict:
    """Time every callable of ``fns`` round-robin (a, b, c, a, b, c, ...) so drift in machine load hits them alike;
    returns {name: [seconds per repeat]}. ``clock``: 'wall' or 'cpu' (see ``CLOCK_HELP``)."""
    now = CLOCKS[clock]
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = now()
            fn()
            times[k].append(now() - t0)
    return times


def spread(ts, unit: str = "s") -> str:
    """Median with the interquartile range, e.g. '0.412 s (0.405-0.420)'; ``unit="ms"`` prints milliseconds."""
    k, fmt = (1000.0, ".0f") if unit == "ms" else (1.0, ".3f")
    q = [v * k for v in statistics.quantiles(ts, n=4)]
    return f"{statistics.median(ts) * k:{fmt}} {unit} ({q[0]:{fmt}}-{q[2]:{fmt}})"


def median_interval(xs, level: float = 0.9) -> tuple[float, float]:
    """Distribution-free ``level`` confidence interval of the median of ``xs`` from the order statistics (the
    binomial interval: no assumption on the shape of the distribution); the sample's range when it is too small."""
    from math import comb

    x, n = sorted(xs), len(xs)
    cdf = lambda k: sum(comb(n, i) for i in range(k + 1)) / 2 ** n  # P(Binomial(n, 1/2) <= k)
    j = max((k for k in range(n // 2) if cdf(k) <= (1 - level) / 2), default=None)
    return (x[0], x[-1]) if j is None else (x[j], x[n - 1 - j])


def ratio_spread(num, den) -> str:
    """Median of the per-round ratios num[i] / den[i], its 90 % confidence interval (order statistics) and, after
    the bar, their interquartile range."""
    r = [a / b for a, b in zip(num, den)]
    q = statistics.quantiles(r, n=4)
    lo, hi = median_interval(r)
    return f"{statistics.median(r):.2f}x [{lo:.2f}, {hi:.2f}]; IQR {q[0]:.2f}-{q[2]:.2f}"
