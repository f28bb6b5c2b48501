"""The experiment harness: a grid of methods x seeds x budgets x settings; each cell = search on the proxy +
transfer to the target. Resumable (a finished cell is skipped; an interrupted search or fine-tune resumes from
its run folder), one tidy CSV and a Markdown table of mean +- std over seeds.

A config is plain JSON (see ``configs/``), read into the typed :class:`~mpqlab.experiments.config.GridConfig` (checked
before any work; each cell's SearchConfig and TransferConfig are built there). Its keys are GridConfig's fields
(a comment on each), the report's :mod:`mpqlab.experiments.report.options`, and two blocks of the library's own configs: the
``search`` block any :class:`~mpqlab.search.SearchConfig` field but those set per cell, the ``target`` block
``data``, ``init`` and any :class:`~mpqlab.training.transfer.TransferConfig` field but ``seed``::

    {"name": ..., "model": "resnet20", "seeds": [0, 1, 2], "budgets": [4.0],
     "methods": ["uniform", "edmips", "edmips+asga", "edmips@target"],
     "target": {"data": "cifar10", "init": CKPT, "epochs": 1, "subset": 10000},
     "settings": {"cross-dataset": {"proxy": "fashion-mnist", "proxy_subset": 2000, "proxy_init": CKPT}},
     "search": {"epochs": 2, "w_candidates": [2, 3, 4]}, "comparisons": [["edmips+asga", "edmips"]]}

``method`` is ``objective[+sharpness]``, ``uniform`` (every searchable layer at the budget's bits, no search),
or ``edmips@target``: EdMIPS searched on the full target training set, the reference whose search time is the
denominator of every "search cost" ratio (run once per seed and budget, shared by the settings). Search cost is
the search process's CPU time (``time.process_time``, all threads), which stays put when other jobs share the
machine; the wall time is reported beside it. Each cell runs with ``threads_per_cell`` intra-op threads (default
1, :mod:`mpqlab.experiments.executors`): oversubscribed OpenMP threads would make wall times (not results) meaningless.

``uniform`` is matched to the budget (mixed W/A bits when it is fractional) and ``random`` draws a random
budget-matched policy per seed: the null baselines no search should lose to. The Markdown report
(:mod:`mpqlab.experiments.report`) prints validity gates, pre-declared paired comparisons with Holm correction and a verdict
per claim.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..analysis.hessian import Hessian
from ..analysis.sharpness import surrogate_gap
from ..core.errors import MpqlabError
from ..core.files import atomic_write_text, load_weights, read_json, write_json
from ..core.locks import run_lock
from ..core.provenance import FIELDS as PROVENANCE_FIELDS
from ..core.provenance import code_label, code_record, config_hash
from ..core.seeding import seed_global
from ..data import analysis_batch, create_dataset
from ..quant.loading import load_splits, model_under_policy
from ..quant.policy import Policy
from ..search import run as run_search
from ..search.methods import REFERENCE, SHARED, is_null, parse_method
from ..training.train import evaluate
from ..training.transfer import transfer
from . import reference
from .config import GridConfig
from .null_policies import null_policy

ROW = "row.json"  # a cell's result, written last: its presence marks the cell done


def cell_done(folder: str | os.PathLike) -> bool:
    """Whether the cell in ``folder`` has finished: its ``row.json`` exists (the one done-check of every executor,
    merge and re-measure)."""
    return (Path(folder) / ROW).is_file()
COLUMNS = ["setting", "method", "budget", "seed", "proxy", "proxy_size", "target", "target_top1",
           "target_top1_before_finetune", "proxy_top1", "gap", "target_surrogate_gap", "bitops", "average_bits", "size_bytes",
           "search_wall_time_s", "search_cpu_time_s", "transfer_wall_time_s", "search_cost_ratio",
           "decisiveness", "layers_changed_by_budget", "rho_at_bound_share", "proxy_h", "proxy_sigma_max",
           "proxy_trace", "proxy_h_common", "proxy_sigma_max_common", "proxy_trace_common", "policy_bits",
           "proxy_side_sample", "target_h_sample", "proxy_side_code", "target_top1_redo", "target_side_code",
           "candidates_top1", "candidates_mean_top1", "candidates_proxy_h", "candidates_proxy_trace",
           *PROVENANCE_FIELDS, "config_hash", "code_inferred"]
SAMPLED = "stratified"  # how rows made since the sampler took their fixed batches (mpqlab.data.sample)
PREFIX_TARGET_H = "first 512 test images"  # target_h_sample of rows made before it (class-sorted: classes 0-5)



def load_config(path: str | os.PathLike) -> GridConfig:
    """Read and check an experiment config (JSON): every key known, methods known, values checked
    (:meth:`GridConfig.from_dict`)."""
    return GridConfig.from_dict(read_json(path, "experiment config", finite=True), path)


def proxy_side(policy: Policy, model: str, init: str, proxy: str, proxy_subset_size, seed: int, root,
               n: int = 128, device: str = "cpu") -> dict:
    """The policy on the proxy side, where the search saw it: the proxy checkpoint quantized by the policy and
    calibrated (not fine-tuned), in eval mode. Top-1 on (up to 4 batches of) the proxy test set; sharpness on ``n``
    images of the cell's proxy search subset: surrogate gap h at rho = 0.05, sigma_max (Lanczos, 6 passes) and the
    Hessian trace (decoupled Hutchinson, 4 probes). Fig. 1 sets these against the policy's target penalty. Every
    batch is a seeded, shuffled, class-balanced sample (:mod:`mpqlab.data.sample`): the calibration batches, the
    top-1 batches and the ``n`` sharpness images."""
    train, test = load_splits(proxy, root, proxy_subset_size, seed)
    seed_global(seed)  # a model without a checkpoint (smoke grids) starts from the same weights every time
    net, _ = model_under_policy(model, init, train.num_classes, policy, None, train, tuple(train.input_size),
                                device=device)
    net.eval()
    top1 = evaluate(net, test, device=device, max_batches=4)["top1"]
    x, y = analysis_batch(train, n, device=device)
    h = surrogate_gap(net, [(x, y)], rho=0.05)["surrogate_gap"]
    hess = Hessian(net, (x, y))
    sigma = hess.eigenvalues(top_k=1, max_iter=6, seed=seed)["eigenvalues"][0]
    # Hutchinson, as when grid v2's records were taken (the default "auto" would take Gauss-Newton here)
    trace = hess.trace(n_probes=4, seed=seed, method="hutchinson")["trace"]
    return {"proxy_top1": top1, "proxy_h": h, "proxy_sigma_max": sigma, "proxy_trace": trace}


def _candidate_transfers(cfg: GridConfig, method: str, policy: Policy, out: Path, train, test, seed: int,
                         show_progress: bool, sides=None) -> dict:
    """With ``transfer_candidates`` in the selection that made this cell's policy (the reference's, or the
    @selected arms'), transfer every candidate the selection did not choose too: the top-1 an unselected search of
    the same kind reaches, for a comparison of unselected with unselected. Returns the row's ``candidates_top1``
    (``k:top1`` for every candidate, the chosen one included) and ``candidates_mean_top1``; empty otherwise.
    For an @selected proxy arm also every candidate's proxy side (:func:`proxy_side`, on the cell's stratified proxy
    sample): ``candidates_proxy_h`` and ``candidates_proxy_trace`` (``k:value``), so that sharpness can be set
    against transfer *within* a seed, across searches that differ only by their proxy subset (claim 3)."""
    block = cfg.reference if method == REFERENCE else cfg.selection if parse_method(method).selected else {}
    if not block.get("transfer_candidates"):
        return {}
    chosen = policy.provenance["reference_selection"]["chosen"]
    top1 = {}
    for k in range(int(block["candidates"])):
        if k == chosen:
            top1[k] = read_json(out / "transfer.json")["top1"]
            continue
        res = transfer(Policy.load(out / f"candidate{k}.json"), cfg.model, train, test, cfg.target.init,
                       out / f"candidate{k}_transfer.json", cfg.transfer_config(seed), show_progress=show_progress,
                       eval_float=False, device=cfg.device)
        top1[k] = res["top1"]
    out_row = {"candidates_top1": " ".join(f"{k}:{v:.3f}" for k, v in sorted(top1.items())),
               "candidates_mean_top1": round(sum(top1.values()) / len(top1), 3)}
    if method != REFERENCE and sides is not None:
        h, trace = {}, {}
        for k in range(int(block["candidates"])):
            side = read_json(out / f"candidate{k}_proxy.json") if (out / f"candidate{k}_proxy.json").is_file() else None
            if side is None:
                side = sides(Policy.load(out / f"candidate{k}.json"))
                write_json(out / f"candidate{k}_proxy.json", side)
            h[k], trace[k] = side["proxy_h"], side["proxy_trace"]
        out_row["candidates_proxy_h"] = " ".join(f"{k}:{v:.5f}" for k, v in sorted(h.items()))
        out_row["candidates_proxy_trace"] = " ".join(f"{k}:{v:.2f}" for k, v in sorted(trace.items()))
    return out_row


def run_cell(cfg: GridConfig | dict, setting: str, method: str, seed: int, budget: float, out: Path, root=None,
             show_progress: bool = False) -> dict:
    """One cell: search (or a null baseline / the reference) + transfer; returns its CSV row. Skipped when already
    done; its folder is held by one process at a time."""
    if cell_done(out):
        return read_row(out / ROW)
    cfg = GridConfig.from_dict(cfg)
    with run_lock(out):
        return _run_cell(cfg, setting, method, seed, budget, out, root, show_progress)


def _run_cell(cfg, setting, method, seed, budget, out: Path, root, show_progress) -> dict:
    row_path = out / ROW
    if cell_done(out):
        return read_json(row_path)
    target, st = cfg.target, cfg.proxy_of(setting, method)
    train, test = load_splits(target.data, root, target.finetune.subset, seed)
    pol_path = out / "policy.json"
    source = _source_cell(cfg, setting, method, seed, budget)
    if source is not None and not pol_path.is_file():
        Policy.load(source / "policy.json")  # checked, then copied byte for byte
        atomic_write_text(pol_path, (source / "policy.json").read_text())
    if pol_path.is_file() and source is not None:
        policy = Policy.load(pol_path)
    elif is_null(method):
        policy = null_policy(cfg.model, cfg.search, method, budget, seed, train.num_classes, tuple(train.input_size))
        policy.save(pol_path)
    elif pol_path.is_file():
        policy = Policy.load(pol_path)
    else:
        scfg = cfg.search_config(method, setting, seed, budget, cfg.reference_extra() if method == REFERENCE else None)
        if method == REFERENCE and reference.is_selected(cfg.reference):  # the best of several target searches
            policy = reference.select_reference(scfg, cfg.reference, seed, out, cfg.model, target.init, show_progress)
            policy.save(pol_path)
        elif parse_method(method).selected:  # the best of several proxy searches, chosen the same way on the proxy
            policy = reference.select_reference(scfg, cfg.selection, seed, out, cfg.model, st.proxy_init,
                                                show_progress, label=method, where="proxy")
            policy.save(pol_path)
        else:
            policy = run_search(scfg, pol_path, show_progress=show_progress)
    t_res = transfer(policy, cfg.model, train, test, target.init, out / "transfer.json", cfg.transfer_config(seed),
                     show_progress=show_progress, eval_float=False, device=cfg.device)
    net = t_res.pop("model")  # the fine-tuned model itself, in eval mode
    sides = lambda pol: proxy_side(pol, cfg.model, st.proxy_init, st.proxy, st.proxy_subset, seed, root,  # noqa: E731
                                   n=cfg.proxy_sharpness_images, device=cfg.device)
    unselected = _candidate_transfers(cfg, method, policy, out, train, test, seed, show_progress, sides)
    n = cfg.sharpness_images
    x, y = analysis_batch(test, n, device=cfg.device)
    sharp = surrogate_gap(net, [(x[:n // 2], y[:n // 2]), (x[n // 2:], y[n // 2:])], rho=0.05)["surrogate_gap"]
    src_row = source / ROW if source is not None else None
    chosen = (policy.provenance.get("reference_selection") or {}).get("chosen")
    measured = out / f"candidate{chosen}_proxy.json"  # the chosen candidate, measured beside its siblings
    if src_row is not None and src_row.is_file():  # the proxy side does not depend on the fine-tune: reuse it
        prox = {k: float(read_json(src_row)[k]) for k in ("proxy_top1", "proxy_h", "proxy_sigma_max", "proxy_trace")}
    elif chosen is not None and measured.is_file():
        prox = read_json(measured)
    else:
        prox = sides(policy)
    proxy_top1 = prox["proxy_top1"]
    row = {"setting": setting, "method": method, "budget": budget, "seed": seed, "proxy": st.proxy,
           "proxy_size": policy.provenance.get("proxy_size", ""), "target": target.data,
           "target_top1": round(t_res["top1"], 3), "target_top1_before_finetune": round(t_res["top1_before_finetune"], 3),
           "proxy_top1": round(proxy_top1, 3), "gap": round(t_res["top1"] - proxy_top1, 3), "target_surrogate_gap": round(sharp, 5),
           "bitops": t_res["bitops"], "average_bits": round(t_res["average_bits"], 4), "size_bytes": t_res["size_bytes"],
           "search_wall_time_s": round(float(policy.provenance.get("search_wall_time_s", 0.0)), 2),
           "search_cpu_time_s": round(float(policy.provenance.get("search_cpu_time_s", 0.0)), 2),
           "transfer_wall_time_s": t_res["finetune_time_s"], "search_cost_ratio": "",
           "decisiveness": _round(policy.provenance.get("decisiveness"), 4),
           "layers_changed_by_budget": policy.provenance.get("layers_changed_by_budget", ""),
           "rho_at_bound_share": _round(policy.provenance.get("rho_at_bound_share"), 4),
           "proxy_h": round(prox["proxy_h"], 5), "proxy_sigma_max": round(prox["proxy_sigma_max"], 3),
           "proxy_trace": round(prox["proxy_trace"], 2),
           "policy_bits": " ".join(f"{l['w_bits']}/{l['a_bits']}" for l in policy.layers.values() if l["searchable"]),
           **common_columns(prox if needs_common(cfg, st, method) is False else None),
           "proxy_side_sample": SAMPLED, "target_h_sample": f"{SAMPLED} {n}", **unselected, **code_version_row(),
           "config_hash": config_hash(cfg.to_dict())}
    if needs_common(cfg, st, method):
        common = cfg.common_proxy()
        row.update(common_columns(proxy_side(policy, cfg.model, common.proxy_init, common.proxy, common.proxy_subset,
                                             seed, root, n=cfg.proxy_sharpness_images)))
    write_json(row_path, row)
    return row


def needs_common(cfg: GridConfig, st, method: str) -> bool | None:
    """Whether a cell's policy needs a second proxy-side measurement on the common proxy (searched on another
    proxy); False when its own proxy is the common one; None for the reference (not a Fig. 1 point)."""
    if method == REFERENCE:
        return None
    common = cfg.common_proxy()
    return (st.proxy, st.proxy_init, st.proxy_subset) != (common.proxy, common.proxy_init, common.proxy_subset)


def common_columns(prox: dict | None) -> dict:
    """The ``*_common`` columns: proxy-side sharpness measured on the grid's common proxy (the first setting's proxy
    images and checkpoint), so that Fig. 1 pools policies searched on different proxies like with like."""
    keys = ("proxy_h", "proxy_sigma_max", "proxy_trace")
    digits = {"proxy_h": 5, "proxy_sigma_max": 3, "proxy_trace": 2}
    return {f"{k}_common": ("" if prox is None else round(prox[k], digits[k])) for k in keys}


def code_version_row() -> dict:
    """The row's provenance columns (:mod:`mpqlab.core.provenance`) and the label of the code that took its proxy side."""
    code = code_record()
    return {**{k: code[k] for k in PROVENANCE_FIELDS}, "proxy_side_code": code_label(code)}


