"""The views of the policy-landscape study (:mod:`mpqlab.experiments.studies.policy_landscapes`): its 1-D and
2-D kernel-free explorers, the per-seed width ratios, a live view computed on demand for JupyterLab, and the link
that opens a grid cell's landscapes on the course site."""
from __future__ import annotations

import itertools
from pathlib import Path
from urllib.parse import quote

import numpy as np

from ...analysis import directions as D
from ...analysis.landscape import restrict, slice_1d
from ...core.errors import MpqlabError
from ...core.files import read_json
from ...viz.explorer import explorer_figure
from ...viz.landscapes import plane, policy_slices, width_ratios
from .landscape_report import flatness, side_of, widths
from .policy_landscapes import DECLARED, REPO, SAMPLES, Study, k_fold_span
from .target_landscapes import DECLARED as TARGET_DECLARED
from .target_landscapes import TargetStudy, weights_stem

METHODS = {"uniform W3A2": "uniform", "random": "random", "EdMIPS": "edmips", "EdMIPS+ASGA": "edmips+asga",
           "EdMIPS (claim-3 grid)": "edmips", "EdMIPS+SAM": "edmips+sam", "reference": "edmips@target"}
DIRECTION_NAMES = {"random": "random band", "eigen": "top eigenvector", "ascent": "SAM/ASGA ascent",
                   "gradient_gap": "proxy-to-target gradient gap"}
METRICS = {"loss": "loss", "top1": "top-1 (%)"}
SIDES = {"proxy": "policy_landscapes", "target": "policy_landscapes_target"}  # side -> its study under results/


