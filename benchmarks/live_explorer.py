"""How long a live landscape explorer (notebook 02b) takes to re-plot: the first view of a (seed, policy pair,
direction) builds the models and directions (cold), every later one reuses them (warm, the re-plot a person waits
for when moving span, sample or layer). Two policies, 11 points, 128 images.

    OMP_NUM_THREADS=1 python benchmarks/live_explorer.py [repeats]
Goal: a warm re-plot under 5 s on 2 cores (a cold one prints progress: it is the first view of a model).
"""
import statistics
import sys
import time

from _common import table

from mpqlab.core.runtime import set_threads
from mpqlab.experiments.studies import landscape_views as P

set_threads()
repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
rows = []
for kind in ("random", "eigen", "ascent"):
    t0 = time.perf_counter()
    P.live_view(0, ("EdMIPS", "EdMIPS+ASGA"), kind, span=1.0 if kind == "random" else None)
    cold = time.perf_counter() - t0
    warm = []
    for i in range(repeats):
        t0 = time.perf_counter()
        P.live_view(0, ("EdMIPS", "EdMIPS+ASGA"), kind, span=(0.5 + 0.25 * i) if kind == "random" else None,
                    sample="held-out" if i % 2 else "train")
        warm.append(time.perf_counter() - t0)
    q = sorted(warm)
    rows.append([kind, f"{cold:.1f}", f"{statistics.median(warm):.2f}", f"{q[0]:.2f}-{q[-1]:.2f}"])
table(rows, ["direction", "first view (s)", "re-plot median (s)", "re-plot range (s)"])
