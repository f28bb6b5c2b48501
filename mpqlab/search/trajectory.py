"""A search's own weight trajectory: the weights saved every ``k`` steps into the run folder's ``trajectory/``
(``run(..., keep_states=k)``; the step-0 weights too), read back in step order for the plane of the trajectory
(:func:`mpqlab.analysis.directions.trajectory_plane`: the top two principal components of the saved states'
offsets from the last one, Li et al. 2018, Sec. 7)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch.nn as nn

from ..analysis import directions as D
from ..analysis.landscape import slice_2d
from ..analysis.params import select_params
from ..core.errors import MpqlabError
from ..core.files import load_weights, save_weights
from ..data import make_loader
from ..models import create_model
from ..quant.policy import Policy
from ..quant.quantizers import calibrate

FOLDER = "trajectory"  # inside the search's run folder


def keep_state(run_dir: str | os.PathLike, step: int, model: nn.Module) -> Path:
    """Save ``model``'s floating-point state (weights, BatchNorm parameters and statistics, quantizer parameters) as
    it is after ``step`` steps (``trajectory/step_<step>.safetensors``)."""
    path = Path(run_dir) / FOLDER / f"step_{step:06d}.safetensors"
    save_weights(path, {k: v for k, v in model.state_dict().items() if v.is_floating_point()},
                 metadata={"step": step})
    return path


def read_trajectory(run_dir: str | os.PathLike) -> tuple[list[int], list[dict]]:
    """(steps, parameter dicts) of every state a search kept, in step order; refused with the folder's name when it
    kept none (a search run without ``keep_states``)."""
    files = sorted((Path(run_dir) / FOLDER).glob("step_*.safetensors"))
    if not files:
        raise MpqlabError(f"{Path(run_dir) / FOLDER} holds no saved states: run the search with keep_states=k")
    return [int(f.stem.split("_")[1]) for f in files], [load_weights(f)[0] for f in files]


def trajectory_landscape(run_dir: str | os.PathLike, policy: Policy, model: str, data, calib_data, points: int = 11,
                         margin: float = 0.25) -> dict:
    """The searched policy's loss over the plane of its search's trajectory: the model ``model`` under ``policy``
    with the search's last saved weights (calibrated on ``calib_data``), sliced on ``data`` ((x, y)) over a
    ``points`` x ``points`` grid spanning the path's extent plus ``margin`` of it on each side. Only the layers'
    weights span the plane (the quantizers' steps and clips stay as calibrated). Returns {"ts1", "ts2", "loss",
    "acc", "path": (n, 2), "steps", "explained": variance share of the two components}. The quantizers are
    calibrated afresh on ``calib_data`` (the policy's model, not the search's mixture of candidates)."""
    steps, states = read_trajectory(run_dir)
    net = create_model(model, num_classes=policy.num_classes)  # the float model with the search's last weights
    wanted = net.state_dict()
    missing = [k for k, v in wanted.items() if v.is_floating_point() and k not in states[-1]]
    if missing:
        raise MpqlabError(f"the states in {run_dir} do not fit {model}: missing {missing[:5]}")
    net.load_state_dict({k: states[-1][k] if k in states[-1] else v for k, v in wanted.items()})
    policy.apply(net, tuple(policy.input_size))
    calibrate(net, [x for x, _ in make_loader(calib_data, 128, train=False, max_batches=4)])
    net.eval()
    keys = [k for k, _ in select_params(net, "weights")]  # the layers' weights: what a landscape direction moves
    plane = D.trajectory_plane(states, params=keys)
    path = plane["path"]
    lo, hi = path.min(0), path.max(0)
    pad = margin * np.maximum(hi - lo, 1e-12)
    ts1, ts2 = (np.linspace(lo[i] - pad[i], hi[i] + pad[i], points) for i in (0, 1))
    out = slice_2d(net, data, plane["d1"], plane["d2"], ts1, ts2)
    return {"ts1": ts1, "ts2": ts2, "loss": out["loss"], "acc": out["acc"], "path": path, "steps": steps,
            "explained": plane["explained"]}


def trajectory_summary(view: dict) -> str:
    """:func:`trajectory_landscape`'s view in words: how many states, the components' shares of the path's variance,
    the loss at the grid point nearest the last state (the origin) and the lowest loss on the plane, and where."""
    loss, ts1, ts2 = view["loss"], view["ts1"], view["ts2"]
    i, j = np.unravel_index(int(np.argmin(loss)), loss.shape)
    o1, o2 = int(np.argmin(np.abs(ts1))), int(np.argmin(np.abs(ts2)))
    return (f"{len(view['steps'])} states over {view['steps'][-1]} steps; the two components explain "
            f"{view['explained'][0]:.0%} and {view['explained'][1]:.0%} of the path's variance. The found policy's "
            f"loss at the grid point nearest the last state ({ts1[o1]:.3g}, {ts2[o2]:.3g}) is {loss[o1, o2]:.3f}; the "
            f"lowest on the plane is {loss[i, j]:.3f}, at ({ts1[i]:.3g}, {ts2[j]:.3g}).")
