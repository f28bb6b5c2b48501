"""The reference of a grid, chosen by its own target validation score: ``candidates`` EdMIPS searches on the
target (each on its own seeded, class-balanced subset of the target's training set, with the grid's proxy-search
recipe, starting from the target checkpoint), each candidate scored where the transfer starts
(:func:`mpqlab.training.scoring.score_at_checkpoint`: the target checkpoint under the policy, quantizers calibrated,
BatchNorm re-estimated, forward passes only) on ``validation_images`` held out of the target's training set, which
no candidate search sees; the best one is the reference. **[choice]**

Why: grid v2's reference (one EdMIPS search over a full target epoch, 390 steps, weights co-adapting) lost to
uniform W3A2 on the 90.32 % checkpoint, and the same search with the weights frozen at the checkpoint did not
beat it either (``results/reference_diagnosis``, ``results/grid_v3_reference_pilot``). A reference picked by a
held-out target score is robust by design: a candidate that co-adapted its way to a poor policy loses the
selection. It sees more target data than any proxy search sees proxy data (``candidates`` x ``subset`` images).

Config (the grid's ``reference`` block)::

    {"candidates": 4,             # target searches per seed, the best by validation score is the reference
     "subset": 2000,              # target training images per candidate search
     "validation_images": 5000,   # held-out target training images of the selection (class-balanced, seeded)
     "bn_batches": 40,            # batches that re-estimate BatchNorm before a candidate is scored
     "transfer_candidates": false,  # also transfer every unchosen candidate (the unselected searches' top-1)
     ...}                         # any other SearchConfig field, e.g. "epochs"

The same selection, on the proxy, makes a grid's ``objective[+rule]@selected`` arms (the ``selection`` block, same
keys): a proxy arm chosen the way the reference is, for a comparison of like with like.

The cell's folder holds ``candidate<k>.json`` (each a policy with its run folder) and ``selection.json`` (every
candidate's validation top-1, written as each is scored: a rerun resumes).
"""
from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from ..training.scoring import score_at_checkpoint
from ..data import create_dataset, split_holdout
from ..core.errors import MpqlabError
from ..core.files import read_json, write_json
from ..quant.policy import Policy
from ..search import SearchConfig, run as run_search

SELECTION = "selection.json"
KEYS = ("candidates", "subset", "validation_images", "bn_batches", "transfer_candidates")


def is_selected(reference: dict) -> bool:
    """Whether a grid's ``reference`` block asks for a validation-chosen reference."""
    return bool(reference.get("candidates"))


def candidate_configs(base: SearchConfig, reference: dict, seed: int) -> list[SearchConfig]:
    """The candidate searches of one seed: ``base`` (the target, its checkpoint, the grid's search recipe) on
    subsets drawn with seeds ``100 * seed + k``, the validation images held out with ``seed``."""
    n = int(reference["candidates"])
    if n < 1:
        raise MpqlabError(f"reference.candidates must be at least 1, got {n}")
    return [replace(base, subset=int(reference.get("subset", 2000)), proxy_seed=100 * seed + k, seed=100 * seed + k,
                    holdout=int(reference.get("validation_images", 5000)), holdout_seed=seed) for k in range(n)]


def select_reference(base: SearchConfig, reference: dict, seed: int, out: Path, model: str, init: str,
                     show_progress: bool = False, label: str = "edmips@target", where: str = "target") -> Policy:
    """Search the candidates of ``seed``, score each on the held-out target images, and return the best policy,
    its provenance holding every candidate's score, the rule, and the search cost of all candidates together."""
    out = Path(out)
    cfgs = candidate_configs(base, reference, seed)
    train = create_dataset(base.data, "train", root=base.root)
    rest, val = split_holdout(train, cfgs[0].holdout, seed)
    sel_path = out / SELECTION
    scores = read_json(sel_path, "reference selection") if sel_path.is_file() else {"candidates": []}
    done = {c["k"]: c for c in scores["candidates"]}
    policies, search_cpu, search_wall = [], 0.0, 0.0
    for k, cfg in enumerate(cfgs):
        pol = run_search(cfg, out / f"candidate{k}.json", show_progress=show_progress)
        policies.append(pol)
        search_cpu += float(pol.provenance["search_cpu_time_s"])
        search_wall += float(pol.provenance["search_wall_time_s"])
        if k not in done:
            t0, c0 = time.time(), time.process_time()
            s = score_at_checkpoint(pol, model, init, rest, val, bn_batches=int(reference.get("bn_batches", 40)),
                                    seed=seed)
            done[k] = {"k": k, "subset_seed": cfg.proxy_seed, "val_top1": s["top1_bn_reestimated"],
                       "val_top1_checkpoint_bn": s["top1_checkpoint_bn"],
                       "score_cpu_s": round(time.process_time() - c0, 2), "score_wall_s": round(time.time() - t0, 2),
                       "policy_bits": " ".join(f"{l['w_bits']}/{l['a_bits']}" for l in pol.layers.values()
                                               if l["searchable"])}
            write_json(sel_path, {"candidates": [done[i] for i in sorted(done)]})
    best = max(done.values(), key=lambda c: (c["val_top1"], -c["k"]))
    chosen = policies[best["k"]]
    selection_cpu = sum(c["score_cpu_s"] for c in done.values())
    selection_wall = sum(c["score_wall_s"] for c in done.values())
    chosen.provenance.update(
        method=f"{label} (best of candidates by held-out {where} validation)",
        reference_selection={"rule": f"highest top-1 on the held-out {where} images at the checkpoint, BatchNorm "
                                     "re-estimated", "validation_images": len(val), "chosen": best["k"],
                             "candidates": [done[i] for i in sorted(done)]},
        # the reference's cost: every candidate's search plus the scoring that selects among them
        search_cpu_time_s=round(search_cpu + selection_cpu, 2), search_wall_time_s=round(search_wall + selection_wall, 2),
        proxy_size=int(reference.get("subset", 2000)) * len(cfgs))
    return chosen
