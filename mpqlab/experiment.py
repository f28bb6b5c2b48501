"""The experiment harness: a grid of methods x seeds x budgets x settings; each cell = search on the proxy +
transfer to the target. Resumable (a finished cell is skipped; an interrupted search or fine-tune resumes from
its run folder), one tidy CSV and a Markdown table of mean +- std over seeds.

A config is plain JSON (see ``configs/``)::

    {"name": ..., "model": "resnet20", "seeds": [0, 1, 2], "budgets": [4.0],
     "methods": ["uniform", "edmips", "gmpq", "hawq", "edmips+sam", "edmips+asga", "gmpq+asga", "edmips@target"],
     "target": {"data": "cifar10", "init": CKPT, "finetune_epochs": 1, "finetune_subset": null},
     "settings": {"cross-dataset": {"proxy": "fashion-mnist", "proxy_subset": 2000, "proxy_init": CKPT}, ...},
     "search": {SearchConfig fields shared by every search}, "reference": {"epochs": 1, ...}}

``method`` is ``objective[+sharpness]``, ``uniform`` (every searchable layer at the budget's bits, no search),
or ``edmips@target``: EdMIPS searched on the full target training set, the reference whose search time is the
denominator of every "search cost" ratio (run once per seed and budget, shared by the settings). Search cost is
the search process's CPU time (``time.process_time``, all threads), which stays put when other jobs share the
machine; the wall time is reported beside it. Run the grid with ``OMP_NUM_THREADS=1`` when anything else runs:
oversubscribed OpenMP threads make wall times (not results) meaningless.

Significance: a method's mean target top-1 differs from the reference's "beyond the seed spread" when
``|mean_m - mean_ref| > 2 * sqrt(s_m^2 / n_m + s_ref^2 / n_ref)`` (about a two-sided 95% Welch interval);
with a single seed there is no spread and the table says so.
"""
from __future__ import annotations

import csv
import io
import math
import os
import platform
import time
from pathlib import Path

import torch

from . import __version__
from .analysis.sharpness import surrogate_gap
from .data import create_dataset, proxy_subset
from .errors import MpqlabError
from .io import atomic_write_text, read_json, write_json
from .models import create_model
from .policy import Policy
from .search import SearchConfig, run as run_search
from .train import evaluate, set_threads
from .transfer import transfer

COLUMNS = ["setting", "method", "budget", "seed", "proxy", "proxy_size", "target", "target_top1",
           "target_top1_before_finetune", "proxy_top1", "gap", "sharpness", "bitops", "average_bits", "size_bytes",
           "search_wall_time_s", "search_cpu_time_s", "transfer_wall_time_s", "search_cost_ratio"]
REFERENCE = "edmips@target"


def load_config(path: str | os.PathLike) -> dict:
    cfg = read_json(path, "experiment config")
    for key in ("name", "model", "seeds", "budgets", "methods", "target", "settings"):
        if key not in cfg:
            raise MpqlabError(f"experiment config {path} lacks {key!r}")
    for m in cfg["methods"]:
        obj = m.split("+")[0].split("@")[0]
        if m != "uniform" and obj not in ("edmips", "gmpq", "hawq"):
            raise MpqlabError(f"experiment config {path}: unknown method {m!r}")
    return cfg


def _search_cfg(cfg: dict, method: str, data: str, subset, init, seed: int, budget: float, extra: dict) -> SearchConfig:
    objective, _, sharp = method.partition("+")
    kw = dict(cfg.get("search", {}))
    kw.update(extra)
    return SearchConfig(model=cfg["model"], data=data, subset=subset, checkpoint=init, objective=objective,
                        sharpness=sharp or "none", budget=budget, seed=seed, proxy_seed=seed, **kw)


def _proxy_top1(policy: Policy, model: str, init: str, proxy: str, root) -> float:
    """Accuracy of the policy on the proxy test set (proxy checkpoint quantized, calibrated, not fine-tuned)."""
    from .commands import model_under_policy

    from .data import make_loader
    from .quant import calibrate

    train, test = create_dataset(proxy, "train", root=root), create_dataset(proxy, "test", root=root)
    net, _ = model_under_policy(model, init, train.num_classes, None, None, train, tuple(train.input_size))
    policy.apply(net, tuple(train.input_size))
    calibrate(net, [x for x, _ in make_loader(train, 128, train=False, max_batches=4)])
    return evaluate(net, test, max_batches=4)["top1"]