def _source_cell(cfg: dict, setting: str, method: str, seed: int, budget: float) -> Path | None:
    """With ``policies_from`` (another grid's output folder), the same cell's folder there: its policy is reused
    (no search), so only the transfer differs, e.g. a fine-tune-length check. A searched policy is reused only when
    its search started from the checkpoint this cell's search would start from: after a change of the target
    checkpoint the proxy searches are reused and the reference (searched from the target checkpoint) runs again."""
    cfg = GridConfig.from_dict(cfg)
    src = cfg.policies_from
    if not src:
        return None
    folder = Cell(setting, method, seed, budget).folder(src)
    if is_null(method) or not (folder / "policy.json").is_file():
        return folder
    started = (read_json(folder / "policy.json").get("provenance") or {}).get("config", {}).get("checkpoint")
    return folder if _same_checkpoint(started, cfg.search_start(setting, method)) else None


def _same_checkpoint(a, b) -> bool:
    norm = lambda p: None if p is None else os.path.normpath(str(p))
    return norm(a) == norm(b)


def check_inputs(cfg: GridConfig | dict, root=None) -> GridConfig:
    """Checked before any cell starts: the config (:meth:`GridConfig.from_dict`), and what a grid reads from disk
    (the target's and every setting's initial checkpoint, each opened and read, the ``policies_from`` grid's
    policies, and that every search subset and held-out validation split fits in its dataset). Returns the typed
    config."""
    cfg = GridConfig.from_dict(cfg, cfg.get("name", "config") if isinstance(cfg, dict) else cfg.name)
    inits = [("target init", cfg.target.init)] + [
        (f"settings.{name}.proxy_init", st.proxy_init) for name, st in cfg.settings.items()]
    for where, path in inits:
        if path is not None and not Path(path).is_file():
            raise MpqlabError(f"{where}: checkpoint {path} does not exist (train it first, see checkpoints/README.md)")
        if path is not None:
            try:
                load_weights(path)
            except Exception as e:  # any way a file can fail to be a checkpoint: say which file, before any worker
                raise MpqlabError(f"{where}: checkpoint {path} cannot be read ({type(e).__name__}: {e}); restore "
                                  "or retrain it") from None
    check_policies_from(cfg)
    check_sizes(cfg, root)
    return cfg


