"""How long each notebook's smoke run takes (the run CI does, ``smoke=True``): papermill, one notebook at a time,
the kernel with the threads this process has (``OMP_NUM_THREADS``; unset: one per core). Prints per notebook the
wall time (kernel start included) and its slowest cells, and the total; run it on an otherwise idle machine.

    python benchmarks/smoke_runs.py [repeats] [notebook,notebook,...]
Goal: every notebook's smoke run under 30 s on 2 cores.
"""
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from _common import table

from mpqlab.core.provenance import code_label, code_record
from mpqlab.course.execution import make_figures
from mpqlab.course.notebooks import list_notebooks

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 1
names = sys.argv[2].split(",") if len(sys.argv) > 2 else list_notebooks()
print(f"code {code_label(code_record())}; {repeats} run(s) each")
rows, total = [], 0.0
with tempfile.TemporaryDirectory() as tmp:
    for name in names:
        walls = []
        for r in range(repeats):
            runs = Path(tmp) / f"runs{r}"
            t0 = time.perf_counter()
            make_figures(Path(tmp) / f"figures{r}", smoke=True, runs_dir=runs, only=[name])
            walls.append(time.perf_counter() - t0)
        nb = nbformat.read(runs / "executed" / f"{name}.ipynb", as_version=4)
        cells = sorted(((c.metadata.get("papermill", {}).get("duration") or 0.0, i) for i, c in enumerate(nb.cells)
                        if c.cell_type == "code"), reverse=True)
        med = statistics.median(walls)
        total += med
        rows.append([name, f"{med:.1f}", f"{min(walls):.1f}-{max(walls):.1f}", f"{sum(d for d, _ in cells):.1f}",
                     ", ".join(f"cell {i} {d:.1f} s" for d, i in cells[:3]), "yes" if med < 30 else "NO"])
table(rows, ["notebook", "wall median (s)", "range (s)", "cells (s)", "slowest cells", "under 30 s"])
print(f"total {total:.0f} s for {len(names)} notebooks")
