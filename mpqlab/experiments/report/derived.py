"""Numbers the write-up quotes that no single ``results.md`` prints: each is derived here from committed files, so
every one has a command that prints it (``python -m mpqlab.experiments.report.derived [results_dir]``).

- :func:`paired_sd`: the sd over seeds of the paired difference of two methods in one grid (the input of a power
  calculation); :func:`assumed_sd` is the root mean square of it over several grids.
- :func:`top_probability_at`: a search's "decisiveness" (median over layers of the largest bit probability) at
  another softmax temperature than the one it ended at, from the final probabilities its policy file records.
- :func:`finetune_gains`: per method, the change of the seed-mean target top-1 between two grids that transfer the
  same policies with different fine-tune lengths, on the seeds both ran.
"""
from __future__ import annotations

import csv
import json
import math
import statistics
import sys
from pathlib import Path


def _rows(grid: Path) -> list[dict]:
    with open(Path(grid) / "results.csv", newline="") as f:
        return list(csv.DictReader(f))


def _by_seed(rows, method: str, setting: str | None, column: str = "target_top1") -> dict[int, float]:
    out = {}
    for r in rows:
        if r["method"] == method and (setting is None or r["setting"] in (setting, "reference")) and r.get(column):
            out[int(r["seed"])] = float(r[column])
    return out


def paired_sd(grid, a: str, b: str, setting: str | None = "subset-control") -> tuple[float, int]:
    """The sd over seeds of ``a − b`` in target top-1 in ``grid/results.csv`` and the number of pairs."""
    rows = _rows(grid)
    ra, rb = _by_seed(rows, a, setting), _by_seed(rows, b, setting)
    d = [ra[s] - rb[s] for s in sorted(set(ra) & set(rb))]
    if len(d) < 2:
        raise ValueError(f"{grid}: fewer than 2 seeds with both {a!r} and {b!r}")
    return statistics.stdev(d), len(d)


def assumed_sd(sds) -> float:
    """Root mean square of standard deviations (the pooled sd of equally sized samples)."""
    sds = list(sds)
    return math.sqrt(sum(s * s for s in sds) / len(sds))


def top_probability_at(softmaxes: dict, tau_end: float, tau: float = 1.0) -> float:
    """The median over layers (weights and activations) of the largest bit probability that the same logits give at
    temperature ``tau``, from probabilities ``p`` recorded at ``tau_end``: p_tau ∝ p ** (tau_end / tau)."""
    k = tau_end / tau
    tops = []
    for layer in softmaxes.values():
        for p in (layer["w"], layer["a"]):
            q = [max(v, 1e-300) ** k for v in p]
            tops.append(max(q) / sum(q))
    return statistics.median(tops)


def tau_one_decisiveness(grid, methods=("edmips", "edmips+asga", "edmips+sam"), tau: float = 1.0) -> list[float]:
    """:func:`top_probability_at` ``tau`` for every proxy search of ``grid`` among ``methods`` (the cells'
    policy files; the reference's cells, searched on the target, are left out)."""
    out = []
    for pol in sorted(Path(grid, "cells").glob("*/*/*/policy.json")):
        if pol.parts[-4] == "reference":
            continue
        prov = json.loads(pol.read_text())["provenance"]
        if prov.get("method") in methods and prov.get("final_softmaxes"):
            out.append(top_probability_at(prov["final_softmaxes"], prov["config"]["tau_end"], tau))
    return out


def finetune_gains(short, long, setting: str | None = "subset-control") -> dict[str, float]:
    """Per method: mean target top-1 in ``long`` minus in ``short``, over the seeds ``long`` ran (and ``short`` has)."""
    rs, rl = _rows(short), _rows(long)
    gains = {}
    for m in sorted({r["method"] for r in rl}):
        a, b = _by_seed(rl, m, setting), _by_seed(rs, m, setting)
        seeds = sorted(set(a) & set(b))
        if seeds:
            gains[m] = statistics.mean(a[s] for s in seeds) - statistics.mean(b[s] for s in seeds)
    return gains


def main(results_dir: str = "results") -> None:
    """Print every derived number from the committed grids under ``results_dir``."""
    res = Path(results_dir)
    print("paired sd of EdMIPS+ASGA - EdMIPS (subset-control), the powered test's assumed sd:")
    sds = []
    for g in ("grid_v2", "grid_v2_e160", "grid_v2_e300"):
        if (res / g / "results.csv").is_file():
            sd, n = paired_sd(res / g, "edmips+asga", "edmips")
            sds.append(sd)
            print(f"  {g}: {sd:.2f} ({n} seeds)")
    if sds:
        print(f"  root mean square: {assumed_sd(sds):.2f}")
    grid = res / "grid_v2_e300"
    if (grid / "cells").is_dir():
        tops = tau_one_decisiveness(grid)
        if tops:
            print(f"decisiveness at tau = 1 of the {len(tops)} proxy searches of {grid.name}: median "
                  f"{statistics.median(tops):.2f} (range {min(tops):.2f}-{max(tops):.2f})")
    short, long = res / "grid_v2_e300", res / "grid_v2_e300_finetune3"
    if (long / "results.csv").is_file() and (short / "results.csv").is_file():
        print(f"gain in seed-mean target top-1 from 1 to 3 fine-tune epochs ({long.name} - {short.name}):")
        for m, g in sorted(finetune_gains(short, long).items(), key=lambda kv: -kv[1]):
            print(f"  {m}: {g:+.2f}")


if __name__ == "__main__":
    main(*sys.argv[1:])