def check_sizes(cfg: GridConfig, root=None) -> None:
    """Every search's subset, and with a selection its held-out validation images too, must fit in the training
    split it is drawn from: refused before any cell (a @selected arm on a 2,500-image proxy cannot hold out 1,000
    images and still draw 2,000)."""
    wants = []  # (where, dataset, images needed)
    for name, st in cfg.settings.items():
        searched = [m for m in cfg.methods if not is_null(m) and m != REFERENCE]
        if st.proxy_subset and searched:
            wants.append((f"settings.{name}.proxy_subset", st.proxy, int(st.proxy_subset)))
        if any(parse_method(m).selected for m in searched) and cfg.selection.get("candidates"):
            sel = cfg.selection
            wants.append((f"selection (subset {sel.get('subset', 2000)} + validation_images "
                          f"{sel.get('validation_images', 5000)}) on settings.{name}'s proxy", st.proxy,
                          int(sel.get("subset", 2000)) + int(sel.get("validation_images", 5000))))
    if REFERENCE in cfg.methods and cfg.reference.get("candidates"):
        ref = cfg.reference
        wants.append((f"reference (subset {ref.get('subset', 2000)} + validation_images "
                      f"{ref.get('validation_images', 5000)})", cfg.target.data,
                      int(ref.get("subset", 2000)) + int(ref.get("validation_images", 5000))))
    sizes = {}
    for where, data, need in wants:
        if data not in sizes:
            sizes[data] = len(create_dataset(data, "train", root=root))
        if need > sizes[data]:
            raise MpqlabError(f"{where}: needs {need} training images of {data}, which has {sizes[data]}; lower "
                              "the subset or the validation images")


