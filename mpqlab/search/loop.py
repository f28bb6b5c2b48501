"""The search loop: ``run(SearchConfig(...), out="policy.json")`` searches a policy on the proxy data.

One step on a proxy batch (single-level, as EdMIPS / GMPQ's code: weights and bit logits on the same batch):

- ``sharpness="none"``: loss = objective; weights by SGD, bit logits by Adam.
- ``sam | gsam | asga``: pass 1 at theta (loss L, gradient g), pass 2 at theta + e with BatchNorm statistics
  frozen (L_p, g_p); weights updated by the chosen rule (:mod:`mpqlab.optim`); the bit logits receive the
  average of their gradients from the two passes **[choice]**.
- Either way the bit logits then get the gradient of the cost term (:mod:`.budget`), taken once.
- ``bilevel=True``: first-order bi-level instead: the bit logits' task gradient comes from a batch of a
  held-out proxy split (``val_fraction``) after the weight step **[option]**.

Telemetry: ``metrics.jsonl`` gets one line per step (loss, L_p, h, rho, gradient norms, cos(g, g_p) globally and
per layer, cos between the bit-logit gradients of the task loss and of the cost term, expected BitOPs, step
time); ``softmaxes.jsonl`` one line per epoch. :func:`read_metrics` / :func:`read_softmaxes` return DataFrames.
The run folder (``<policy>.run``) holds ``state.pt`` after each epoch; rerunning the same config resumes.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F

from .. import __version__
from ..core.batchnorm_state import use_running_stats
from ..core.errors import MpqlabError
from ..core.precision import autocast, batch_layout, resolve_precision, weights_layout
from ..core.provenance import code_record
from ..core.run_folders import RunFolder
from ..core.run_folders import run_dir_of as _run_dir_of
from ..core.runtime import check_finite, dist_info, progress, set_threads
from ..core.seeding import seed_global
from ..core.telemetry import read_metrics, read_softmaxes  # noqa: F401  (re-exported)
from ..core.vectors import cosine, flatten
from ..data import create_dataset, make_loader, proxy_subset, split_holdout
from ..models import create_model, feature_layer
from ..optim import RULES, frozen_bn_stats
from ..optim.radius import at_bound
from ..quant.checkpoints import load_model
from ..quant.cost import budget_bitops
from ..quant.policy import Policy
from ..quant.quantizers import calibrate
from .budget import final_policy, hinge_cost
from .config import ADDED_SETTINGS, SearchConfig, temperature, warmup_steps  # noqa: F401  (SearchConfig re-exported)
from .objectives import objective_spec
from .supernet import Supernet
from .trajectory import keep_state


def _defined(x, digits: int | None = None):
    """A telemetry number, None when undefined (NaN: e.g. the angle to a zero gradient), so JSON stays strict."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return None
    return x if digits is None else round(x, digits)


def _flat_grads(params) -> torch.Tensor:
    """The parameters' gradients as one vector (zeros where a parameter has none)."""
    return flatten([p.grad if p.grad is not None else torch.zeros_like(p) for p in params])


def _set_grads(params, flat: torch.Tensor) -> None:
    i = 0
    for p in params:
        n = p.numel()
        p.grad = flat[i:i + n].view_as(p).clone()
        i += n


def _layer_of(param_name: str) -> str | None:
    """'layer1.0.conv1.weight' -> 'layer1.0.conv1' (conv / linear weights only)."""
    return param_name[: -len(".weight")] if param_name.endswith(".weight") else None


def prepare_data(cfg: SearchConfig):
    """The search's train (and held-out) data from its config: dataset, proxy subset, split."""
    train = create_dataset(cfg.data, "train", root=cfg.root)
    if cfg.holdout:
        train, _ = split_holdout(train, cfg.holdout, cfg.holdout_seed)
    if cfg.subset or cfg.bilevel:
        train, val = proxy_subset(train, size=cfg.subset, seed=cfg.proxy_seed,
                                  val_fraction=cfg.val_fraction if cfg.bilevel else 0.0)
    else:
        val = None
    return train, val


