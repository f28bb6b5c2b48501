"""The main job on the embedded default, offline on a CPU in minutes: search a policy with EdMIPS+ASGA on a
2,000-image proxy subset of the embedded ``cifar10-mini`` at 2.5 average bits (candidates {2, 3, 4}: a budget where
the choice of bits matters), transfer it to the whole ``cifar10-mini`` training set from the shipped
full-precision checkpoint, and put it next to uniform bits at the same budget, transferred the same way.

Prints one table: average bits, BitOPs, top-1 before and after the fine-tune, for the found policy and for
uniform bits at the same budget (W3A2, the stronger uniform policy under 2.5 bits; see
:func:`mpqlab.search.budget.uniform_bits`). One seed on 1,000 test images: a demonstration of the workflow, not evidence for a method (the
experiment grid, with paired seeds and gates, is where methods are compared).
"""
from __future__ import annotations

from pathlib import Path

from ..models import create_model
from ..quant.checkpoints import pretrained
from ..quant.loading import load_splits
from ..quant.policy import Policy
from ..search import SearchConfig, run
from ..search.budget import uniform_bits
from ..training.transfer import TransferConfig, transfer
from ..viz.figures import bitwidth_heatmap, save_figure

CANDIDATES = [2, 3, 4]
SMOKE_TEST_IMAGES = 250  # a smoke run scores on a seeded, class-balanced sample of the test set, not all 1,000
SMOKE_BATCHES = 1  # a smoke run's search and fine-tunes take one batch each: it shows the workflow, nothing more


def quickstart(out: str = "runs/quickstart", epochs: int = 3, finetune_epochs: int = 2, budget: float = 2.5,
               max_batches: int | None = None, smoke: bool = False) -> dict:
    """mpqlab's main job on the embedded data: search on a proxy, transfer, compare with uniform bits at the same budget."""
    out_p = Path(out)
    ckpt = str(pretrained("resnet20_cifar10-mini"))
    cfg = SearchConfig(model="resnet20", data="cifar10-mini", subset=2000, checkpoint=ckpt, objective="edmips",
                       sharpness="asga", budget=budget, epochs=1 if smoke else epochs, w_candidates=CANDIDATES,
                       a_candidates=CANDIDATES, max_batches=SMOKE_BATCHES if smoke else max_batches)
    found = run(cfg, out_p / "policy.json")
    print(found.summary())
    train, test = load_splits("cifar10-mini")
    if smoke:
        test = test.sample(SMOKE_TEST_IMAGES)
    w, a = uniform_bits(budget, CANDIDATES, CANDIDATES)
    uniform = Policy.uniform(create_model("resnet20", num_classes=train.num_classes), w, a,
                             w_candidates=CANDIDATES, a_candidates=CANDIDATES, input_size=tuple(train.input_size))
    uniform.save(out_p / "uniform.json")
    rows = {}
    for name, pol in (("found (edmips+asga)", found), (f"uniform W{w}A{a}", uniform)):
        tag = "transfer" if pol is found else "transfer_uniform"
        res = transfer(pol, "resnet20", train, test, ckpt, out_p / f"{tag}.json",
                       TransferConfig(epochs=1 if smoke else finetune_epochs,
                                      max_batches=SMOKE_BATCHES if smoke else max_batches),
                       eval_float=pol is found)
        rows[name] = {"average_bits": round(res["average_bits"], 3), "gbitops": round(res["bitops"] / 1e9, 4),
                      "top1_before_finetune": round(res["top1_before_finetune"], 2), "top1": round(res["top1"], 2)}
        if pol is found:
            float_top1 = round(res["top1_float"], 2)
    prov = found.provenance
    status = search_status(prov["decisiveness"], prov["layers_changed_by_budget"], smoke, len(test))
    print(status)  # above the numbers: whether the search decided, so its table is read as what it is
    print(comparison_table(rows, float_top1, len(test)))
    try:
        fig = bitwidth_heatmap({"edmips+asga": found.to_dict(), f"uniform W{w}A{a}": uniform.to_dict()},
                               notes={k: f"top-1 {r['top1']:.2f} %, {r['gbitops']:.3f} GBitOPs" for k, r in zip(
                                   ("edmips+asga", f"uniform W{w}A{a}"), rows.values())})
        saved = save_figure(fig, out_p / "bitwidths", formats=("html",)).as_dict()
    except ImportError as e:  # plotly missing: the numbers above still stand
        saved = {"html": f"not written ({e})"}
    return {"policy": str(out_p / "policy.json"), "status": status, "search_wall_time_s": prov["search_wall_time_s"],
            "decisiveness": round(prov["decisiveness"], 3), "layers_changed_by_budget": prov["layers_changed_by_budget"],
            "rho_at_bound_share": prov.get("rho_at_bound_share"), "target_top1_float": float_top1,
            "policies": rows, "figure": saved}


# a search has decided when its policy is its own: most layers near one-hot, the budget step rewriting at most one
DECIDED_PROBABILITY = 0.9   # median largest bit probability at the end of the search
DECIDED_REWRITES = 1        # layers the budget step changed


def search_status(decisiveness: float, layers_changed: int, smoke: bool, test_images: int = 1000) -> str:
    """One line on whether the search decided (median largest bit probability >= 0.9, at most one layer rewritten
    by the budget step) and what its numbers are therefore worth."""
    decided = decisiveness >= DECIDED_PROBABILITY and layers_changed <= DECIDED_REWRITES
    what = (f"median largest bit probability {decisiveness:.2f} (decided: >= {DECIDED_PROBABILITY}), "
            f"{layers_changed} layer(s) rewritten by the budget step (decided: <= {DECIDED_REWRITES})")
    if smoke or not decided:
        return (f"NOT A RESULT: {f'a smoke search ({SMOKE_BATCHES} batch)' if smoke else 'this search'} has "
                f"{'not ' if not decided else ''}decided ({what}). The policy below is a demonstration of the "
                "workflow; its top-1 says nothing about the method. Run without smoke (mpqlab quickstart) for a search "
                "that decides, and the experiment grid (notebook 01) to compare methods.")
    return (f"The search decided ({what}). One seed on {test_images:,} test images: a demonstration of the workflow, not "
            "evidence for a method (the experiment grid, notebook 01, compares methods).")


def comparison_table(rows: dict, float_top1: float, test_images: int = 1000) -> str:
    """The quickstart's table: one line per policy."""
    lines = [f"{'policy':<22} {'avg bits':>8} {'GBitOPs':>8} {'top-1 before FT':>16} {'top-1 after FT':>15}"]
    for name, r in rows.items():
        lines.append(f"{name:<22} {r['average_bits']:>8.3f} {r['gbitops']:>8.4f} {r['top1_before_finetune']:>16.2f} "
                     f"{r['top1']:>15.2f}")
    lines.append(f"(full precision: {float_top1:.2f} %; cifar10-mini test set, {test_images:,} images"
                 f"{' (a class-balanced sample)' if test_images < 1000 else ''}, one seed)")
    return "\n".join(lines)
