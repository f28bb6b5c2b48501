"""Landscapes of searched policies at the target, after the fine-tune: the other half of the flat-minima claim.

:mod:`~mpqlab.experiments.studies.policy_landscapes` slices each policy at the proxy checkpoint, calibrated and not
fine-tuned. Here the same policies of the same grid are sliced where the paper's claim ends: at the target, after
the grid's own fine-tune. The grid cells did not keep their fine-tuned weights, so each (seed, policy) is
fine-tuned once more, with the grid's fine-tune at the cell's seed (:meth:`GridConfig.transfer_config`), and the
weights are kept under ``out/weights/`` with the transfer's JSON beside them as their card (top-1 on the whole test
set, code, settings). A fine-tune is a fresh draw (the grid's redone fine-tunes moved a cell's top-1 by an sd of
about 0.7 points), so the card's top-1 is reported beside the two draws the grid's row recorded; the weights are
never recomputed once written.

Samples: the fine-tune's own training images (the seed's subset of the target's training split) and a held-out
sample of the target's test split, both seeded, shuffled and class-balanced. Directions as on the proxy side; the
gradient gap is g_target - g_proxy at the fine-tuned weights, the proxy sample drawn from the grid's proxy subset.

**Declared tests** (``DECLARED``), as on the proxy side: the mean over the random band of log width on the training
sample; gate: along the top Hessian eigenvector a model is narrower than along random directions on at least 90 %
of the models. Contrast EdMIPS+ASGA vs EdMIPS paired by seed, a t interval and its verdict, written on 2026-12-07
before any target model was sliced (the study then had those two policies and the reference); contrast EdMIPS+SAM
vs EdMIPS (claim-3 grid), written with the four other policies (``DECLARED["extended"]``) before any of their
models was fine-tuned. Each contrast is its own test (``families``): adding the second changed nothing of the
first, which had been read.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

from ...core.files import read_json
from ...core.seeding import seed_global
from ...data.sample import analysis_batch
from ...quant.loading import load_splits, model_under_policy
from ...quant.policy import Policy
from ...training.transfer import transfer
from ..config import GridConfig
from . import policy_landscapes as PL

DECLARED = {
    **{k: PL.DECLARED[k] for k in ("grid", "setting", "proxy", "proxy_subset", "seeds", "n", "random_seeds",
                                   "directions", "points", "k", "span_factor", "eigen_iters", "plane_seed",
                                   "plane_points", "alpha", "gate_share")},
    "side": "target",  # models: the policies fine-tuned on the target, as the grid's cells did
    "grid_config": "configs/grid_v3.json",  # the grid whose fine-tune (target block) is repeated per seed
    # label -> the cell folder (with {seed}) whose policy.json is fine-tuned and sliced: every policy the proxy side
    # has (the first declaration, 2026-12-07, had EdMIPS, EdMIPS+ASGA and the reference; the other four were added
    # by EXTENDED before any of their models was fine-tuned or sliced)
    "policies": dict(PL.DECLARED["policies"]),
    "baseline": "EdMIPS",  # the model whose k-fold span sets each seed's span per direction kind
    # contrast 0 was declared alone on 2026-12-07 (and read); contrast 1 was declared alone by EXTENDED: two tests,
    # each its own family (no adjustment across them, none added to a test already read)
    "contrasts": [["EdMIPS+ASGA", "EdMIPS"], ["EdMIPS+SAM", "EdMIPS (claim-3 grid)"]],
    "families": [[0], [1]],
    "extended": "2026-12-08, before any model of uniform W3A2, random, EdMIPS (claim-3 grid) or EdMIPS+SAM was "
                "fine-tuned or sliced: those four policies added (each fine-tuned once with grid v3's fine-tune at the "
                "cell's seed, which is also claim3_radius's: same checkpoint, epochs, subset and learning rate), and "
                "the contrast EdMIPS+SAM vs EdMIPS (claim-3 grid), paired by seed, as its own declared test",
}


def weights_stem(out: Path, seed: int, label: str) -> Path:
    """``out/weights/s<seed>_<label, file-safe>``: ``.safetensors`` (the fine-tuned weights) and ``.json`` (their
    card: the transfer's result)."""
    return out / "weights" / PL.model_file(out, seed, label).with_suffix("").name


class TargetStudy(PL.Study):
    """One seed's inputs at the target: the fine-tune's training subset and the test split, the fine-tuned models."""

    def __init__(self, cfg: dict, seed: int, root=None, repo: Path | None = None, out: Path | None = None):
        self.cfg, self.seed, self.root = cfg, seed, root
        self.repo = Path(repo or PL.REPO)
        self.out = Path(out)
        self.grid = GridConfig.from_dict(read_json(self.repo / cfg["grid_config"], "experiment config", finite=True),
                                         cfg["grid_config"])
        t = self.grid.target
        self.train, self.test = load_splits(t.data, root, t.finetune.subset, seed)
        self.samples = {"train": analysis_batch(self.train, cfg["n"], seed=seed),
                        "held-out": analysis_batch(self.test, cfg["n"], seed=seed)}
        self._proxy = None

    def gap_samples(self) -> tuple:
        """(proxy sample, target sample): a sample of the grid's proxy subset at this seed, and the fine-tune's."""
        if self._proxy is None:
            proxy_train, _ = load_splits(self.cfg["proxy"], self.root, self.cfg["proxy_subset"], self.seed)
            self._proxy = analysis_batch(proxy_train, self.cfg["n"], seed=self.seed)
        return self._proxy, self.samples["train"]

    def weights(self, label: str) -> Path:
        """The fine-tuned weights of ``label`` at this seed; fine-tuned (once, ever) when missing."""
        stem = weights_stem(self.out, self.seed, label)
        if not stem.with_suffix(".safetensors").is_file():
            stem.parent.mkdir(parents=True, exist_ok=True)
            transfer(Policy.load(self.policy_path(label)), self.grid.model, self.train, self.test,
                     self.grid.target.init, stem.with_suffix(".json"), self.grid.transfer_config(self.seed),
                     show_progress=False, eval_float=False, device=self.grid.device)
        return stem.with_suffix(".safetensors")

    def model(self, label: str):
        path = self.weights(label)
        seed_global(self.seed)
        net, _ = model_under_policy(self.grid.model, str(path), self.train.num_classes,
                                    Policy.load(self.policy_path(label)), None, self.train,
                                    tuple(self.train.input_size))
        return net.eval()


def run(out: str | os.PathLike, cfg: dict | None = None, root=None, seeds=None, policies=None, repo=None,
        progress: bool = True) -> Path:
    """Fine-tune (when not yet kept) and slice every (seed, policy) of the target-side study not yet in ``out``."""
    out = Path(out)
    return PL.run(out, cfg or DECLARED, root, seeds, policies, repo, progress,
                  study=functools.partial(TargetStudy, out=out))


def finetune_draws(cfg: dict, out: str | os.PathLike, repo=None):
    """Per (seed, policy): the top-1 of the fine-tune kept for the landscapes beside the draws the grid's row
    recorded (its first fine-tune and, where every fine-tune was redone, the redo)."""
    import pandas as pd  # deferred: slow import, tables only

    out = Path(out)
    grid_rows = {label: PL.committed_rows(cfg, label, repo) for label in cfg["policies"]}
    rows = []
    for seed in cfg["seeds"]:
        for label in cfg["policies"]:
            card = weights_stem(out, seed, label).with_suffix(".json")
            row = grid_rows[label].get(seed)
            if not card.is_file() or row is None:
                continue
            rows.append({"seed": seed, "policy": label, "kept fine-tune": read_json(card, "fine-tune card")["top1"],
                         "grid draw 1": row.get("target_top1"), "grid draw 2": row.get("target_top1_redo")})
    return pd.DataFrame(rows)
