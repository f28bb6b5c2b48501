"""The training / evaluation loop shared by full-precision training, transfer fine-tuning and everything else.

``fit`` trains with SGD (Nesterov momentum) under a one-cycle or cosine schedule, optional label smoothing, a
progress bar, one JSON line of metrics per epoch (``metrics.jsonl``), and a resumable state (``state.pt``,
written atomically after every epoch, loaded with ``weights_only=True``). Under ``torchrun`` the model is
wrapped in ``DistributedDataParallel``, loaders are sharded and only rank 0 writes files.
"""
from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import MpqlabError
from ..core.knobs import knob
from ..core.precision import PRECISIONS, autocast, batch_layout, resolve_precision, weights_layout
from ..core.run_folders import RunFolder
from ..core.runtime import check_finite, dist_info, progress
from ..core.seeding import seed_global
from ..data import make_loader


@dataclass
class TrainConfig:
    """Settings of a full-precision training run (``mpqlab train``, one option per field): SGD with Nesterov
    momentum 0.9 and weight decay 5e-4 under a learning-rate schedule, He et al.'s CIFAR augmentation."""
    epochs: int = knob(30, "training epochs (CIFAR-10 with --cutout 16: 160 gave 89.50 %, 300 gave 90.32 %, see "
                       "checkpoints/README.md)", lo=1, hi=10 ** 6)
    batch_size: int = knob(128, "images per step (per process under torchrun)", lo=1, hi=10 ** 6)
    lr: float = knob(0.2, "peak learning rate", lo=0, hi=10, lo_open=True)
    schedule: str = knob("onecycle", "learning-rate schedule", choices=["onecycle", "cosine", "constant"])
    label_smoothing: float = knob(0.0, "label smoothing of the cross-entropy", lo=0, hi=0.99)
    subset: int | None = knob(None, "class-balanced subset of the training set, in images (default: all)", lo=1,
                              hi=10 ** 9)
    cutout: int = knob(0, "Cutout square side in pixels (0: off; 16 for CIFAR-10)", lo=0, hi=4096)
    seed: int = knob(0, "seed of the initial weights, batch order and augmentation", lo=0, hi=2 ** 32 - 1)
    precision: str = knob("auto", "arithmetic of the forward pass (evaluation is always fp32)", choices=PRECISIONS)
    init: str | None = knob(None, "start from this checkpoint's weights (NAME.safetensors) instead of a random "
                                  "initialisation (default: random)")
    swa_epochs: int = knob(0, "stochastic weight averaging (Izmailov et al. 2018): the checkpoint is the mean of the "
                              "weights at the end of the last N epochs, BatchNorm statistics recomputed on the "
                              "training set (0: off)", lo=0, hi=10 ** 6)


@dataclass
class EvalConfig:
    """What ``mpqlab eval`` measures (one command-line option per field)."""
    max_batches: int | None = knob(None, "stop after this many test batches of 500 images (unset: the whole test "
                                         "split)", lo=1, hi=10 ** 9)


@torch.no_grad()
def evaluate(model: nn.Module, data, batch_size: int = 500, device="cpu", max_batches: int | None = None) -> dict:
    """Top-1 accuracy (%) and mean cross-entropy of ``model`` on ``data`` (eval mode restored afterwards)."""
    was_training = model.training
    model.eval()
    correct, loss_sum, n = 0, 0.0, 0
    try:
        for x, y in make_loader(data, batch_size, train=False, device=device, max_batches=max_batches):
            out = model(x)
            loss_sum += F.cross_entropy(out, y, reduction="sum").item()
            correct += (out.argmax(1) == y).sum().item()
            n += len(y)
    finally:
        model.train(was_training)
    return {"top1": 100.0 * correct / n, "loss": loss_sum / n, "n": n}