def prepare_model(cfg: SearchConfig, num_classes: int):
    """The model a search starts from: the checkpoint's weights, or seeded random ones."""
    if cfg.checkpoint:
        model, _ = load_model(cfg.model, cfg.checkpoint, num_classes=num_classes, device=cfg.device)
    else:
        model = create_model(cfg.model, num_classes=num_classes).to(cfg.device)
    return model


def run_dir_of(out: str | os.PathLike) -> Path:
    """The run folder of a search writing ``out``: ``<out>.run`` beside it (:func:`mpqlab.core.run_folders.run_dir_of`)."""
    return _run_dir_of(out)


def run(cfg: SearchConfig, out: str | os.PathLike, show_progress: bool = True,
        stop_after_epochs: int | None = None, keep_states: int | None = None) -> Policy | None:
    """Search a policy and write it to ``out`` (run folder ``<out>.run`` beside it, held exclusively while the
    search runs). Returns the policy, or None when ``stop_after_epochs`` stopped the run early on purpose.
    ``keep_states``: save the model's weights every that many steps (and at step 0) for the plane of the search's
    trajectory (:mod:`mpqlab.search.trajectory`); not part of the config: it changes what is kept, not the search."""
    cfg.check()
    rf = RunFolder(run_dir_of(out), asdict(cfg), "search", telemetry=("metrics.jsonl", "softmaxes.jsonl"),
                   writer=dist_info()[0] == 0, added=ADDED_SETTINGS)
    with rf:
        return _run(cfg, Path(out), rf, show_progress, stop_after_epochs, keep_states)


