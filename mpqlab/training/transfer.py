"""Transfer a searched policy to the target: load the target's full-precision checkpoint, apply the policy by
layer name (checked), calibrate the quantizers, fine-tune weights and quantizer parameters with the bits fixed,
report top-1 on the target test set.

CIFAR-stem -> ImageNet-stem: a policy searched on ``resnet18_cifar`` applies to torchvision's ``resnet18``
because every layer keeps its name and channels; only the fixed first conv differs in kernel and stride
(3x3/1 vs 7x7/2), which :meth:`Policy.validate` allows for fixed layers and reports in ``notes``. The policy's
cost totals are recomputed on the target model at the target's input size.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..core.errors import MpqlabError
from ..core.files import read_json, save_weights, write_json
from ..core.knobs import check_choices, knob
from ..core.precision import PRECISIONS
from ..core.provenance import code_record
from ..core.run_folders import run_dir_of
from ..core.runtime import dist_info, set_threads
from ..core.seeding import seed_global
from ..data import make_loader
from ..models import create_model
from ..quant.checkpoints import load_model
from ..quant.cost import layer_table, totals
from ..quant.loading import model_under_policy
from ..quant.policy import Policy
from ..quant.quantizers import calibrate
from .train import evaluate, fit


@dataclass
class TransferConfig:
    """Settings of the fine-tune on the target with the bits fixed (``mpqlab transfer``, one option per field; the
    experiment grid's ``target`` block): SGD (Nesterov) under a cosine schedule, weights and quantizer parameters."""
    epochs: int = knob(1, "fine-tune epochs on the target (the one default: grids, notebooks, the command)", lo=1,
                       hi=10 ** 6)
    lr: float = knob(0.01, "fine-tune learning rate (cosine to 0)", lo=0, hi=10, lo_open=True)
    batch_size: int = knob(128, "images per step", lo=1, hi=10 ** 6)
    weight_decay: float = knob(4e-5, "weight decay", lo=0, hi=1)
    calib_batches: int = knob(4, "batches that calibrate the quantizers' clips before the fine-tune", lo=1,
                              hi=10 ** 6)
    subset: int | None = knob(None, "class-balanced subset of the target's training set (default: all)", lo=1,
                              hi=10 ** 9)
    max_batches: int | None = knob(None, "batches per epoch and per evaluation (default: all)", lo=1, hi=10 ** 9)
    seed: int = knob(0, "seed of the calibration batches, batch order and subset", lo=0, hi=2 ** 32 - 1)
    calib_order: str = knob("stratified", "which training images calibrate the quantizers", choices={
        "stratified": "a seeded, shuffled, class-balanced sample (mpqlab.data.sample)",
        "dataset": "the first calib_batches batches in dataset order, as every transfer made before the sampler "
                   "(class-sorted data: a few classes only); only to reproduce those transfers"})
    precision: str = knob("fp32", "arithmetic of the fine-tune's forward passes: fp32, or bf16 autocast with float32 "
                                  "weights, gradients and optimizer state; evaluation and calibration stay fp32",
                          choices=PRECISIONS)


def transfer(policy: Policy, model: str, train, test, init: str | None, out: str | os.PathLike,
             cfg: TransferConfig | None = None, *, device="cpu", show_progress: bool = True,
             stop_after_epochs: int | None = None, args: dict | None = None, eval_float: bool = True) -> dict | None:
    """Fine-tune ``model`` (from ``init``) under ``policy`` on ``train`` with ``cfg`` (default
    :class:`TransferConfig`; its ``subset`` is the caller's: ``train`` is used as given). Writes the result JSON
    (and the weights beside it) and returns the result dict, whose ``"model"`` is the fine-tuned model itself, in
    eval mode (not written to the JSON): nothing needs to reload it from disk. None when ``stop_after_epochs``
    stopped the run on purpose."""
    set_threads()
    if not isinstance(policy, Policy):
        raise MpqlabError(f"transfer takes a Policy, got {type(policy).__name__} (Policy.load(path) reads a file)")
    cfg = cfg or TransferConfig()
    check_choices(cfg)  # calib_order, precision: refused before any work
    epochs, lr, batch_size, weight_decay, seed = cfg.epochs, cfg.lr, cfg.batch_size, cfg.weight_decay, cfg.seed
    calib_batches, max_batches = cfg.calib_batches, cfg.max_batches
    pol = policy
    out = Path(out)
    if out.suffix != ".json":
        raise MpqlabError(f"--out {out} must be a .json file")
    seed_global(seed)  # a model without ``init`` starts from seeded random weights: reruns and resumes agree
    if init:
        net, card = load_model(model, init, num_classes=train.num_classes, device=device)
    else:
        net, card = create_model(model, num_classes=train.num_classes).to(device), {}
    input_size = tuple(train.input_size)
    notes = pol.validate(net, input_size)
    float_eval = evaluate(net, test, device=device, max_batches=max_batches) if eval_float else {"top1": None}
    pol.apply(net, input_size)
    net.to(device)
    seed_global(seed)
    calib = [x for x, _ in make_loader(train, batch_size, train=False, device=device, max_batches=calib_batches,
                                       eval_order=cfg.calib_order)]
    calibrate(net, calib)
    before = evaluate(net, test, device=device, max_batches=max_batches)
    config = {"policy": pol.to_dict()["layers"], "model": model, "init": init, "calib_batches": calib_batches,
              "max_batches": max_batches}
    res = fit(net, train, test, epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
              schedule="cosine", seed=seed, device=device, out_dir=run_dir_of(out), max_batches=max_batches,
              show_progress=show_progress, eval_every=epochs, config=config, stop_after_epochs=stop_after_epochs,
              precision=cfg.precision)
    if not res["finished"]:
        return None
    last = res["history"][-1]
    if max_batches is None and "test_top1" in last:  # fit's last epoch evaluated this very model on the whole test
        after = {"top1": last["test_top1"], "loss": last["test_loss"], "n": len(test)}  # split: not done twice
    else:
        after = evaluate(net, test, device=device, max_batches=max_batches)
    table = layer_table(create_model(model, num_classes=train.num_classes), input_size)
    result = {"top1": after["top1"], "loss": after["loss"], "n": after["n"],
              "top1_before_finetune": before["top1"], "top1_float": float_eval["top1"],
              **totals(table, pol.bits(), pol.fixed_layers),  # on the target model, at the target's input size
              "finetune_time_s": round(res["train_time_s"], 2), "epochs": epochs, "history": res["history"],
              "notes": notes, "init_card": card, "policy_provenance": {k: v for k, v in pol.provenance.items()
                                                                      if k != "final_softmaxes"},
              "args": args or {"model": model, "init": init, "epochs": epochs, "lr": lr, "batch_size": batch_size,
                               "seed": seed, "calib_order": cfg.calib_order,
                               # only when not the default, so the records of every earlier transfer still match
                               **({"precision": cfg.precision} if cfg.precision != "fp32" else {})},
              "code": code_record(),
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    weights = out.with_suffix(".safetensors")
    result["weights"] = str(weights)
    if dist_info()[0] == 0:
        save_weights(weights, net.to(memory_format=torch.contiguous_format).state_dict(),
                     {"model": model, "num_classes": train.num_classes, "quantized": True})
        write_json(out, result)
    result["model"] = net.eval()
    return result


def finetuned(policy: Policy, model: str, train, test, init: str, out: str | os.PathLike,
              epochs: int = TransferConfig.epochs, max_batches: int | None = None, seed: int = 0,
              lr: float = TransferConfig.lr):
    """The model a user would deploy under ``policy``: ``init`` quantized by it and fine-tuned (:func:`transfer`),
    cached in ``out`` (a finished ``transfer.json`` there is reused, an interrupted one resumes). Returns
    (model in eval mode, the transfer result)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    res_path, pol_path = out / "transfer.json", out / "policy.json"
    if pol_path.is_file() and Policy.load(pol_path).bits() != policy.bits():
        raise MpqlabError(f"{out} holds a fine-tune under another policy; give each policy its own folder")
    policy.save(pol_path)
    if res_path.is_file():
        res = read_json(res_path)
        if res.get("epochs") != epochs:
            raise MpqlabError(f"{out} holds a {res.get('epochs')}-epoch fine-tune, not {epochs}; use another folder")
    else:
        res = transfer(policy, model, train, test, init, res_path,
                       TransferConfig(epochs=epochs, lr=lr, seed=seed, max_batches=max_batches), show_progress=False,
                       eval_float=False)
        return res.pop("model"), res
    net, _ = model_under_policy(model, res["weights"], train.num_classes, policy, None, None,
                                tuple(train.input_size))  # a cached fine-tune: its weights are read back
    return net.eval(), res
