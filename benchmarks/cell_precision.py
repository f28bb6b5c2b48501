"""Cells per hour and results of one grid cell in float32 against bfloat16 autocast, paired by seed.

    python benchmarks/cell_precision.py [--config configs/claim2_class_shift.json] [--method edmips+asga]
                                        [--seeds 8 9 10 11 12 13 14 15] [--workers 2] [--out runs/cell_precision]

Each seed's cell runs twice in fresh folders under ``--out``: as the committed grids run it (float32), and with
``precision: bf16`` in the grid's ``search`` and ``target`` blocks (bfloat16 autocast in the search's and the
fine-tune's forward passes; weights, gradients, calibration, evaluation and every sharpness measurement stay
float32). The two of a seed share everything else: proxy subset, batch order, fine-tune subset. Jobs alternate
precisions on each worker (one thread each), so a slow stretch of the machine hits both; a finished job is kept
and not rerun. A job's cost is its process's CPU time (time waiting for a core taken by another process is not
counted); cells per hour per worker = 3600 / CPU seconds.

The rule, written before the first job ran (commit of this file): bfloat16 gives **the same results within the
fine-tune's noise** when (1) the paired differences bf16 - fp32 in target top-1 spread no wider than two fine-tune
draws of one policy do: their sd is not larger than the redraw sd of ``--noise-grid`` (redo - first over its redone
cells) by a one-sided F test at 0.05, and (2) their mean's 95 % t interval contains 0. Otherwise: **different
results**. The speed goal (1.5x the cells per hour) is read from the median of the per-seed CPU ratios, with the
range. Prints a table per seed and the summary; ``--csv`` writes the per-job rows.
"""
import argparse
import csv
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from _common import table

VARIANTS = ("fp32", "bf16")


def variant_config(path: str, variant: str) -> dict:
    d = json.loads(Path(path).read_text())
    if variant == "bf16":
        d["search"] = dict(d.get("search") or {}, precision="bf16")
        d["target"] = dict(d["target"], precision="bf16")
    return d


def job(args) -> dict:
    """One cell in its own folder (resumed if interrupted; reread if finished); its row with the CPU time it took."""
    config, method, seed, variant, out = args
    import torch

    torch.set_num_threads(1)
    from mpqlab.core.provenance import code_label, code_record
    from mpqlab.experiments.cell import grid_cells, run_cell
    from mpqlab.experiments.config import GridConfig

    folder = Path(out) / variant / f"s{seed}"
    timing = folder / "timing.json"
    if timing.is_file():
        return json.loads(timing.read_text())
    cfg = GridConfig.from_dict(variant_config(config, variant), config)
    cell = next(c for c in grid_cells(cfg) if c.method == method and c.seed == seed)
    c0, t0 = time.process_time(), time.perf_counter()
    row = run_cell(cfg, cell.setting, cell.method, cell.seed, cell.budget, folder / "cell")
    rec = {"variant": variant, "seed": seed, "cpu_s": round(time.process_time() - c0, 2),
           "wall_s": round(time.perf_counter() - t0, 2), "target_top1": row["target_top1"],
           "target_top1_before_finetune": row["target_top1_before_finetune"], "policy_bits": row["policy_bits"],
           "average_bits": row["average_bits"], "proxy_h": row["proxy_h"], "code": code_label(code_record()),
           "torch_threads": torch.get_num_threads()}
    timing.write_text(json.dumps(rec, indent=1))
    return rec


