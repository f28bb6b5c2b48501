"""Loss landscapes of a (fake-quantized) model: 1-D and 2-D slices and linear paths.

The latent weights are moved, ``theta = theta_0 + a * d1 + b * d2``, and the model's quantizers re-quantize them at
every point (their steps and clips stay as trained), so the slice is the landscape the quantized model sees.

Directions: filter-normalised random directions (Li et al., NeurIPS 2018): Gaussian, then each filter (output
channel) rescaled to the norm of the matching filter of the weights; BatchNorm and bias entries are zero unless
``include_bn=True`` (then scaled to their parameter's norm). Or the top Hessian eigenvector
(:func:`eigen_direction`). Loss and accuracy are computed on a fixed evaluation set held in memory, in large
batches, in eval mode. Results are plain dicts of arrays plus metadata, saved / loaded as ``.npz``.
"""
from __future__ import annotations

import copy
import io
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..core.errors import MpqlabError
from ..core.files import atomic_write_bytes
from ..core.knobs import knob
from ..core.seeding import generator
from ..quant.cost import bitops, layer_bitops
from ..quant.quantizers import set_layer_bits
from .hessian import Hessian
from .params import preserved, select_params


@dataclass
class LandscapeConfig:
    """Which slice ``mpqlab landscape`` computes (one command-line option per field):
    theta_0 + a d1 (+ b d2) for a, b on ``points`` values in [-span, span]."""
    dims: int = knob(2, "1: a line theta_0 + a d1; 2: a plane theta_0 + a d1 + b d2", choices=[1, 2])
    points: int = knob(11, "grid points per axis", lo=2, hi=10 ** 4)
    span: float = knob(1.0, "the slice covers a, b in [-span, span] (directions have the weights' filter norms)",
                       lo=0, hi=1e3, lo_open=True)
    n: int = knob(1000, "test images the loss is averaged over", lo=1, hi=10 ** 9)
    direction: str = knob("random", "d1",
                          choices={"random": "filter-normalised Gaussian (Li et al., 2018)",
                                   "eigen": "the top Hessian eigenvector"})
    seed: int = knob(0, "seed of d1 (d2 uses seed + 1)", lo=0, hi=2 ** 32 - 1)


def _targets(model: nn.Module, params="weights") -> list[tuple[str, nn.Parameter]]:
    return select_params(model, params)


def random_direction(model: nn.Module, seed: int = 0, include_bn: bool = False, params="weights") -> dict:
    """A filter-normalised Gaussian direction, ``{param name: tensor}``."""
    g = generator(seed)
    out = {}
    for name, p in _targets(model, params):
        d = torch.randn(p.shape, generator=g).to(p.device, p.dtype)
        if p.dim() <= 1:
            d = d * (p.detach().norm() / (d.norm() + 1e-10)) if include_bn else torch.zeros_like(p)
        else:
            dn = d.flatten(1).norm(dim=1).view(-1, *([1] * (p.dim() - 1)))
            wn = p.detach().flatten(1).norm(dim=1).view(-1, *([1] * (p.dim() - 1)))
            d = d * wn / (dn + 1e-10)
        out[name] = d
    return out


def restrict(direction: dict, layer: str) -> dict:
    """The direction with every parameter outside module ``layer`` set to zero: a slice that moves one layer."""
    inside = [n for n in direction if n.rsplit(".", 1)[0] == layer]
    if not inside:
        raise MpqlabError(f"the direction has no parameter of layer {layer!r}")
    return {n: d if n in inside else torch.zeros_like(d) for n, d in direction.items()}


def eigen_direction(model: nn.Module, data, seed: int = 0, max_iter: int = 50, params="weights") -> dict:
    """The top Hessian eigenvector (unit norm) as a direction; ``data`` is (x, y) or a list of batches."""
    res = Hessian(model, data, params=params).eigenvalues(top_k=1, max_iter=max_iter, seed=seed)
    names = [n for n, _ in _targets(model, params)]
    d = dict(zip(names, res["eigenvectors"][0]))
    d["__eigenvalue__"] = torch.tensor(res["eigenvalues"][0])
    return d