def _run(cfg: SearchConfig, out: Path, rf: RunFolder, show_progress: bool, stop_after_epochs: int | None,
         keep_states: int | None = None):
    set_threads()
    seed_global(cfg.seed)
    rank, world = dist_info()
    t_start, c_start = time.time(), time.process_time()
    train, val = prepare_data(cfg)
    model = prepare_model(cfg, train.num_classes)
    input_size = tuple(train.input_size)
    searcher = objective_spec(cfg.objective).search_function()
    if searcher is not None:  # not a gradient search on the supernet (HAWQ): the registry names its function
        policy = searcher(model, cfg, train, input_size)
        policy.provenance.update(_provenance(cfg, train, time.time() - t_start, time.process_time() - c_start))
        if rank == 0:
            policy.save(out)
        return policy

    loader = make_loader(train, cfg.batch_size, train=True, seed=cfg.seed, device=cfg.device, rank=rank,
                         world_size=world, max_batches=cfg.max_batches)
    val_loader = (make_loader(val, cfg.batch_size, train=True, seed=cfg.seed + 1, device=cfg.device, rank=rank,
                              world_size=world) if cfg.bilevel else None)
    steps = len(loader)
    if steps == 0:
        raise MpqlabError(f"proxy set of {len(train)} images gives no batch of {cfg.batch_size}")
    calib = next(iter(make_loader(train, min(256, len(train)), train=False, device=cfg.device)))[0]
    search = Search(cfg, model, input_size, calib)
    net, wopt, budget = search.net, search.wopt, search.budget_bitops
    base = wopt.base_optimizer if cfg.sharpness != "none" else wopt
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(base, T_max=cfg.epochs * steps)
    if world > 1:  # gradients of weights and bit logits all-reduced in backward; rank 0's buffers broadcast
        from torch.nn.parallel import DistributedDataParallel as DDP  # deferred: distributed runs only

        search.fwd = DDP(net, device_ids=[torch.cuda.current_device()] if str(cfg.device).startswith("cuda") else None)

    start, wall_before, cpu_before = 0, 0.0, 0.0
    run_dir = rf.path
    state = rf.resume()
    if state is not None:
        search.load_state_dict(state)
        sched.load_state_dict(state["sched"])
        start, wall_before = int(state["epoch"]), float(state["wall_time_s"])
        cpu_before = float(state.get("cpu_time_s", 0.0))

    keep = bool(keep_states) and rank == 0
    if keep and start == 0:
        keep_state(run_dir, 0, net.net)
    t_run, c_run = time.time(), time.process_time()
    for epoch in range(start, cfg.epochs):
        if stop_after_epochs is not None and epoch >= stop_after_epochs:
            return None
        net.train()
        if cfg.freeze_bn:
            use_running_stats(net)
        loader.set_epoch(epoch)
        val_iter = iter(val_loader) if val_loader else None
        lines = []
        for i, (x, y) in enumerate(progress(loader, f"search {epoch + 1}/{cfg.epochs}", show_progress, steps)):
            t0 = time.time()
            t = epoch * steps + i
            net.set_temperature(temperature(cfg, t, cfg.epochs * steps))
            rec = search.step(x, y, val_iter, val_loader, move_logits=t >= warmup_steps(cfg, cfg.epochs * steps))
            sched.step()
            rec.update(step=epoch * steps + i + 1, epoch=epoch + 1, lr=base.param_groups[0]["lr"],
                       step_time_s=time.time() - t0)
            lines.append(rec)
            if keep and (t + 1) % keep_states == 0:
                keep_state(run_dir, t + 1, net.net)
        rf.append("metrics.jsonl", lines)
        rf.append("softmaxes.jsonl", [{
            "epoch": epoch + 1, "softmaxes": net.softmaxes(), "candidates": {"w": net.w_candidates, "a": net.a_candidates},
            "tau": float(temperature(cfg, (epoch + 1) * steps - 1, cfg.epochs * steps)),
            "decisiveness": net.decisiveness(), "expected_bitops": net.expected_bitops().item(),
            "realised_bitops": net.realised_bitops().item()}])
        rf.save(epoch + 1, {**search.state_dict(), "sched": sched.state_dict(),
                            "wall_time_s": wall_before + time.time() - t_run,
                            "cpu_time_s": cpu_before + time.process_time() - c_run})
    search_time = wall_before + time.time() - t_run
    cpu_time = cpu_before + time.process_time() - c_run
    net.set_temperature(temperature(cfg, cfg.epochs * steps - 1, cfg.epochs * steps))
    bits, changes = final_policy(net.argmax_bits(), net.softmaxes(), net.table, budget, cfg.w_candidates,
                                 cfg.a_candidates, repair=cfg.repair)
    policy = Policy.from_bits(net.net, bits, model_name=cfg.model, w_candidates=cfg.w_candidates,
                              a_candidates=cfg.a_candidates, fixed_bits=cfg.fixed_bits, input_size=input_size,
                              fixed_layers=set(net.fixed_layers), num_classes=train.num_classes)
    policy.provenance.update(_provenance(cfg, train, search_time, cpu_time))
    policy.provenance.update(final_softmaxes=net.softmaxes(), budget_bitops=budget, budget_changes=changes,
                             final_expected_bitops=net.expected_bitops().item(),
                             final_realised_bitops=net.realised_bitops().item(), decisiveness=net.decisiveness(),
                             layers_changed_by_budget=len(changes), searchable_layers=len(net.searchable_layers()),
                             run_dir=str(run_dir), **radius_summary(run_dir / "metrics.jsonl", cfg))
    if rank == 0:
        policy.save(out)
    return policy


def _provenance(cfg: SearchConfig, train, search_time: float, cpu_time: float) -> dict:
    """``search_cpu_time_s`` is this process's CPU time (all its threads): unlike the wall time it hardly moves
    when other jobs share the machine, so search-cost ratios are taken from it."""
    return {"method": cfg.method, "model": cfg.model, "proxy_dataset": cfg.data, "proxy_size": len(train),
            "seed": cfg.seed, "objective": cfg.objective, "sharpness": cfg.sharpness, "config": asdict(cfg),
            "search_wall_time_s": round(search_time, 2), "search_cpu_time_s": round(cpu_time, 2),
            "mpqlab_version": __version__,
            "torch": torch.__version__, **code_record()}


