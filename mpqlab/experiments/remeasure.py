"""Re-measure a finished grid's measurements with the stratified sampler, without searching again.

Rows made before :mod:`mpqlab.data.sample` took their fixed batches as prefixes of class-sorted data: the
proxy-side sharpness on the first 128 proxy images (one class for a CIFAR-10 subset), the proxy top-1 on the first
4 test batches (classes 0-5), the target surrogate gap on the first 512 test images. This module takes them again:

- **proxy side** (``proxy_top1``, ``gap``, ``proxy_h``, ``proxy_sigma_max``, ``proxy_trace``, and the ``*_common``
  columns for policies searched on another proxy): they need only the committed policy and the proxy checkpoint;
- **target side** (``--target``): the target surrogate gap needs the fine-tuned weights, which are not committed.
  The cell's fine-tune is redone in a scratch folder with the calibration order it ran with (``calib_order
  "dataset"``), its top-1 is checked against the committed one (``target_top1_redo``), and h is measured on a
  stratified sample of the target test set.

The values replaced are kept in the cell's ``row.json`` under ``before_sampler``; the row records the code that
re-measured it (``proxy_side_code``) and, for rows made before provenance was recorded, the commit that most
likely made them (``code_inferred``: the last commit touching ``mpqlab/`` before the policy's creation time).
Resumable: a cell already re-measured is skipped. ``results.csv`` and ``results.md`` are rewritten from the rows.
"""
from __future__ import annotations

import bisect
import dataclasses
import os
import subprocess
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from ..analysis.sharpness import surrogate_gap
from ..core.errors import MpqlabError
from ..core.files import read_json, write_json
from ..core.locks import RunFolderBusy, run_lock
from ..core.runtime import pinned_threads
from ..data import analysis_batch
from ..quant.loading import load_splits
from ..quant.policy import Policy
from ..training.transfer import transfer
from .cell import (
    PREFIX_TARGET_H,
    ROW,
    SAMPLED,
    Cell,
    code_version_row,
    common_columns,
    grid_cells,
    load_config,
    needs_common,
    proxy_side,
    read_row,
)
from .config import GridConfig
from .merge import merge

PROXY_KEYS = ("proxy_top1", "gap", "proxy_h", "proxy_sigma_max", "proxy_trace")
TARGET_KEYS = ("target_surrogate_gap",)


def remeasure_cell(cfg: GridConfig, cell: Cell, out: Path, root=None, target: bool = False) -> dict:
    """Re-measure one finished cell in place (proxy side; with ``target`` also the target surrogate gap). Returns
    the new row."""
    folder = cell.folder(out)
    with run_lock(folder):
        row = read_row(folder / ROW)
        before = dict(row.get("before_sampler") or {})
        if row.get("proxy_side_sample") != SAMPLED:
            before.update({k: row.get(k) for k in PROXY_KEYS})
            row.update(_proxy_columns(cfg, cell, folder, row, root))
        if not row.get("target_h_sample"):
            row["target_h_sample"] = PREFIX_TARGET_H
        if target and not str(row["target_h_sample"]).startswith(SAMPLED):
            before.update({k: row.get(k) for k in TARGET_KEYS})
            row.update(_target_columns(cfg, cell, folder, row, root))
        if not row.get("code_commit"):
            row["code_inferred"] = inferred_commit(folder)
        row["before_sampler"] = before
        write_json(folder / ROW, row)
    return row


def _proxy_columns(cfg: GridConfig, cell: Cell, folder: Path, row: dict, root) -> dict:
    policy = Policy.load(folder / "policy.json")
    st = cfg.proxy_of(cell.setting, cell.method)
    n = cfg.proxy_sharpness_images
    prox = proxy_side(policy, cfg.model, st.proxy_init, st.proxy, st.proxy_subset, cell.seed, root, n=n)
    new = {"proxy_top1": round(prox["proxy_top1"], 3), "gap": round(float(row["target_top1"]) - prox["proxy_top1"], 3),
           "proxy_h": round(prox["proxy_h"], 5), "proxy_sigma_max": round(prox["proxy_sigma_max"], 3),
           "proxy_trace": round(prox["proxy_trace"], 2), "proxy_side_sample": SAMPLED,
           "proxy_side_code": code_version_row()["proxy_side_code"]}
    common = needs_common(cfg, st, cell.method)
    if common:
        c = cfg.common_proxy()
        new.update(common_columns(proxy_side(policy, cfg.model, c.proxy_init, c.proxy, c.proxy_subset, cell.seed,
                                             root, n=n)))
    else:
        new.update(common_columns(prox if common is False else None))
    return new