def _side_title(side: str) -> str:
    """What a view's title starts with: nothing at the proxy, the words that say it is after the fine-tune else."""
    return "" if side == "proxy" else "After the target fine-tune: "


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
    fig = policy_slices(curves, f"{_side_title(side_of(cfg))}Seed {seed}, {DIRECTION_NAMES[kind]}, {sample} sample{band}",
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


def slice_explorer(data: dict, seeds=None, target: dict | None = None):
    """The kernel-free explorer of the 1-D views: direction, sample and metric as dropdowns, seed as a slider. With
    ``target`` (the target-side study of the same grid and seeds), the side is one more dropdown: ``proxy`` (at the
    proxy checkpoint) or ``target`` (after the fine-tune); its samples are then the target's own."""
    studies = {"proxy": data} if target is None else {"proxy": data, "target": target}
    cfg = data["config"]
    seeds = [s for s in (seeds or cfg["seeds"])
             if all(any((s, p) in d["models"] for p in d["config"]["policies"]) for d in studies.values())]
    controls = [("direction", list(cfg["directions"])), ("sample", list(SAMPLES)), ("metric", list(METRICS))]
    controls += [("side", list(studies))] if target is not None else []
    controls += [("seed", seeds)]
    views, texts = {}, {}
    for key in itertools.product(*(v for _, v in controls)):
        side = key[3] if target is not None else "proxy"
        views[key], texts[key] = slice_view(studies[side], key[-1], *key[:3])
    active = (cfg["directions"][0], "train", "loss") + (("proxy",) if target is not None else ()) + (seeds[0],)
    return explorer_figure(views, controls, texts=texts, active=active, kinds={"seed": "slider"},
                           free=("metric",) + (("side",) if target is not None else ()))


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
    return width_ratios(ratios, f"{side_of(cfg).capitalize()}-landscape width ratio per seed (random band, "
                        f"{'training' if sample == 'train' else sample} sample)",
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
              root=None, repo=None, progress: bool = False, side: str = "proxy"):
    """A 1-D view computed now, for a live explorer: ``policies`` at ``seed`` along ``kind`` (its own seed
    ``direction_seed`` for random ones), on ``n`` images of ``sample``, over [-span, span] (None: the committed
    study's span for that seed and kind, else the baseline's k-fold span computed now), moving every layer or one.
    ``normalise``: "filter" (each filter scaled to its weight filter's norm; random directions only, as Li et al.)
    or "global" (the whole direction scaled to the weights' norm). Studies, models and directions are computed
    once per session and reused; a re-plot costs one slice per policy (``progress``: say which one is being
    computed). ``side``: "proxy" (the policies at the proxy checkpoint) or "target" (the committed target-side
    study's kept fine-tunes, on the target's samples). Returns (Figure, sentences)."""
    if side not in SIDES:
        raise MpqlabError(f"side {side!r}; choose one of {', '.join(SIDES)}")
    if sample not in SAMPLES:
        raise MpqlabError(f"sample {sample!r}; choose one of {SAMPLES}")
    folder = Path(repo or REPO) / "results" / SIDES[side]  # the committed study: its spans, its kept weights
    cfg = dict(cfg or (DECLARED if side == "proxy" else TARGET_DECLARED), n=int(n))
    if side == "target":  # the kept fine-tunes only: a live view never fine-tunes (minutes) behind the learner's back
        lacking = [p for p in policies if not weights_stem(folder, seed, p).with_suffix(".safetensors").is_file()]
        if lacking:
            raise MpqlabError(f"no kept fine-tune of {', '.join(lacking)} at seed {seed} in {folder / 'weights'} "
                              "(mpqlab.experiments.studies.target_landscapes.run makes them)")
    make = (lambda: Study(cfg, seed, root, repo)) if side == "proxy" else (
        lambda: TargetStudy(cfg, seed, root, repo, out=folder))
    study = _cached(("study", side, seed, n, root), make)
    if span is None:
        committed = folder / f"spans_s{seed}.json"
        if committed.is_file():
            span = float(read_json(committed, "span file")[kind])
        else:
            base = _cached(("model", side, seed, cfg["baseline"], n), lambda: study.model(cfg["baseline"]))
            d0 = study.direction(base, kind, direction_seed)
            span = cfg["span_factor"] * k_fold_span(base, study.samples["train"], d0, cfg["k"])
    ts = np.linspace(-span, span, int(points))
    curves, words = {}, []
    for i, label in enumerate(policies):
        if progress:  # a live explorer's text area shows it while the slice is computed
            print(f"slicing {label} ({i + 1} of {len(policies)})…", flush=True)
        net = _cached(("model", side, seed, label, n), lambda: study.model(label))
        d = _cached(("direction", side, seed, label, n, kind, direction_seed),
                    lambda: study.direction(net, kind, direction_seed))
        if normalise == "global":
            d = D.scaled_to(d, D.weight_norm(net))
        if layer != "all layers":
            d = restrict(d, layer)
        r = slice_1d(net, study.samples[sample], d, ts)
        y = r["loss"] if metric == "loss" else r["acc"]
        curves[label] = {"x": ts, "y": y}
        words.append(f"{label}: width {D.width(ts, r['loss'], cfg['k']):.3g}")
    fig = policy_slices(curves, f"{_side_title(side)}Seed {seed}, {DIRECTION_NAMES[kind]}"
                        + (f" {direction_seed}" if kind == "random" else "") + f", {layer}, {sample} sample",
                        "a", METRICS[metric], log_y=metric == "loss", methods=METHODS,
                        dashed=("EdMIPS (claim-3 grid)",))
    return fig, f"Span ±{span:.3g}, {n} images. Width at {cfg['k']:g}x the centre loss: " + "; ".join(words) + "."


def study_policy(data: dict, label: str, seed: int, repo=None) -> dict | None:
    """The policy dict (``policy.json``) of the grid cell the study sliced as ``label`` at ``seed``; None when that
    cell is not in this checkout."""
    path = Path(repo or REPO) / data["config"]["policies"][label].format(seed=seed) / "policy.json"
    return read_json(path, "policy") if path.is_file() else None


def bits_explorer(data: dict, repo=None):
    """The kernel-free explorer of the studied policies' bits: policy as a dropdown, seed as a slider; each view puts
    the policy's weight and activation bits per layer beside the baseline's (EdMIPS) at the same seed, and says how
    many layers differ. A link's ``#policy=…&seed=…`` opens it on one policy (a Fig. 1 point, a forest-plot row)."""
    from ...viz.figures import bitwidth_heatmap  # deferred: slow import, figures only

    cfg = data["config"]
    base_label = cfg["baseline"]
    labels = list(cfg["policies"])
    bases = {s: study_policy(data, base_label, s, repo) for s in cfg["seeds"]}  # each baseline file read once
    seeds = [s for s, b in bases.items() if b is not None]
    if not seeds:
        raise MpqlabError(f"none of the study's {base_label} cells is in this checkout (under {repo or REPO})")
    views, texts = {}, {}
    for label, seed in itertools.product(labels, seeds):
        pol, base = study_policy(data, label, seed, repo), bases[seed]
        if pol is None:
            continue
        pols = {label: pol} if label == base_label else {label: pol, base_label: base}
        notes = {k: f"{p['totals']['average_bits']:.2f} avg bits" for k, p in pols.items()}
        views[(label, seed)] = bitwidth_heatmap(pols, title=f"Bits per layer, seed {seed}: {label}"
                                                + ("" if label == base_label else f" beside {base_label}"), notes=notes)
        searchable = [n for n, r in pol["layers"].items() if r["searchable"]]
        differ = sum((pol["layers"][n]["w_bits"], pol["layers"][n]["a_bits"])
                     != (base["layers"][n]["w_bits"], base["layers"][n]["a_bits"]) for n in searchable)
        texts[(label, seed)] = (f"{label}, seed {seed}: {pol['totals']['average_bits']:.2f} average bits"
                                + ("" if label == base_label else
                                   f"; {differ} of {len(searchable)} searchable layers differ from {base_label}'s "
                                   f"({base['totals']['average_bits']:.2f} average bits)") + ".")
    labels = [lab for lab in labels if any((lab, s) in views for s in seeds)]
    for key in itertools.product(labels, seeds):  # a policy missing at a seed shows the baseline's view, said so
        if key not in views:
            views[key] = views[(base_label, key[1])]
            texts[key] = f"{key[0]} has no cell at seed {key[1]} in this checkout: {base_label}'s bits are shown."
    # the baseline's own view has one column, every other policy's two: the frame holds per policy, across seeds
    return explorer_figure(views, [("policy", labels), ("seed", seeds)], texts=texts,
                           active=(labels[0], seeds[0]), kinds={"seed": "slider"}, free=("policy",))


PAGE = "02_policy_landscapes.html"  # the course page whose explorers show the study

# the grid methods of the study's policies, as a Fig. 1 point or a forest-plot row names them
GRID_LABELS = {"edmips": "EdMIPS", "edmips+asga": "EdMIPS+ASGA", "random": "random", "uniform:W3A2": "uniform W3A2",
               "edmips@target": "reference"}


def landscape_link(grid: str, setting: str, method: str, seed=None, cfg: dict | None = None) -> str:
    """The course-site link that opens the study's views of a grid cell's policy: its landscapes (random band) and
    its bits, at its seed (the first seed when ``seed`` is None: a forest-plot row, which spans the seeds); "" when
    the study has no such policy."""
    cfg = cfg or DECLARED
    if seed is None:
        seed = cfg["seeds"][0]
    try:
        seed = int(seed)
    except (TypeError, ValueError):
        return ""
    label = GRID_LABELS.get(method)
    if grid != cfg["grid"] or setting not in (cfg["setting"], "shared", "reference", "all") \
            or seed not in cfg["seeds"] or label not in cfg["policies"]:
        return ""
    return f"{PAGE}#direction=random&sample=train&metric=loss&seed={seed}&policy={quote(label, safe='')}"