def run_cell(cfg: dict, setting: str, method: str, seed: int, budget: float, out: Path, root=None,
             show_progress: bool = False) -> dict:
    """One cell: search (or uniform / reference) + transfer; returns its CSV row. Skipped when already done."""
    row_path = out / "row.json"
    if row_path.is_file():
        return read_json(row_path)
    target = cfg["target"]
    st = cfg["settings"][setting] if method != REFERENCE else {
        "proxy": target["data"], "proxy_subset": None, "proxy_init": target["init"]}
    train = create_dataset(target["data"], "train", root=root)
    test = create_dataset(target["data"], "test", root=root)
    if target.get("finetune_subset"):
        train, _ = proxy_subset(train, size=target["finetune_subset"], seed=seed)
    pol_path = out / "policy.json"
    if method == "uniform":
        k = int(round(budget))
        policy = Policy.uniform(create_model(cfg["model"], num_classes=train.num_classes), k, k,
                                input_size=tuple(train.input_size))
        policy.provenance.update(search_wall_time_s=0.0, search_cpu_time_s=0.0, method="uniform")
        policy.save(pol_path)
    elif pol_path.is_file():
        policy = Policy.load(pol_path)
    else:
        extra = dict(cfg.get("reference", {})) if method == REFERENCE else {}
        scfg = _search_cfg(cfg, method.replace("@target", ""), st["proxy"], st.get("proxy_subset"), st["proxy_init"],
                           seed, budget, extra)
        policy = run_search(scfg, pol_path, show_progress=show_progress)
    t_res = transfer(policy, cfg["model"], train, test, target["init"], out / "transfer.json",
                     epochs=target.get("finetune_epochs", 1), lr=target.get("finetune_lr", 0.01), seed=seed,
                     max_batches=target.get("max_batches"), show_progress=show_progress, eval_float=False)
    from .commands import model_under_policy

    net, _ = model_under_policy(cfg["model"], t_res["weights"], train.num_classes, str(pol_path), None, None,
                                tuple(train.input_size))
    net.eval()
    x, y = test.tensors(512)
    sharp = surrogate_gap(net, [(x[:256], y[:256]), (x[256:], y[256:])], rho=0.05)["surrogate_gap"]
    proxy_top1 = _proxy_top1(policy, cfg["model"], st["proxy_init"], st["proxy"], root)
    row = {"setting": setting, "method": method, "budget": budget, "seed": seed, "proxy": st["proxy"],
           "proxy_size": policy.provenance.get("proxy_size", ""), "target": target["data"],
           "target_top1": round(t_res["top1"], 3), "target_top1_before_finetune": round(t_res["top1_before_finetune"], 3),
           "proxy_top1": round(proxy_top1, 3), "gap": round(t_res["top1"] - proxy_top1, 3), "sharpness": round(sharp, 5),
           "bitops": t_res["bitops"], "average_bits": round(t_res["average_bits"], 4), "size_bytes": t_res["size_bytes"],
           "search_wall_time_s": round(float(policy.provenance.get("search_wall_time_s", 0.0)), 2),
           "search_cpu_time_s": round(float(policy.provenance.get("search_cpu_time_s", 0.0)), 2),
           "transfer_wall_time_s": t_res["finetune_time_s"], "search_cost_ratio": ""}
    write_json(row_path, row)
    return row


def run_grid(cfg: dict, out_dir: str | os.PathLike, root=None, show_progress: bool = True,
             max_cells: int | None = None) -> Path:
    """Run every cell not yet done (reference cells first), then write results.csv and results.md."""
    set_threads()
    out = Path(out_dir)
    cells = []
    for budget in cfg["budgets"]:
        for seed in cfg["seeds"]:
            if REFERENCE in cfg["methods"]:
                cells.append(("reference", REFERENCE, seed, budget))
            for setting in cfg["settings"]:
                for method in cfg["methods"]:
                    if method != REFERENCE:
                        cells.append((setting, method, seed, budget))
    rows = []
    for i, (setting, method, seed, budget) in enumerate(cells):
        cell_dir = out / "cells" / setting / method.replace("+", "_").replace("@", "_at_") / f"b{budget:g}_s{seed}"
        if max_cells is not None and i >= max_cells and not (cell_dir / "row.json").is_file():
            continue
        t0 = time.time()
        row = run_cell(cfg, setting, method, seed, budget, cell_dir, root)
        rows.append(row)
        write_results(rows, out, cfg)  # partial results are always on disk
        if show_progress:
            print(f"[{i + 1}/{len(cells)}] {setting} {method} budget={budget:g} seed={seed}: "
                  f"top1={row['target_top1']:.2f} ({time.time() - t0:.0f}s)", flush=True)
    write_results(rows, out, cfg)
    return out / "results.csv"