def _target_columns(cfg: GridConfig, cell: Cell, folder: Path, row: dict, root) -> dict:
    """Redo the cell's fine-tune (scratch folder, calibration in dataset order as it ran), check its top-1, take h."""

    policy = Policy.load(folder / "policy.json")
    t = cfg.target
    train, test = load_splits(t.data, root, t.finetune.subset, cell.seed)
    tcfg = dataclasses.replace(cfg.transfer_config(cell.seed), calib_order="dataset")
    with tempfile.TemporaryDirectory(prefix="mpqlab-remeasure-") as tmp:
        res = transfer(policy, cfg.model, train, test, t.init, Path(tmp) / "transfer.json", tcfg,
                       show_progress=False, eval_float=False)
    net = res.pop("model")
    n = cfg.sharpness_images
    x, y = analysis_batch(test, n)
    h = surrogate_gap(net, [(x[:n // 2], y[:n // 2]), (x[n // 2:], y[n // 2:])], rho=0.05)["surrogate_gap"]
    return {"target_surrogate_gap": round(h, 5), "target_h_sample": f"{SAMPLED} {n}",
            "target_top1_redo": round(res["top1"], 3), "target_side_code": code_version_row()["proxy_side_code"]}


# ------------------------------------------------------------------------------------------ inferred provenance
def _code_commits() -> tuple[list[int], list[str]]:
    """(commit times, commits) of the commits that touched ``mpqlab/``, oldest first."""
    pkg = Path(__file__).resolve().parents[1]  # the mpqlab package
    try:
        out = subprocess.run(["git", "-C", str(pkg), "log", "--format=%ct %H", "--", str(pkg)],
                             capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.TimeoutExpired):
        return [], []
    pairs = sorted((int(t), h) for t, h in (line.split() for line in out.splitlines() if line.strip()))
    return [t for t, _ in pairs], [h for _, h in pairs]


_COMMITS: tuple | None = None


def inferred_commit(folder: Path) -> str:
    """The last commit touching ``mpqlab/`` before the cell's policy was created (its ``provenance.created``): the
    code that most likely made the cell, when the row did not record it. '' when unknown."""
    global _COMMITS
    if _COMMITS is None:
        _COMMITS = _code_commits()
    times, commits = _COMMITS
    created = (read_json(folder / "policy.json").get("provenance") or {}).get("created")
    if not created or not times:
        return ""
    t = int(time.mktime(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)
    i = bisect.bisect_right(times, t)
    return commits[i - 1] if i else ""


# ----------------------------------------------------------------------------------------------- whole grids
def _one(args) -> str:
    """Re-measure one cell with one intra-op thread, as a grid's worker runs it: pinned, so that the fine-tune and
    the measurements inside (which ask for every core) cannot oversubscribe the machine with N workers. A cell whose
    folder another live process holds is skipped (and stays pending for the next call), as a grid's executor does."""
    cfg_dict, cell, out, root, target = args
    try:
        with pinned_threads(1):
            remeasure_cell(GridConfig.from_dict(cfg_dict), cell, Path(out), root, target)
    except RunFolderBusy as e:  # another live process is re-measuring it: left to it, the rest go on
        return f"{cell.label()}: skipped ({e})"
    return cell.label()


def pending(cfg: GridConfig, out: Path, target: bool) -> list[Cell]:
    """The finished cells not yet re-measured (proxy side; with ``target`` also the target side)."""
    todo = []
    for c in grid_cells(cfg):
        if not c.done(out):
            continue
        row = read_row(c.row_path(out))
        if row.get("proxy_side_sample") != SAMPLED or (
                target and not str(row.get("target_h_sample", "")).startswith(SAMPLED)):
            todo.append(c)
    return todo


def remeasure_grid(config: str | os.PathLike, out: str | os.PathLike | None = None, root=None, workers: int = 1,
                   target: bool = False, limit: int | None = None, log=print) -> Path:
    """Re-measure every finished cell of a grid (``workers`` single-threaded processes), then rewrite its tables.
    ``limit``: stop after that many cells (the rest on the next call)."""
    cfg = load_config(config)
    out = Path(out or Path("results") / cfg.name)
    if not out.is_dir():
        raise MpqlabError(f"no grid folder {out} (run the grid first, or pass --out)")
    if workers < 1:
        raise MpqlabError(f"--workers must be at least 1, got {workers}")
    todo = pending(cfg, out, target)[:limit]
    log(f"{cfg.name}: {len(todo)} cell(s) to re-measure under {code_version_row()['proxy_side_code']}")
    jobs = [(cfg.to_dict(), c, str(out), root, target) for c in todo]
    if workers == 1:
        for j in jobs:
            log("  " + _one(j))
    elif jobs:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            for f in as_completed([pool.submit(_one, j) for j in jobs]):
                log("  " + f.result())
    return merge(cfg, out)