def check_policies_from(cfg: GridConfig) -> None:
    """Every cell of a ``policies_from`` grid must find its policy there, checked before any work starts."""
    if not cfg.policies_from:
        return
    missing = [c.label() for c in grid_cells(cfg) if not (c.folder(cfg.policies_from) / "policy.json").is_file()]
    if missing:
        raise MpqlabError(f"policies_from {cfg.policies_from}: no policy.json for {len(missing)} cell(s), e.g. "
                          f"{missing[0]}; run that grid first or drop those seeds")


def read_row(path: str | os.PathLike) -> dict:
    """A finished cell's row. Rows written before the column was renamed call the fine-tuned model's surrogate gap
    h(0.05) on target test images ``sharpness``; it is read as ``target_surrogate_gap``."""
    row = read_json(path, "cell result", fix="remove this file to redo the cell")
    if "sharpness" in row and "target_surrogate_gap" not in row:
        row["target_surrogate_gap"] = row.pop("sharpness")
    return row


def _round(v, digits):
    return "" if v is None else round(float(v), digits)


@dataclass(frozen=True)
class Cell:
    """One grid cell: a method at one budget and seed, in one proxy setting (``reference`` for the target search)."""

    setting: str
    method: str
    seed: int
    budget: float

    def folder(self, out: str | os.PathLike) -> Path:
        """``out/cells/<setting>/<method>/b<budget>_s<seed>``."""
        return Path(out) / "cells" / self.setting / cell_name(self.method) / f"b{self.budget:g}_s{self.seed}"

    def row_path(self, out: str | os.PathLike) -> Path:
        """The cell's finished result: ``row.json`` in its folder (written last, atomically: it marks the cell done)."""
        return self.folder(out) / ROW

    def done(self, out: str | os.PathLike) -> bool:
        """Whether the cell has finished in the grid folder ``out``."""
        return cell_done(self.folder(out))

    def label(self) -> str:
        return f"{self.setting} {self.method} budget={self.budget:g} seed={self.seed}"


