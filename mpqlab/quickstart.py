"""The main job on the embedded default, offline on a CPU in minutes: search a policy with EdMIPS+ASGA on a
2,000-image proxy subset of the embedded ``cifar10-mini``, transfer it to the whole ``cifar10-mini`` training set
from the shipped full-precision checkpoint, and report the target accuracy, cost and per-layer bits."""
from __future__ import annotations

from pathlib import Path

from .checkpoints import pretrained
from .data import create_dataset
from .search import SearchConfig, run
from .transfer import transfer


def quickstart(out: str = "runs/quickstart", epochs: int = 3, finetune_epochs: int = 1, budget: float = 4.0,
               max_batches: int | None = None, smoke: bool = False) -> dict:
    out_p = Path(out)
    ckpt = str(pretrained("resnet20_cifar10-mini"))
    cfg = SearchConfig(model="resnet20", data="cifar10-mini", subset=2000, checkpoint=ckpt, objective="edmips",
                       sharpness="asga", budget=budget, epochs=1 if smoke else epochs,
                       max_batches=2 if smoke else max_batches)
    policy = run(cfg, out_p / "policy.json")
    print(policy.summary())
    train, test = create_dataset("cifar10-mini", "train"), create_dataset("cifar10-mini", "test")
    res = transfer(policy, "resnet20", train, test, ckpt, out_p / "transfer.json",
                   epochs=1 if smoke else finetune_epochs, max_batches=2 if smoke else max_batches)
    try:
        from .viz import bitwidth_bars, save_figure

        fig = bitwidth_bars({"edmips+asga": policy.to_dict()})
        saved = save_figure(fig, out_p / "bitwidths", formats=("html",))
    except ImportError as e:  # plotly missing: the numbers above still stand
        saved = {"html": f"not written ({e})"}
    summary = {"policy": str(out_p / "policy.json"), "transfer": str(out_p / "transfer.json"),
               "search_wall_time_s": policy.provenance["search_wall_time_s"], **policy.totals(),
               "target_top1": round(res["top1"], 2), "target_top1_before_finetune": round(res["top1_before_finetune"], 2),
               "target_top1_float": round(res["top1_float"], 2), "figure": saved}
    return summary