@torch.no_grad()
def evaluate_fixed(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> tuple[float, float]:
    """(mean loss, top-1 %) of ``model`` on in-memory tensors."""
    loss, correct = 0.0, 0
    for i in range(0, len(y), batch_size):
        out = model(x[i:i + batch_size])
        loss += F.cross_entropy(out, y[i:i + batch_size], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + batch_size]).sum().item()
    return loss / len(y), 100.0 * correct / len(y)


def _grid(model, x, y, dirs: list[dict], coords: list[np.ndarray], batch_size: int):
    named = dict(_targets(model))
    dirs = [{k: v for k, v in d.items() if not k.startswith("__")} for d in dirs]
    for d in dirs:
        unknown = set(d) - set(named)
        if unknown:
            raise MpqlabError(f"direction has entries for unknown parameters: {', '.join(sorted(unknown)[:5])}")
    origin = {k: named[k].detach().clone() for k in dirs[0]}
    shape = tuple(len(c) for c in coords)
    loss, acc = np.zeros(shape), np.zeros(shape)
    with preserved(model):
        model.eval()
        try:
            for idx in np.ndindex(*shape):
                with torch.no_grad():
                    for k, w0 in origin.items():
                        p = named[k]
                        p.copy_(w0)
                        for d, c, i in zip(dirs, coords, idx):
                            p.add_(d[k], alpha=float(c[i]))
                loss[idx], acc[idx] = evaluate_fixed(model, x, y, batch_size)
        finally:
            with torch.no_grad():
                for k, w0 in origin.items():
                    named[k].copy_(w0)
    return loss, acc


def slice_1d(model: nn.Module, data, direction: dict, ts, batch_size: int = 1000, meta: dict | None = None) -> dict:
    """Loss and accuracy at ``theta_0 + t * d`` for each ``t`` in ``ts``."""
    x, y = data
    ts = np.asarray(ts, dtype=float)
    t0 = time.time()
    loss, acc = _grid(model, x, y, [direction], [ts], batch_size)
    return {"ts": ts, "loss": loss, "acc": acc, "n_eval": len(y), "time_s": time.time() - t0,
            "meta": dict(meta or {}, kind="1d")}


def slice_2d(model: nn.Module, data, d1: dict, d2: dict, ts1, ts2, batch_size: int = 1000,
             meta: dict | None = None) -> dict:
    """Loss and accuracy on the grid ``theta_0 + s * d1 + t * d2``; ``loss[i, j]`` is at (ts1[i], ts2[j])."""
    x, y = data
    ts1, ts2 = np.asarray(ts1, dtype=float), np.asarray(ts2, dtype=float)
    t0 = time.time()
    loss, acc = _grid(model, x, y, [d1, d2], [ts1, ts2], batch_size)
    return {"ts1": ts1, "ts2": ts2, "loss": loss, "acc": acc, "n_eval": len(y),
            "time_s": time.time() - t0, "meta": dict(meta or {}, kind="2d")}


def layer_bits_change(model: nn.Module, policy: dict, layer: str, w_bits: int, a_bits: int, data, ts,
                      seed: int = 0, trace_probes: int = 8) -> dict:
    """What one layer's bits do to a trained quantized model (``policy``: its ``Policy.to_dict()``): the model
    with ``layer`` re-quantized at (w_bits, a_bits) (:func:`mpqlab.quant.quantizers.set_layer_bits`, learned ranges kept)
    against the model as it is. Returns the 1-D slices of both along the same filter-normalised direction
    (``seed``), the layer's BitOPs and the policy's, and the layer's Hessian trace tr(H_ll) (Hutchinson,
    ``trace_probes`` probes, the same probes for both)."""

    if layer not in policy["layers"] or not policy["layers"][layer]["searchable"]:
        raise MpqlabError(f"{layer!r} is not a searchable layer of this policy")
    changed = set_layer_bits(copy.deepcopy(model), layer, w_bits, a_bits).eval()
    before_bits = {n: (r["w_bits"], r["a_bits"]) for n, r in policy["layers"].items()}
    after_bits = dict(before_bits, **{layer: (int(w_bits), int(a_bits))})
    direction = random_direction(model, seed=seed)
    out = {"layer": layer, "bits_before": before_bits[layer], "bits_after": after_bits[layer],
           "ts": np.asarray(ts, dtype=float)}
    for tag, net, bits in (("before", model, before_bits), ("after", changed, after_bits)):
        out[f"loss_{tag}"] = slice_1d(net, data, direction, ts)["loss"]
        out[f"layer_bitops_{tag}"] = layer_bitops(policy["layers"], bits, [layer])[layer]
        out[f"bitops_{tag}"] = bitops(policy["layers"], bits)
        out[f"trace_{tag}"] = Hessian(net, data, params=[f"{layer}.weight"]).layer_traces(
            n_probes=trace_probes, seed=seed)[layer]
    return out


