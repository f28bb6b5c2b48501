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


def interleaved(fns: dict, repeats: int = 15, warmup: int = 2) -> dict:
    """Time every callable of ``fns`` round-robin (a, b, c, a, b, c, ...) so drift in machine load hits them alike;
    returns {name: [seconds per repeat]}."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def spread(ts, unit: str = "s") -> str:
    """Median with the interquartile range, e.g. '0.412 s (0.405-0.420)'; ``unit="ms"`` prints milliseconds."""
    k, fmt = (1000.0, ".0f") if unit == "ms" else (1.0, ".3f")
    q = [v * k for v in statistics.quantiles(ts, n=4)]
    return f"{statistics.median(ts) * k:{fmt}} {unit} ({q[0]:{fmt}}-{q[2]:{fmt}})"


def ratio_spread(num, den) -> str:
    """Median of the per-round ratios num[i] / den[i] with their interquartile range."""
    r = [a / b for a, b in zip(num, den)]
    q = statistics.quantiles(r, n=4)
    return f"{statistics.median(r):.2f}x ({q[0]:.2f}-{q[2]:.2f})"
