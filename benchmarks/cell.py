"""One grid cell, timed and profiled: where its time goes (search, transfer, the candidates' transfers, the proxy
side's measurements, the target's surrogate gap) and the cells per hour it stands for.

    python benchmarks/cell.py [--config quick|smoke|PATH] [--setting S] [--method M] [--seed N] [--budget B]
                              [--top 15] [--repeats 1]

The cell runs in a fresh temporary folder (nothing committed is touched) under cProfile; each phase is the
cumulative time of the function that does it, so nested phases are said as such. ``--config quick`` (default) is
``mpqlab experiment --quick``'s grid (cifar10-mini, a few batches per stage: seconds); a committed config
(``configs/claim1_class_shift.json``) times one of its real cells (minutes). ``--repeats`` > 1 reruns the cell in
new folders and reports the median wall time with its range; the profile is the last run's. Run it on an otherwise
idle machine, with the threads a grid worker has (``OMP_NUM_THREADS=1``: a 2-worker grid on 2 cores).
"""
import argparse
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from pathlib import Path

from _common import table

from mpqlab.core.provenance import code_label, code_record
from mpqlab.experiments.cell import grid_cells, load_config, run_cell
from mpqlab.experiments.config import GridConfig
from mpqlab.experiments.presets import quick_config, smoke_config

# phase -> (module file suffix, function name); nested phases are indented in the table
PHASES = [("search (one, or the candidates of a selection)", "search/loop.py", "run"),
          ("transfer: fine-tune + evaluation", "training/transfer.py", "transfer"),
          ("  of which: the candidates' transfers", "experiments/cell.py", "_candidate_transfers"),
          ("proxy side (top-1, h, sigma_max, trace)", "experiments/cell.py", "proxy_side"),
          ("  of which: Hessian (sigma_max, trace)", "analysis/hessian.py", "eigenvalues"),
          ("  of which: Hessian trace", "analysis/hessian.py", "trace"),
          ("surrogate gap h (proxy and target)", "analysis/sharpness.py", "surrogate_gap"),
          ("data loading (splits, subsets)", "quant/loading.py", "load_splits")]


def config_of(name: str) -> GridConfig:
    if name == "quick":
        return GridConfig.from_dict(quick_config())
    if name == "smoke":
        return GridConfig.from_dict(smoke_config())
    return load_config(name)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="quick")
    ap.add_argument("--setting", default=None, help="default: the grid's first proxy setting")
    ap.add_argument("--method", default="edmips+asga")
    ap.add_argument("--seed", type=int, default=None, help="default: the grid's first seed")
    ap.add_argument("--budget", type=float, default=None, help="default: the grid's first budget")
    ap.add_argument("--top", type=int, default=15, help="functions listed by their own time")
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    cfg = config_of(a.config)
    cells = [c for c in grid_cells(cfg) if c.method == a.method and (a.setting is None or c.setting == a.setting)
             and (a.seed is None or c.seed == a.seed) and (a.budget is None or c.budget == a.budget)]
    if not cells:
        raise SystemExit(f"no cell of {a.config} has method {a.method!r} with the given setting / seed / budget")
    cell = cells[0]
    walls, prof = [], None
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as d:
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            row = run_cell(cfg, cell.setting, cell.method, cell.seed, cell.budget, Path(d) / "cell")
            prof.disable()
            walls.append(time.perf_counter() - t0)
    stats = pstats.Stats(prof)
    wall = statistics.median(walls)
    print(f"cell {cell.label()} of {a.config}; code {code_label(code_record())}; wall {wall:.1f} s"
          + (f" (median of {a.repeats}, {min(walls):.1f}-{max(walls):.1f})" if a.repeats > 1 else "")
          + f"; {3600 / wall:.1f} cells/hour per worker; target top-1 {row['target_top1']}")
    rows = []
    for label, suffix, func in PHASES:
        cum = sum(st[3] for (path, _, name), st in stats.stats.items() if path.endswith(suffix) and name == func)
        if cum:
            rows.append([label, f"{cum:.1f}", f"{100 * cum / wall:.0f} %"])
    table(rows, ["phase (cumulative)", "seconds", "of the cell"])
    print()
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:a.top]
    table([[f"{Path(path).name}:{line} {name}", f"{st[2]:.1f}", f"{st[3]:.1f}", st[1]]
           for (path, line, name), st in top], ["function (own time)", "own s", "cumulative s", "calls"])
    print(json.dumps({"wall_s": walls, "cell": cell.label()}))


if __name__ == "__main__":
    main()
