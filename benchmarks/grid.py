"""Wall time of one grid with 1 and with 2 local workers (goal: 2 workers <= 0.6x of 1 on two cores).

    python benchmarks/grid.py [--config smoke|quick] [--seeds 2] [--repeats 3]

``smoke`` is the quick grid's shape on synthetic data (4 cells per seed, seconds each); ``quick`` is
``mpqlab experiment --quick`` (cifar10-mini, minutes). Runs are interleaved (1, 2, 1, 2, ...) in fresh folders so
drift in machine load hits both alike; the table gives medians, min-max and the ratio of medians. The two tables
must also agree on every result column: the script checks that the CSVs match apart from times.
"""
import argparse
import csv
import os
import statistics
import tempfile
import time

from _common import table

os.environ.setdefault("MPQLAB_COMPILE", "0")
from mpqlab.experiments.executors import run_grid  # noqa: E402
from mpqlab.experiments.presets import quick_config, smoke_config  # noqa: E402

TIMES = {"search_wall_time_s", "search_cpu_time_s", "transfer_wall_time_s", "search_cost_ratio"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=("smoke", "quick"), default="smoke")
    ap.add_argument("--seeds", type=int, default=2, help="seeds of the grid (4 cells each)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    cfg = smoke_config() if a.config == "smoke" else quick_config()
    cfg["seeds"] = list(range(a.seeds))
    times, tables = {1: [], 2: []}, {}
    for r in range(a.repeats):
        for workers in (1, 2):
            with tempfile.TemporaryDirectory() as d:
                t0 = time.perf_counter()
                path = run_grid(cfg, d, workers=workers, show_progress=False)
                times[workers].append(time.perf_counter() - t0)
                tables[workers] = [{k: v for k, v in row.items() if k not in TIMES} for row in csv.DictReader(open(path))]
    assert tables[1] == tables[2], "1 and 2 workers disagree on a result column"
    m1, m2 = statistics.median(times[1]), statistics.median(times[2])
    rows = [[w, len(cfg["seeds"]) * 4, f"{statistics.median(times[w]):.1f}", f"{min(times[w]):.1f}-{max(times[w]):.1f}"]
            for w in (1, 2)]
    print(f"grid '{a.config}', {a.repeats} interleaved repeats, {os.cpu_count()} CPUs")
    table(rows, ["workers", "cells", "median wall s", "min-max s"])
    print(f"ratio of medians (2 workers / 1): {m2 / m1:.2f}  (goal <= 0.60); result columns identical: yes")


if __name__ == "__main__":
    main()
