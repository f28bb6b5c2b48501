"""The library functions behind each CLI subcommand (plain arguments in, a JSON-able dict out)."""
from __future__ import annotations

import os
import platform
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .quant.checkpoints import load_model, save_checkpoint
from .core.errors import MpqlabError
from .data import analysis_batch
from .models import create_model
from .quant.loading import load_splits, model_under_policy, parse_uniform
from .core.knobs import check_choices
from .core.run_folders import run_dir_of
from .core.runtime import set_threads
from .training.train import TrainConfig, evaluate, fit
from .training.transfer import TransferConfig
from .core.seeding import seed_global
from .core.runtime import init_distributed
from .quant.cost import model_cost
from .models import default_input_size, first_last_layers
from .quant.policy import Policy
from .search import run
from .training.transfer import transfer
from .analysis.hessian import Hessian, HessianConfig
from .analysis.landscape import LandscapeConfig, eigen_direction, random_direction, save_npz, slice_1d, slice_2d


def train_command(model: str, data: str, out: str, cfg: TrainConfig | None = None, root=None, device="cpu",
                  argv=None) -> dict:
    """Train ``model`` in full precision on ``data`` under ``cfg`` (default :class:`TrainConfig`) and write ``out``
    (.safetensors) with its card."""
    cfg = cfg or TrainConfig()
    set_threads()
    if not str(out).endswith(".safetensors"):
        raise MpqlabError(f"--out {out} must end in .safetensors")
    if cfg.init and not Path(cfg.init).is_file():
        raise MpqlabError(f"--init {cfg.init}: no such checkpoint")
    if not 0 <= cfg.swa_epochs <= cfg.epochs:
        raise MpqlabError(f"--swa-epochs {cfg.swa_epochs} must lie between 0 and --epochs {cfg.epochs}")
    rank, world = init_distributed(device)
    if world > 1 and str(device).startswith("cuda"):
        device = f"cuda:{os.environ.get('LOCAL_RANK', 0)}"
    train, test = load_splits(data, root, cfg.subset, cfg.seed)
    seed_global(cfg.seed)  # this torch seeds each process at random: initial weights come from --seed
    if cfg.init:  # the model and class count are checked against the checkpoint's card
        net, _ = load_model(model, cfg.init, num_classes=train.num_classes)
    else:
        net = create_model(model, num_classes=train.num_classes)
    run_dir = run_dir_of(out)
    run_config = {"model": model, "data": data, "subset": cfg.subset}
    if cfg.init:  # only when given, so run folders made before the option existed still resume
        run_config["init"] = str(cfg.init)
    res = fit(net, train, test, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=cfg.seed,
              schedule=cfg.schedule, label_smoothing=cfg.label_smoothing, out_dir=run_dir, device=device,
              cutout=cfg.cutout, precision=cfg.precision, swa_epochs=cfg.swa_epochs, config=run_config)
    ev = evaluate(net, test, device=device)
    card = {"model": model, "num_classes": train.num_classes, "dataset": data, "train_size": len(train),
            **asdict(cfg),  # every TrainConfig field
            "precision_used": res["precision"],  # what --precision auto resolved to on this machine
            "test_top1": round(ev["top1"], 2), "test_loss": round(ev["loss"], 4), "test_n": ev["n"],
            # with --swa-epochs: the last epoch's own weights, before averaging (test_top1 is the averaged model's)
            **({"test_top1_last_epoch": round(res["history"][-1]["test_top1"], 2)} if cfg.swa_epochs else {}),
            "train_time_s": round(res["train_time_s"], 1),  # wall clock, pauses included
            # process CPU time, threads summed (None: some epochs ran before it was recorded)
            "train_cpu_s": None if res["train_cpu_s"] is None else round(res["train_cpu_s"], 1),
            "command": " ".join(["mpqlab"] + list((argv or [])[1:])) if argv else None,
            "mpqlab_version": __version__, "torch": torch.__version__, "machine": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(), "world_size": world,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if rank == 0:
        save_checkpoint(out, net.to(memory_format=torch.contiguous_format), card)
    return card


def eval_command(model: str, data: str, checkpoint: str, policy=None, uniform=None, root=None, device="cpu",
                 max_batches=None) -> dict:
    """``mpqlab eval``: top-1 and loss of a checkpoint, float or under a policy / uniform bits."""
    set_threads()
    train, test = load_splits(data, root)
    net, _ = model_under_policy(model, checkpoint, train.num_classes, _policy(policy), uniform, train,
                                tuple(train.input_size), device)
    res = evaluate(net, test, device=device, max_batches=max_batches)
    return {"top1": round(res["top1"], 2), "loss": round(res["loss"], 4), "n": res["n"]}


def cost_command(model: str, input_size: int | None = None, num_classes: int = 10, policy=None, uniform=None) -> dict:
    """``mpqlab cost``: MACs, BitOPs, size and average bits of a model under a policy / uniform bits."""

    size = default_input_size(model)
    if input_size:
        size = (size[0], input_size, input_size)
    net = create_model(model, num_classes=num_classes)
    bits, fixed = None, set(first_last_layers(net))
    if policy or uniform:
        if policy and uniform:
            raise MpqlabError("give --policy or --uniform, not both")
        pol = Policy.load(policy) if policy else Policy.uniform(net, *parse_uniform(uniform), input_size=size)
        pol.validate(net, size)
        bits, fixed = pol.bits(), pol.fixed_layers
    c = model_cost(net, bits, size, fixed)
    return {"macs": c["macs"], "bitops": c["bitops"], "size_bytes": c["size_bytes"], "params": c["params"],
            "other_params": c["other_params"], "average_bits": round(c["average_bits"], 4),
            "input_size": list(size)}


def search_command(out: str, cfg) -> dict:
    """``mpqlab search``: run a policy search under ``cfg`` (a :class:`~mpqlab.search.SearchConfig`) and write the
    policy to ``out``; returns the policy's summary."""

    init_distributed(cfg.device or "cpu")
    policy = run(cfg, out)
    print(policy.summary())
    t = policy.totals()
    return {"policy": str(out), "run_dir": policy.provenance.get("run_dir"), **t,
            "search_wall_time_s": policy.provenance["search_wall_time_s"]}


def transfer_command(policy: str, model: str, data: str, init: str | None, out: str,
                     cfg: TransferConfig | None = None, root=None, device="cpu", argv=None) -> dict:
    """``mpqlab transfer``: fine-tune a model's weights on the target data under a fixed policy, with ``cfg``
    (default :class:`TransferConfig`)."""
    cfg = cfg or TransferConfig()
    init_distributed(device)
    train, test = load_splits(data, root, cfg.subset, cfg.seed)
    res = transfer(_policy(policy), model, train, test, init, out, cfg, device=device,
                   args={"argv": " ".join(argv) if argv else None, "policy": policy, "model": model, "data": data,
                         "init": init, **asdict(cfg)})
    return {k: res[k] for k in ("top1", "loss", "top1_before_finetune", "top1_float", "bitops", "size_bytes",
                                "average_bits", "finetune_time_s")}


def _policy(path: str | None):
    """The policy file a command was given, read and checked (None without one)."""

    return Policy.load(path) if path else None


def _analysis_setup(model, data, checkpoint, policy, uniform, root, n, device):
    set_threads()
    train, test = load_splits(data, root)
    net, _ = model_under_policy(model, checkpoint, train.num_classes, _policy(policy), uniform, train,
                                tuple(train.input_size), device)
    net.eval()
    x, y = analysis_batch(test, n, device)
    return net, x, y


def hessian_command(model, data, checkpoint, policy=None, uniform=None, cfg=None, root=None, device="cpu") -> dict:
    """Top-k eigenvalues and trace of the loss Hessian (weights) on the first ``cfg.n`` test images
    (``cfg``: a :class:`~mpqlab.analysis.hessian.HessianConfig`, default if None)."""

    cfg = cfg or HessianConfig()
    check_choices(cfg)  # backend
    if cfg.backend == "pyhessian" and cfg.chunk_size is not None:
        raise MpqlabError("--chunk-size applies to the mpqlab backend; pyhessian takes the images as one batch")
    if cfg.backend == "pyhessian" and cfg.trace_method not in ("auto", "hutchinson"):
        raise MpqlabError(f"--trace-method {cfg.trace_method} applies to the mpqlab backend; pyhessian's trace is "
                          "textbook Hutchinson")
    net, x, y = _analysis_setup(model, data, checkpoint, policy, uniform, root, cfg.n, device)
    h = Hessian(net, (x, y), backend=cfg.backend, device=device, chunk_size=cfg.chunk_size)
    eig = h.eigenvalues(top_k=cfg.top_k, max_iter=100, tol=1e-3, seed=cfg.seed)
    tr = h.trace(n_probes=cfg.trace_probes, seed=cfg.seed, method=cfg.trace_method)
    out = {"backend": cfg.backend, "n": len(y), "eigenvalues": eig["eigenvalues"],
           "eigenvalues_time_s": round(eig["time_s"], 3), "trace": tr["trace"], "trace_std_error": tr.get("std_error"),
           "trace_time_s": round(tr["time_s"], 3), "trace_probes": cfg.trace_probes,
           "params": sum(p.numel() for p in h.params)}
    if cfg.backend == "mpqlab":
        out.update(chunk_size=h.chunk_size, eigen_method=eig["method"], eigen_passes=eig["hvps"],
                   trace_method=tr["method"], trace_method_why=tr["why"], trace_decoupled=tr["decoupled"])
    return out


def landscape_command(model, data, checkpoint, out, policy=None, uniform=None, cfg=None, root=None,
                      device="cpu") -> dict:
    """A 1-D or 2-D loss slice along filter-normalised random directions (or the top eigenvector) -> .npz
    (``cfg``: a :class:`~mpqlab.analysis.landscape.LandscapeConfig`, default if None)."""
    cfg = cfg or LandscapeConfig()
    if not str(out).endswith(".npz"):
        raise MpqlabError(f"--out {out} must end in .npz")
    check_choices(cfg)  # dims, direction
    net, x, y = _analysis_setup(model, data, checkpoint, policy, uniform, root, cfg.n, device)
    seed = cfg.seed
    d1 = eigen_direction(net, (x[:256], y[:256]), seed=seed) if cfg.direction == "eigen" else random_direction(net, seed)
    grid = np.linspace(-cfg.span, cfg.span, cfg.points)
    meta = {"model": model, "data": data, "checkpoint": checkpoint, "policy": policy, "uniform": uniform,
            "direction": cfg.direction, "seeds": [seed, seed + 1], "n": len(y)}
    if cfg.dims == 1:
        res = slice_1d(net, (x, y), d1, grid, meta=meta)
    else:
        res = slice_2d(net, (x, y), d1, random_direction(net, seed + 1), grid, grid, meta=meta)
    save_npz(res, out)
    c = (cfg.points - 1) // 2
    center = res["loss"][c] if cfg.dims == 1 else res["loss"][c, c]
    return {"out": str(out), "dims": cfg.dims, "points": cfg.points, "span": cfg.span, "n": len(y),
            "loss_center": float(center), "loss_max": float(res["loss"].max()), "time_s": round(res["time_s"], 2)}
