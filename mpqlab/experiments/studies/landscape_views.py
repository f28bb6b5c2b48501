"""The views of the policy-landscape study (:mod:`mpqlab.experiments.studies.policy_landscapes`): its 1-D and
2-D kernel-free explorers, the per-seed width ratios, a live view computed on demand for JupyterLab, and the link
that opens a grid cell's landscapes on the course site."""
from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from ...analysis import directions as D
from ...analysis.landscape import restrict, slice_1d
from ...core.errors import MpqlabError
from ...core.files import read_json
from ...viz.explorer import explorer_figure
from ...viz.landscapes import plane, policy_slices, width_ratios
from .landscape_report import flatness, widths
from .policy_landscapes import DECLARED, REPO, SAMPLES, Study, k_fold_span

METHODS = {"uniform W3A2": "uniform", "random": "random", "EdMIPS": "edmips", "EdMIPS+ASGA": "edmips+asga",
           "EdMIPS (claim-3 grid)": "edmips", "EdMIPS+SAM": "edmips+sam", "reference": "edmips@target"}
DIRECTION_NAMES = {"random": "random band", "eigen": "top eigenvector", "ascent": "SAM/ASGA ascent",
                   "gradient_gap": "proxy-to-target gradient gap"}
METRICS = {"loss": "loss", "top1": "top-1 (%)"}


def _curve(m: dict, kind: str, sample: str, metric: str, random_seeds) -> dict | None:
    keys = [f"random{s}" for s in random_seeds] if kind == "random" else [kind]
    keys = [k for k in keys if f"{k}/ts" in m]
    if not keys:
        return None
    ts = m[f"{keys[0]}/ts"]
    ys = np.stack([m[f"{k}/{sample}/{metric}"] for k in keys])
    out = {"x": ts / ts[-1], "y": ys.mean(0)}
    if len(keys) > 1:
        out.update(lo=ys.min(0), hi=ys.max(0))
    return out


def slice_view(data: dict, seed: int, kind: str, sample: str, metric: str):
    """The 1-D view of every policy at ``seed`` along direction ``kind``: (Figure, its sentences)."""
    cfg = data["config"]
    curves, spans = {}, []
    for label in cfg["policies"]:
        m = data["models"].get((seed, label))
        c = None if m is None else _curve(m, kind, sample, metric, cfg["random_seeds"])
        if c is not None:
            curves[label] = c
            spans.append(float(m[f"{'random0' if kind == 'random' else kind}/ts"][-1]))
    band = " (line: mean of 5 random directions; band: their range)" if kind == "random" else ""
    fig = policy_slices(curves, f"Seed {seed}, {DIRECTION_NAMES[kind]}, {sample} sample{band}",
                        "a / span", METRICS[metric], log_y=metric == "loss", methods=METHODS,
                        dashed=("EdMIPS (claim-3 grid)",))
    w = widths(data)
    w = w[(w["seed"] == seed) & (w["kind"] == kind) & (w["sample"] == sample)]
    text = ""
    if len(w):
        per = w.groupby("policy")["width"].apply(lambda v: float(np.exp(np.log(v).mean())))
        text = (f"Span ±{spans[0]:.3g} (a = span moves the weights by {spans[0]:.3g} x their norm). Width at "
                f"{cfg['k']:g}x the centre loss: widest {per.idxmax()} ({per.max():.3g}), narrowest {per.idxmin()} "
                f"({per.min():.3g}); EdMIPS+ASGA / EdMIPS = "
                + (f"{per['EdMIPS+ASGA'] / per['EdMIPS']:.2f}." if {'EdMIPS+ASGA', 'EdMIPS'} <= set(per.index)
                   else "n/a."))
    return fig, text


def slice_explorer(data: dict, seeds=None):
    """The kernel-free explorer of the 1-D views: direction, sample and metric as dropdowns, seed as a slider."""
    cfg = data["config"]
    seeds = [s for s in (seeds or cfg["seeds"]) if any((s, p) in data["models"] for p in cfg["policies"])]
    controls = [("direction", list(cfg["directions"])), ("sample", list(SAMPLES)), ("metric", list(METRICS)),
                ("seed", seeds)]
    views, texts = {}, {}
    for key in itertools.product(*(v for _, v in controls)):
        views[key], texts[key] = slice_view(data, key[3], *key[:3])
    return explorer_figure(views, controls, texts=texts, active=(cfg["directions"][0], "train", "loss", seeds[0]),
                           kinds={"seed": "slider"}, free=("metric",))


def plane_explorer(data: dict):
    """The kernel-free explorer of the 2-D planes at the plane seed: policy and plane as dropdowns."""
    cfg = data["config"]
    seed = cfg["plane_seed"]
    labels = [p for p in cfg["policies"] if (seed, p) in data["models"] and
              "plane_random/loss" in data["models"][(seed, p)]]
    planes = {"random": "two random directions", "eigen": "top two Hessian eigenvectors"}
    views, texts = {}, {}
    for label in labels:
        m = data["models"][(seed, label)]
        for name, words in planes.items():
            ts, z = m[f"plane_{name}/ts"], m[f"plane_{name}/loss"]
            views[(label, name)] = plane(ts / ts[-1], z, f"{label}, seed {seed}: plane of {words}")
            i, j = np.unravel_index(int(np.argmin(z)), z.shape)
            texts[(label, name)] = (f"Span ±{ts[-1]:.3g}. Loss {z.min():.3f} to {z.max():.3f}; lowest at "
                                    f"(a, b) = ({ts[i] / ts[-1]:+.2f}, {ts[j] / ts[-1]:+.2f}) x span; centre "
                                    f"{z[len(ts) // 2, len(ts) // 2]:.3f}.")
    return explorer_figure(views, [("policy", labels), ("plane", list(planes))], texts=texts)