def build_optimizer(params, lr: float, momentum: float, weight_decay: float, nesterov: bool = True):
    """SGD with weight decay on weights only (not on BatchNorm, biases or quantizer parameters)."""
    decay, no_decay = [], []
    for name, p in params:
        if not p.requires_grad:
            continue
        (decay if p.dim() > 1 and "quant" not in name else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.SGD([g for g in groups if g["params"]], lr=lr, momentum=momentum, nesterov=nesterov)


def build_schedule(opt, schedule: str, total_steps: int, lr: float):
    """The learning-rate schedule per step: ``onecycle``, ``cosine`` or ``constant``."""
    if schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(total_steps, 2),
                                                   pct_start=0.15, div_factor=10.0, final_div_factor=100.0)
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(total_steps, 1))
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    raise MpqlabError(f"unknown schedule {schedule!r}; use onecycle, cosine or constant")


@torch.no_grad()
def swa_finish(model: nn.Module, swa, loader) -> None:
    """Put the averaged weights of ``swa`` (a ``torch.optim.swa_utils.AveragedModel`` of ``model``) into ``model``
    and recompute its BatchNorm running statistics with one pass over ``loader`` in train mode: the running
    statistics gathered along the trajectory do not describe the averaged weights (Izmailov et al. 2018, sec. 3.2)."""
    torch.optim.swa_utils.update_bn(loader, swa.module)
    model.load_state_dict(swa.module.state_dict())


def fit(model: nn.Module, train_data, test_data=None, **kw) -> dict:
    """Train ``model`` in place; returns the final metrics. With ``out_dir`` the run checkpoints after every
    epoch, holds its folder exclusively while it runs (:mod:`mpqlab.core.locks`), and a rerun with the same
    ``config`` resumes where it stopped (``stop_after_epochs`` stops early on purpose, for tests of resumption).
    Keyword arguments: see :func:`_fit`."""
    return _fit(model, train_data, test_data, **kw)


def _fit(model: nn.Module, train_data, test_data=None, *, epochs: int = 30, batch_size: int = 128, lr: float = 0.1,
        momentum: float = 0.9, weight_decay: float = 5e-4, schedule: str = "onecycle", label_smoothing: float = 0.0,
        out_dir: str | os.PathLike | None = None, seed: int = 0, device="cpu", show_progress: bool = True,
        max_batches: int | None = None, eval_every: int = 1, config: dict | None = None,
        stop_after_epochs: int | None = None, channels_last: bool = True, cutout: int = 0,
        precision: str = "fp32", swa_epochs: int = 0) -> dict:
    """SGD (Nesterov) under a one-cycle / cosine / constant schedule, metrics per epoch, resumable state;
    ``precision`` (:mod:`mpqlab.core.precision`): ``fp32``, ``bf16`` autocast, or ``auto``; ``swa_epochs`` > 0 leaves
    in ``model`` the mean of its weights at the end of the last ``swa_epochs`` epochs (:func:`swa_finish`)."""
    if epochs < 1:
        raise MpqlabError(f"epochs must be at least 1, got {epochs}")
    if not 0 <= swa_epochs <= epochs:
        raise MpqlabError(f"swa_epochs must lie in [0, epochs = {epochs}], got {swa_epochs}")
    rank, world = dist_info()
    device = torch.device(device)
    precision = resolve_precision(precision, device)
    seed_global(seed)
    model.to(device)
    weights_layout(model, channels_last)  # channels-last: about 1.3x faster convolutions on CPU
    net = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP  # deferred: distributed runs only

        net = DDP(model, device_ids=[torch.cuda.current_device()] if device.type == "cuda" else None)
    loader = make_loader(train_data, batch_size, train=True, seed=seed, device=device, rank=rank, world_size=world,
                         max_batches=max_batches, cutout=cutout)
    steps = len(loader)
    if steps == 0:
        raise MpqlabError(f"training set of {len(train_data)} samples gives no batch of {batch_size}")
    opt = build_optimizer(model.named_parameters(), lr, momentum, weight_decay)
    sched = build_schedule(opt, schedule, epochs * steps, lr)
    out = Path(out_dir) if out_dir else None
    config = dict(config or {}, epochs=epochs, batch_size=batch_size, lr=lr, schedule=schedule, seed=seed,
                  weight_decay=weight_decay, label_smoothing=label_smoothing, world_size=world)
    if cutout:  # only when on, so run folders made before the option existed still resume
        config["cutout"] = cutout
    if precision != "fp32":  # likewise; a run folder resumes only under the precision it started with
        config["precision"] = precision
    if swa_epochs:  # likewise
        config["swa_epochs"] = swa_epochs
    rf = RunFolder(out, config, "training run", writer=rank == 0) if out else None
    with rf if rf else contextlib.nullcontext():
        return _epochs(model, net, loader, opt, sched, rf, test_data, epochs, steps, device, eval_every,
                       label_smoothing, channels_last, show_progress, stop_after_epochs, precision, swa_epochs)


