"""Fig. 4 of the paper at CPU scale: ASGA searches with a fixed radius, the literal adaptive rule and the
reconstructed one, over several seeds; per step the loss and rho, summarised as a median with a band.

``radius_study(out_dir, seeds=(0, 1, 2))`` runs every (radius, seed) search not yet done (each resumable, in
``out_dir/<radius>_s<seed>.json``) and returns one tidy DataFrame: radius, seed, step, loss, loss_p, h, rho (the radius a step used, ||e||),
rho_schedule (its schedule's).
``bands(df, "loss")`` gives per radius and step the median and the 10th / 90th percentiles over seeds.
"""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from ...core.telemetry import read_metrics
from ...quant.checkpoints import pretrained
from ...search.loop import SearchConfig, run

STUDIED_RADII = ("fixed", "adaptive", "relative")  # fixed rho_0, the paper's rule taken literally, mpqlab's default
BASE = SearchConfig(data="cifar10-mini", subset=2000, sharpness="asga", budget=2.5, epochs=2, batch_size=128,
                    w_candidates=[2, 3, 4], a_candidates=[2, 3, 4])  # the grid_v2 proxy search


def radius_study(out_dir: str | os.PathLike, seeds=(0, 1, 2), radii=STUDIED_RADII, base: SearchConfig = BASE,
                 checkpoint: str | None = None, max_batches: int | None = None, root=None):
    """Run (or reuse) one ASGA search per radius rule and seed; returns the per-step telemetry of all of them."""
    import pandas as pd  # deferred: slow import, tables only


    ckpt = checkpoint or str(pretrained("resnet20_cifar10-mini"))
    out = Path(out_dir)
    frames = []
    for radius in radii:
        for seed in seeds:
            cfg = replace(base, radius=radius, seed=seed, proxy_seed=seed, checkpoint=ckpt, max_batches=max_batches,
                          root=root)
            path = out / f"{radius}_s{seed}.json"
            if not path.is_file():
                run(cfg, path, show_progress=False)
            m = read_metrics(path.with_suffix(".run"))
            if "rho_schedule" not in m:  # a run logged before the used radius and the schedule's were told apart
                m = m.assign(rho_schedule=m["rho"])
            d = m[["step", "loss", "loss_p", "h", "rho", "rho_schedule"]]
            frames.append(d.assign(radius=radius, seed=seed))
    return pd.concat(frames, ignore_index=True)


def bands(df, value: str, low: float = 0.1, high: float = 0.9):
    """Per radius and step: median of ``value`` over seeds and its ``low`` / ``high`` quantiles."""
    g = df.groupby(["radius", "step"])[value]
    return g.median().rename("median").to_frame().join(g.quantile(low).rename("low")).join(
        g.quantile(high).rename("high")).reset_index()