def ratio_figure(data: dict, sample: str = "train"):
    """Per declared contrast, each seed's width ratio along the random band."""
    cfg = data["config"]
    f = flatness(data, sample).set_index(["policy", "seed"])["random"]
    ratios = {}
    for a, b in cfg["contrasts"]:
        ratios[f"{a} / {b}"] = {s: float(np.exp(f[(a, s)] - f[(b, s)])) for s in cfg["seeds"]
                                if (a, s) in f.index and (b, s) in f.index}
    return width_ratios(ratios, "Proxy-landscape width ratio per seed (random band, training sample)",
                        methods={f"{a} / {b}": METHODS.get(a, a) for a, b in cfg["contrasts"]})


# ------------------------------------------------------------------------------------------------ live
_LIVE: dict = {}  # (what, …) -> a study, model or direction computed once per session


def _cached(key, make):
    if key not in _LIVE:
        _LIVE[key] = make()
    return _LIVE[key]


def live_view(seed: int = 0, policies=("EdMIPS", "EdMIPS+ASGA"), kind: str = "random", direction_seed: int = 0,
              span: float | None = None, points: int = 11, n: int = 128, layer: str = "all layers",
              sample: str = "train", metric: str = "loss", normalise: str = "filter", cfg: dict | None = None,
              root=None, repo=None, progress: bool = False):
    """A 1-D view computed now, for a live explorer: ``policies`` at ``seed`` along ``kind`` (its own seed
    ``direction_seed`` for random ones), on ``n`` images of ``sample``, over [-span, span] (None: the committed
    study's span for that seed and kind, else the baseline's k-fold span computed now), moving every layer or one.
    ``normalise``: "filter" (each filter scaled to its weight filter's norm; random directions only, as Li et al.)
    or "global" (the whole direction scaled to the weights' norm). Studies, models and directions are computed
    once per session and reused; a re-plot costs one slice per policy (``progress``: say which one is being
    computed). Returns (Figure, sentences)."""
    cfg = dict(cfg or DECLARED, n=int(n))
    if sample not in SAMPLES:
        raise MpqlabError(f"sample {sample!r}; choose one of {SAMPLES}")
    study = _cached(("study", seed, n, root), lambda: Study(cfg, seed, root, repo))
    if span is None:
        committed = Path(repo or REPO) / "results" / "policy_landscapes" / f"spans_s{seed}.json"
        if committed.is_file():
            span = float(read_json(committed, "span file")[kind])
        else:
            base = _cached(("model", seed, cfg["baseline"], n), lambda: study.model(cfg["baseline"]))
            d0 = D.make(kind, base, study.samples["train"], seed=direction_seed, target_data=None if kind != "gradient_gap" else study.target)
            span = cfg["span_factor"] * k_fold_span(base, study.samples["train"], d0, cfg["k"])
    ts = np.linspace(-span, span, int(points))
    curves, words = {}, []
    for i, label in enumerate(policies):
        if progress:  # a live explorer's text area shows it while the slice is computed
            print(f"slicing {label} ({i + 1} of {len(policies)})…", flush=True)
        net = _cached(("model", seed, label, n), lambda: study.model(label))
        d = _cached(("direction", seed, label, n, kind, direction_seed),
                    lambda: D.make(kind, net, study.samples["train"], seed=direction_seed,
                                   target_data=study.target if kind == "gradient_gap" else None))
        if normalise == "global":
            d = D.scaled_to(d, D.weight_norm(net))
        if layer != "all layers":
            d = restrict(d, layer)
        r = slice_1d(net, study.samples[sample], d, ts)
        y = r["loss"] if metric == "loss" else r["acc"]
        curves[label] = {"x": ts, "y": y}
        words.append(f"{label}: width {D.width(ts, r['loss'], cfg['k']):.3g}")
    fig = policy_slices(curves, f"Seed {seed}, {DIRECTION_NAMES[kind]}"
                        + (f" {direction_seed}" if kind == "random" else "") + f", {layer}, {sample} sample",
                        "a", METRICS[metric], log_y=metric == "loss", methods=METHODS,
                        dashed=("EdMIPS (claim-3 grid)",))
    return fig, f"Span ±{span:.3g}, {n} images. Width at {cfg['k']:g}x the centre loss: " + "; ".join(words) + "."


PAGE = "02_policy_landscapes.html"  # the course page whose explorers show the study


def landscape_link(grid: str, setting: str, method: str, seed, cfg: dict | None = None) -> str:
    """The course-site link that opens the study's views of a grid cell's policy (its seed, the random band), or
    "" when the study has no such policy: a Fig. 1 point links to its landscapes."""
    cfg = cfg or DECLARED
    labels = {"edmips": "EdMIPS", "edmips+asga": "EdMIPS+ASGA", "random": "random", "uniform:W3A2": "uniform W3A2",
              "edmips@target": "reference"}
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        return ""
    if grid != cfg["grid"] or setting not in (cfg["setting"], "shared", "reference") or seed not in cfg["seeds"] \
            or labels.get(method) not in cfg["policies"]:
        return ""
    return f"{PAGE}#direction=random&sample=train&metric=loss&seed={seed}"