def cell_name(method: str) -> str:
    """A method's folder name: 'edmips+asga' -> 'edmips_asga', 'edmips@target' -> 'edmips_at_target',
    'uniform:W3A2' -> 'uniform_W3A2', 'edmips+sam:rho=0.2' -> 'edmips_sam_rho0.2'."""
    return method.replace("+", "_").replace("@", "_at_").replace(":", "_").replace("=", "").replace(",", "_")


def grid_cells(cfg: GridConfig | dict) -> list[Cell]:
    """Every cell of a config in canonical order: per budget and seed, the reference first, then (with
    ``shared_nulls``) the null baselines once, then settings x methods."""
    cfg = GridConfig.from_dict(cfg)
    cells = []
    shared = cfg.shared_nulls
    only = {m: set(s) for m, s in cfg.method_seeds.items()}
    for budget in cfg.budgets:
        for seed in cfg.seeds:
            if REFERENCE in cfg.methods:
                cells.append(Cell("reference", REFERENCE, seed, budget))
            if shared:
                cells.extend(Cell(SHARED, m, seed, budget) for m in cfg.methods if is_null(m))
            for setting in cfg.settings:
                cells.extend(Cell(setting, m, seed, budget) for m in cfg.methods
                             if m != REFERENCE and not (shared and is_null(m)))
    return [c for c in cells if c.method not in only or c.seed in only[c.method]]