def radius_summary(metrics_path: Path, cfg: SearchConfig) -> dict:
    """Share of the steps whose radius sat at a bound (rho_min or rho_max, relative tolerance 1e-6), the median
    rho and its range: whether an adaptive radius adapted."""
    if cfg.sharpness == "none" or not metrics_path.is_file():
        return {}
    rhos = [r.get("rho_schedule", r["rho"]) for r in map(json.loads, metrics_path.read_text().splitlines())
            if r.get("rho") is not None]  # the bounds are the schedule's: judged on the radius it set
    if not rhos:
        return {}
    at = [at_bound(r, cfg.rho_min, cfg.rho_max) for r in rhos]
    srt = sorted(rhos)
    return {"rho_at_bound_share": round(sum(at) / len(at), 4), "rho_median": srt[len(srt) // 2],
            "rho_range": [srt[0], srt[-1]]}


class Search:
    """One search's state: the supernet (``net``, weights, quantizers and bit logits ``bit_logits``), the objective, the
    weight optimizer (SGD, or SAM / GSAM / ASGA around SGD), the bit logits' optimizer (Adam) and the budget in
    BitOPs (``budget_bitops``; the config's ``budget`` is in average bits), with quantizers calibrated on
    ``calib_batch``. :meth:`step` is one search step. ``fwd`` is the module the forward passes go through: the
    supernet, or its DistributedDataParallel wrapper under torchrun."""

    def __init__(self, cfg: SearchConfig, model, input_size, calib_batch):
        self.cfg = cfg
        self.objective = objective_spec(cfg.objective).from_config(cfg, model, feature_layer(cfg.model))
        self.net = Supernet(model, cfg.w_candidates, cfg.a_candidates, cfg.fixed_bits,
                            input_size=input_size).to(cfg.device)
        self.precision = resolve_precision(cfg.precision, cfg.device)  # fp32 or bf16 (the forward passes only)
        weights_layout(self.net, cfg.channels_last)
        calibrate(self.net, [self._layout(calib_batch)])  # calibration is float32, as every evaluation
        weights = self.net.named_weight_parameters()
        decay = [(n, p) for n, p in weights if p.dim() > 1]
        no_decay = [(n, p) for n, p in weights if p.dim() <= 1]
        quant = self.net.named_quantizer_parameters()
        if cfg.freeze_weights:  # the bit logits' gradients still flow through the (constant) quantized weights
            for _, p in weights + quant:
                p.requires_grad_(False)
        groups = [{"params": [p for _, p in decay], "param_names": [n for n, _ in decay], "weight_decay": cfg.weight_decay},
                  {"params": [p for _, p in no_decay], "param_names": [n for n, _ in no_decay], "weight_decay": 0.0},
                  {"params": [p for _, p in quant], "param_names": [n for n, _ in quant], "weight_decay": 0.0,
                   "perturb": cfg.perturb_quantizers}]
        sgd_kw = dict(lr=cfg.lr, momentum=cfg.momentum, nesterov=True)
        rule = RULES.lookup(cfg.sharpness)
        if rule.optimizer is None:
            for g in groups:
                g.pop("perturb", None)
            self.wopt = torch.optim.SGD(groups, **sgd_kw)
        else:
            kw = dict(rho=cfg.rho, radius=cfg.radius or rule.default_radius, rho_max=cfg.rho_max,
                      rho_min=cfg.rho_min, h_ema=cfg.h_ema, model=self.net, ascent_every=cfg.ascent_every,
                      **{arg: getattr(cfg, name) for arg, name in rule.options.items()}, **sgd_kw)
            self.wopt = rule.optimizer(groups, torch.optim.SGD, **kw)
        self.bit_logits = self.net.bit_logits()
        self.aopt = torch.optim.Adam(self.bit_logits, lr=cfg.lr_alpha, betas=(0.5, 0.999))
        self.budget_bitops = budget_bitops(self.net.table, cfg.budget,  # BitOPs; cfg.budget is average bits
                                    {n: (cfg.fixed_bits,) * 2 for n in self.net.fixed_layers})
        self.fwd = self.net

    def _layout(self, x):
        """A batch in the supernet's memory layout (channels-last when the config asks for it)."""
        return batch_layout(x, self.cfg.channels_last)

    def _forward(self, x, y):
        """The objective's forward pass (loss, info) in the config's arithmetic; the loss is float32 either way."""
        with autocast(self.precision, self.cfg.device):
            loss, info = self.objective(self.fwd, x, y)
        return loss.float(), info

    def state_dict(self) -> dict:
        """The supernet's and both optimizers' states (what a resumed search needs besides its schedule)."""
        return {"supernet": self.net.state_dict(), "wopt": self.wopt.state_dict(), "aopt": self.aopt.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`'s output."""
        self.net.load_state_dict(state["supernet"])
        self.wopt.load_state_dict(state["wopt"])
        self.aopt.load_state_dict(state["aopt"])

    def step(self, x, y, val_iter=None, val_loader=None, move_logits: bool = True) -> dict:
        """One search step on batch (x, y); returns its telemetry record. ``val_iter`` / ``val_loader``: the
        held-out proxy batches of the bi-level option; ``move_logits=False`` (warm-up) trains the weights only."""
        x = self._layout(x)
        self.objective.begin_step(x, y)
        rec: dict = {}
        passes = []  # (loss, objective info, the bit logits' task gradient) of each pass the weight step takes

        def closure():
            for p in self.bit_logits:
                p.grad = None
            self.wopt.zero_grad(set_to_none=True)
            loss, info = self._forward(x, y)
            check_finite(loss, "search (perturbed pass)" if passes else "search")
            loss.backward()
            passes.append((loss.detach(), info, _flat_grads(self.bit_logits)))
            return loss

        # the weight optimizer's own step: SGD one pass; a two-pass rule its protocol (ascent, perturbed pass with
        # BatchNorm frozen, descent), or one pass on an amortised step
        self.wopt.step(closure)
        loss, info, a_task = passes[0]
        rec.update(loss=loss.item(), ce=info["ce"], attribution=info.get("attribution"),
                   top1=(info["logits"].argmax(1) == y).float().mean().item() * 100)
        if self.cfg.sharpness == "none":
            rec.update(loss_p=None, h=None, rho=None, grad_norm=None, grad_p_norm=None, cos_g_gp=None)
        elif len(passes) == 1:  # amortised step: one pass, g_p estimated from the last full step
            rec.update(loss_p=None, h=None, rho=self.wopt.last["rho"], grad_norm=None, grad_p_norm=None, cos_g_gp=None,
                       curvature=None, amortised=True)
        else:
            a_task = (a_task + passes[1][2]) / 2
            last = self.wopt.last
            rec.update(loss_p=last["loss_p"], h=last["h"], rho=last["rho"], rho_schedule=last["rho_schedule"],
                       grad_norm=last["grad_norm"],
                       grad_p_norm=last["grad_p_norm"], cos_g_gp=_defined(last["cos"]), curvature=last.get("curvature"))
            if self.cfg.per_layer_telemetry:
                rec["cos_layer"] = {_layer_of(n): _defined(c, 5) for n, c in last["cos_per_param"].items()
                                    if _layer_of(n) in self.net.table}
        if val_iter is not None:  # first-order bi-level: the task gradient of the logits from held-out data
            try:
                xv, yv = next(val_iter)
            except StopIteration:
                xv, yv = next(iter(val_loader))
            for p in self.bit_logits:
                p.grad = None
            with frozen_bn_stats(self.net):
                with autocast(self.precision, self.cfg.device):
                    val_loss = F.cross_entropy(self.fwd(self._layout(xv)), yv)
                val_loss.float().backward()
            a_task = _flat_grads(self.bit_logits)
            self.wopt.zero_grad(set_to_none=True)
        for p in self.bit_logits:
            p.grad = None
        expected, realised = self.net.expected_bitops(), self.net.realised_bitops()
        reg = hinge_cost(realised if self.cfg.cost_on == "realised" else expected, self.budget_bitops, self.cfg.cost_weight)
        if self.cfg.entropy_weight:
            reg = reg + self.cfg.entropy_weight * self.net.entropy()
        if reg.requires_grad:
            reg.backward()
        a_cost = _flat_grads(self.bit_logits)
        rec["cos_alpha_task_cost"] = _defined(cosine(a_task, a_cost))  # undefined while the cost hinge is inactive
        if move_logits:
            _set_grads(self.bit_logits, a_task + a_cost)
            self.aopt.step()
        for p in self.bit_logits:
            p.grad = None
        rec.update(expected_bitops=expected.item(), expected_over_budget=expected.item() / self.budget_bitops,
                   realised_bitops=realised.item(), realised_over_budget=realised.item() / self.budget_bitops,
                   tau=float(self.net.mixed()[self.net.searchable_layers()[0]].tau), alpha_task_grad_norm=a_task.norm().item())
        return rec