def _epochs(model, net, loader, opt, sched, rf, test_data, epochs, steps, device, eval_every, label_smoothing,
            channels_last, show_progress, stop_after_epochs, precision, swa_epochs) -> dict:
    """The epochs of :func:`fit` from where its run folder stopped (inside the folder's lock)."""
    start, history = 0, []
    # the running mean of the weights over the averaged epochs (its count, n_averaged, is one of its buffers)
    swa = torch.optim.swa_utils.AveragedModel(model) if swa_epochs else None
    state = rf.resume() if rf else None
    if state is not None:
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start, history = int(state["epoch"]), json.loads(state["history"])
        if swa is not None:
            swa.load_state_dict(state["swa"])
    t_start = time.time()
    for epoch in range(start, epochs):
        if stop_after_epochs is not None and epoch >= stop_after_epochs:
            break
        net.train()
        loader.set_epoch(epoch)
        t0, c0, loss_sum, correct, n = time.time(), time.process_time(), 0.0, 0, 0
        for x, y in progress(loader, f"epoch {epoch + 1}/{epochs}", show_progress, steps):
            x = batch_layout(x, channels_last)
            with autocast(precision, device):
                out_ = net(x)
            loss = F.cross_entropy(out_.float(), y, label_smoothing=label_smoothing)
            check_finite(loss, f"training epoch {epoch + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(y)
            correct += (out_.argmax(1) == y).sum().item()
            n += len(y)
        rec = {"epoch": epoch + 1, "train_loss": loss_sum / n, "train_top1": 100.0 * correct / n,
               "lr": opt.param_groups[0]["lr"], "epoch_time_s": time.time() - t0,
               # CPU time of this process, all threads summed: unlike the wall time it does not grow while the
               # process is paused; sharing the cores with another job can still inflate it (OpenMP threads
               # spin while they wait: one 300-epoch-run epoch beside a test run took 907 s of CPU against 92 s)
               "epoch_cpu_s": time.process_time() - c0}
        if swa is not None and epoch + 1 > epochs - swa_epochs:
            swa.update_parameters(model)
            rec["swa_averaged"] = int(swa.n_averaged)
        if test_data is not None and ((epoch + 1) % eval_every == 0 or epoch + 1 == epochs):
            ev = evaluate(model, test_data, device=device)
            rec.update(test_top1=ev["top1"], test_loss=ev["loss"])
        history.append(rec)
        if rf:
            rf.save(epoch + 1, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                "scheduler": sched.state_dict(), "history": json.dumps(history),
                                **({"swa": swa.state_dict()} if swa is not None else {})})
            rf.rewrite("metrics.jsonl", history)
    done = len(history) >= epochs
    swa_test = None
    if done and swa is not None:
        swa_finish(model, swa, loader)
        if test_data is not None:
            swa_test = evaluate(model, test_data, device=device)["top1"]
    return {"history": history, "finished": done,
            # top-1 of the averaged weights (the last record's test_top1 is the last epoch's own weights)
            "swa_test_top1": swa_test, "train_time_s": sum(h["epoch_time_s"] for h in history),
            # None when some epoch ran before epoch_cpu_s was recorded
            "train_cpu_s": (sum(h["epoch_cpu_s"] for h in history)
                            if all("epoch_cpu_s" in h for h in history) else None),
            "wall_time_s": time.time() - t_start, "precision": precision}