def t_interval(d: list[float]) -> tuple[float, float, float]:
    from scipy.stats import t

    m, s = statistics.mean(d), statistics.stdev(d)
    half = t.ppf(0.975, len(d) - 1) * s / len(d) ** 0.5
    return m, m - half, m + half


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/claim2_class_shift.json")
    ap.add_argument("--method", default="edmips+asga")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(8, 16)))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", default="runs/cell_precision")
    ap.add_argument("--noise-grid", default="results/grid_v3",
                    help="a grid with redone fine-tunes (same fine-tune as --config): its redraw sd is the noise")
    ap.add_argument("--csv", default=None, help="write the per-job rows here")
    a = ap.parse_args()
    jobs = []
    for i, s in enumerate(a.seeds):  # alternate which precision of a seed goes first
        order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
        jobs += [(a.config, a.method, s, v, a.out) for v in order]
    with ProcessPoolExecutor(a.workers) as pool:
        recs = list(pool.map(job, jobs))
    by = {(r["variant"], r["seed"]): r for r in recs}
    rows, diffs, ratios = [], [], []
    for s in a.seeds:
        f, b = by[("fp32", s)], by[("bf16", s)]
        d = b["target_top1"] - f["target_top1"]
        diffs.append(d)
        ratios.append(f["cpu_s"] / b["cpu_s"])
        same = sum(x == y for x, y in zip(f["policy_bits"].split(), b["policy_bits"].split()))
        rows.append([s, f"{f['target_top1']:.2f}", f"{b['target_top1']:.2f}", f"{d:+.2f}",
                     f"{same}/{len(f['policy_bits'].split())}", f"{f['cpu_s']:.0f}", f"{b['cpu_s']:.0f}",
                     f"{ratios[-1]:.2f}x"])
    codes = sorted({r["code"] for r in recs})
    print(f"cell {a.method} of {a.config}, seeds {a.seeds}; code {', '.join(codes)}; {a.workers} workers, 1 thread "
          f"each; cost = the job's process CPU time")
    table(rows, ["seed", "fp32 top-1", "bf16 top-1", "bf16 - fp32", "layers with the same bits", "fp32 CPU s",
                 "bf16 CPU s", "fp32 / bf16"])
    cpu = {v: statistics.median(by[(v, s)]["cpu_s"] for s in a.seeds) for v in VARIANTS}
    r = statistics.median(ratios)
    print(f"\ncells per hour per worker (median CPU): fp32 {3600 / cpu['fp32']:.1f} ({cpu['fp32']:.0f} s), "
          f"bf16 {3600 / cpu['bf16']:.1f} ({cpu['bf16']:.0f} s); per-seed ratio median {r:.2f}x "
          f"(range {min(ratios):.2f}-{max(ratios):.2f}); goal 1.5x: {'met' if r >= 1.5 else 'not met'}")
    from scipy.stats import f as fdist

    from mpqlab.experiments.report.finetunes import redraw_spread

    noise = redraw_spread(list(csv.DictReader(open(Path(a.noise_grid) / "results.csv"))))
    m, lo, hi = t_interval(diffs)
    sd = statistics.stdev(diffs)
    p_wider = float(fdist.sf(sd ** 2 / noise["sd"] ** 2, len(diffs) - 1, noise["n"] - 1))
    same = p_wider >= 0.05 and lo <= 0 <= hi
    print(f"bf16 - fp32 target top-1: mean {m:+.2f} points, 95 % t interval [{lo:+.2f}, {hi:+.2f}], sd {sd:.2f} over "
          f"{len(diffs)} seeds; a fine-tune redraw in {a.noise_grid}: sd {noise['sd']:.2f} over {noise['n']} cells; "
          f"F test that bf16's spread is wider: p = {p_wider:.3g}")
    word = "the same results within the fine-tune noise" if same else "different results"
    print(f"Verdict (the rule in this file's docstring): **{word}**")
    name = json.loads(Path(a.config).read_text())["name"]
    committed = Path(a.config).parent.parent / "results" / name / "results.csv"
    if committed.is_file():  # the fp32 cell is the committed grid's: does it reproduce the committed row?
        rows = {int(r["seed"]): r for r in csv.DictReader(committed.open()) if r["method"] == a.method}
        hits = [s for s in a.seeds if s in rows and float(rows[s]["target_top1"]) == by[("fp32", s)]["target_top1"]
                and rows[s]["policy_bits"] == by[("fp32", s)]["policy_bits"]]
        print(f"fp32 cells reproducing the committed row of {committed} (same policy, same top-1): {len(hits)} of "
              f"{sum(s in rows for s in a.seeds)}")
    if a.csv:
        with open(a.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(recs[0]))
            w.writeheader()
            w.writerows(sorted(recs, key=lambda r: (r["seed"], r["variant"])))


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    main()