def write_results(rows: list[dict], out: Path, cfg: dict) -> None:
    """Search cost ratio = the cell's search CPU time over the mean search CPU time of the budget's reference
    cells (CPU time, not wall time: it hardly moves when other jobs share the machine)."""
    ref = {}
    for r in rows:
        if r["method"] == REFERENCE:
            ref.setdefault(r["budget"], []).append(_search_cost(r))
    for r in rows:
        rt = ref.get(r["budget"])
        r["search_cost_ratio"] = round(_search_cost(r) / (sum(rt) / len(rt)), 4) if rt else ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in COLUMNS})
    atomic_write_text(out / "results.csv", buf.getvalue())
    atomic_write_text(out / "results.md", markdown_table(rows, cfg))


def _search_cost(row: dict) -> float:
    cpu = row.get("search_cpu_time_s")
    return float(cpu) if cpu not in ("", None) else float(row["search_wall_time_s"])


def _ms(vals):
    vals = [float(v) for v in vals]
    m = sum(vals) / len(vals)
    s = math.sqrt(sum((v - m) ** 2 for v in vals) / (len(vals) - 1)) if len(vals) > 1 else float("nan")
    return m, s, len(vals)


def _fmt(m, s, digits=2):
    return f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"


def markdown_table(rows: list[dict], cfg: dict) -> str:
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["setting"], r["budget"], r["method"]), []).append(r)
    lines = [f"# {cfg['name']}: mean ± std over seeds", "",
             f"mpqlab {__version__}, torch {torch.__version__}, {platform.machine()} {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}. Target: {cfg['target']['data']}, model {cfg['model']}.", "",
             "| setting | budget | method | seeds | target top-1 (%) | vs reference | BitOPs (G) | avg bits | "
             "search wall (s) | search CPU (s) | search cost vs reference | transfer (s) | proxy→target gap | sharpness h(0.05) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    refs = {b: [float(r["target_top1"]) for (s, bb, m), rs in groups.items() for r in rs if m == REFERENCE and bb == b]
            for b in {k[1] for k in groups}}
    for (setting, budget, method), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "reference", kv[0])):
        m, s, n = _ms([r["target_top1"] for r in rs])
        ref = refs.get(budget) or []
        if method == REFERENCE or not ref:
            verdict = "reference" if method == REFERENCE else "no reference"
        else:
            rm, rsd, rn = _ms(ref)
            if n < 2 or rn < 2:
                verdict = f"{m - rm:+.2f} (1 seed: no spread)"
            else:
                bound = 2 * math.sqrt(s ** 2 / n + rsd ** 2 / rn)
                verdict = f"{m - rm:+.2f} " + ("beyond spread" if abs(m - rm) > bound else "within spread")
        ratio = [float(r["search_cost_ratio"]) for r in rs if r.get("search_cost_ratio") not in ("", None)]
        lines.append("| " + " | ".join([
            setting, f"{float(budget):g}", method, str(n), _fmt(m, s), verdict,
            _fmt(*_ms([float(r["bitops"]) / 1e9 for r in rs])[:2], 3), _fmt(*_ms([r["average_bits"] for r in rs])[:2]),
            _fmt(*_ms([r["search_wall_time_s"] for r in rs])[:2], 0),
            _fmt(*_ms([_search_cost(r) for r in rs])[:2], 0),
            (f"{sum(ratio) / len(ratio):.2f}x" if ratio else "n/a"),
            _fmt(*_ms([r["transfer_wall_time_s"] for r in rs])[:2], 0),
            _fmt(*_ms([r["gap"] for r in rs])[:2]), _fmt(*_ms([r["sharpness"] for r in rs])[:2], 4)]) + " |")
    return "\n".join(lines) + "\n"


def quick_config() -> dict:
    """A 2-cell grid on the embedded data (CI): uniform and edmips+asga, proxy = 500 images of cifar10-mini."""
    from .checkpoints import pretrained

    ck = str(pretrained("resnet20_cifar10-mini"))
    return {"name": "quick", "model": "resnet20", "seeds": [0], "budgets": [4.0], "methods": ["uniform", "edmips+asga"],
            "target": {"data": "cifar10-mini", "init": ck, "finetune_epochs": 1, "finetune_subset": 1000,
                       "max_batches": 3},
            "settings": {"subset-control": {"proxy": "cifar10-mini", "proxy_subset": 500, "proxy_init": ck}},
            "search": {"epochs": 1, "max_batches": 3, "batch_size": 64}}