def slice_summary(curves: dict) -> list[dict]:
    """Per 1-D slice (``{name: (ts, loss)}``, ts symmetric around 0): the loss at the centre, the rise at
    the edges (mean of the two end losses minus the centre), the curvature ``k`` of the least-squares fit
    ``loss ~ c + k a^2`` and where the slice is lowest (``lowest_at``, and by how much below the centre); what a
    sentence about the slices may say, computed."""
    out = []
    for name, (a, loss) in curves.items():
        a, loss = np.asarray(a, dtype=float), np.asarray(loss, dtype=float)
        centre = float(loss[int(np.argmin(np.abs(a)))])
        design = np.stack([np.ones_like(a), a ** 2], axis=1)
        k = float(np.linalg.lstsq(design, loss, rcond=None)[0][1])
        low = int(np.argmin(loss))
        out.append({"policy": name, "centre_loss": centre, "edge_rise": float((loss[0] + loss[-1]) / 2 - centre),
                    "curvature": k, "lowest_at": float(a[low]), "below_centre": float(centre - loss[low])})
    return out


def describe_slices(summary: list[dict]) -> str:
    """Three sentences printed under a figure of 1-D slices, from :func:`slice_summary`'s rows."""
    def order(key):
        rows = sorted(summary, key=lambda r: r[key])
        return " < ".join(f"{r['policy']} {r[key]:.3g}" for r in rows)
    off = [r for r in summary if r.get("lowest_at") not in (None, 0.0)]
    where = ("Each slice is lowest at its centre (a = 0)." if not off else
             "Lowest point off the centre: " + "; ".join(f"{r['policy']} at a = {r['lowest_at']:+.2g}, "
                                                          f"{r['below_centre']:.3g} below the centre" for r in off)
             + " (see the notebook for why a trained point need not be the minimum of a slice).")
    return (f"Loss at the centre, lowest first: {order('centre_loss')}.\n"
            f"Rise from the centre to the two ends of the slice, smallest first: {order('edge_rise')}.\n" + where)


def linear_path(model_a: nn.Module, model_b: nn.Module, data, ts, batch_size: int = 1000) -> dict:
    """Loss and accuracy along ``(1 - t) * theta_a + t * theta_b`` (weights; buffers of model_a are kept)."""
    named_b = dict(_targets(model_b))
    named_a = dict(_targets(model_a))
    if set(named_a) != set(named_b):
        raise MpqlabError("the two models have different parameters; a linear path needs the same architecture")
    direction = {k: (named_b[k].detach() - named_a[k].detach()) for k in named_a}
    res = slice_1d(model_a, data, direction, ts, batch_size, meta={"kind": "path"})
    return res


def save_npz(result: dict, path: str | os.PathLike) -> None:
    """Arrays as arrays, metadata as JSON (no pickle): ``np.load(path)`` reads it without ``allow_pickle``."""
    arrays = {k: np.asarray(v) for k, v in result.items() if k != "meta" and not isinstance(v, (str, dict))}
    arrays["meta_json"] = np.array(json.dumps(result.get("meta", {}), default=str))
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def load_npz(path: str | os.PathLike) -> dict:
    """Read a landscape ``.npz`` written by :func:`save_npz` back into a dict of arrays and metadata."""
    if not Path(path).is_file():
        raise MpqlabError(f"landscape file {path} does not exist")
    with np.load(path, allow_pickle=False) as z:
        out = {k: z[k] for k in z.files if k != "meta_json"}
        out["meta"] = json.loads(str(z["meta_json"]))
    for k in ("n_eval", "time_s"):
        if k in out:
            out[k] = out[k].item()
    return out
