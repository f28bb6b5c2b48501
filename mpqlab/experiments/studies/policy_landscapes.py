"""Landscapes of searched policies: the paper's flat-minima claim, seen.

For every seed of a committed grid, the policies the paper compares at one budget (uniform, random, EdMIPS,
EdMIPS+ASGA, EdMIPS+SAM and the target-searched reference) quantize the proxy checkpoint, calibrated and not
fine-tuned, as the grid's proxy side measured them (:func:`mpqlab.experiments.cell.proxy_side`). Around each
model, 1-D slices of loss and top-1 along every kind of direction of :mod:`mpqlab.analysis.directions`
(filter-normalised random ones, a band over several seeds; the top Hessian eigenvector; the SAM / ASGA ascent
direction; the proxy-to-target gradient gap), on the seed's training sample (the search's own subset) and on a
held-out sample of the proxy's test split (both seeded, shuffled, class-balanced). At one seed, 2-D planes: two
random directions and the top two eigenvectors.

**Spans chosen from the data.** A direction of another kind has the weights' global norm but moves some layers
far more than a random one, so one fixed span does not fit every kind: per seed and kind the span is grown
geometrically until the loss of the seed's EdMIPS model (the baseline every contrast is paired with) reaches
``k`` times its centre value, and the slices of every policy of that seed cover ``SPAN_FACTOR`` times it. The
width of a slice (:func:`mpqlab.analysis.directions.width`: the smallest |a| where the loss reaches ``k`` times
its centre) is the flatness measure: wider is flatter.

**Declared test** (``DECLARED``, written before any model was sliced). Primary measure: the mean over the random
directions of log width on the training sample. Contrasts, paired by seed: EdMIPS+ASGA vs EdMIPS (grid v3) and
EdMIPS+SAM vs EdMIPS (the claim-3 grid's own EdMIPS, searched beside SAM). Each: the mean log-width ratio with a
Holm-adjusted t interval over seeds and a sign count; verdict "flatter" / "sharper" when the adjusted interval
excludes 0, else "no difference shown". Gate (the measure can separate something): along the top Hessian
eigenvector a model is narrower than along random directions, on at least 90 % of the models.

Each model's slices are one ``.npz`` under ``out/models/`` (written atomically; a rerun computes only the missing
ones), the spans one JSON per seed, the whole folder held by one run at a time.
"""
from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import numpy as np

from ...core.errors import MpqlabError
from ...core.files import read_json, write_json

DECLARED = {
    "grid": "grid_v3",  # the committed grid whose seeds and proxy setting are studied
    "setting": "subset-control",  # proxy: 2,000 images of cifar10-mini from the cifar10-mini checkpoint
    "proxy": "cifar10-mini", "proxy_subset": 2000,
    "proxy_init": "checkpoints/resnet20_cifar10-mini.safetensors",
    "target": "cifar10",  # the target sample of the gradient-gap direction (CIFAR-10 training images)
    "seeds": [0, 1, 2, 3, 4, 5, 6, 7],
    # label -> the cell folder (with {seed}) whose policy.json is studied
    "policies": {
        "uniform W3A2": "results/grid_v3/cells/shared/uniform_W3A2/b2.5_s{seed}",
        "random": "results/grid_v3/cells/shared/random/b2.5_s{seed}",
        "EdMIPS": "results/grid_v3/cells/subset-control/edmips/b2.5_s{seed}",
        "EdMIPS+ASGA": "results/grid_v3/cells/subset-control/edmips_asga/b2.5_s{seed}",
        "EdMIPS (claim-3 grid)": "results/claim3_radius/cells/subset-control/edmips/b2.5_s{seed}",
        "EdMIPS+SAM": "results/claim3_radius/cells/subset-control/edmips_sam_rho0.1/b2.5_s{seed}",
        "reference": "results/grid_v3/cells/reference/edmips_at_target/b2.5_s{seed}",
    },
    "baseline": "EdMIPS",  # the model whose k-fold span sets each seed's span per direction kind
    "contrasts": [["EdMIPS+ASGA", "EdMIPS"], ["EdMIPS+SAM", "EdMIPS (claim-3 grid)"]],
    "n": 128,  # images per sample (training, held-out, target)
    "random_seeds": [0, 1, 2, 3, 4],  # the band of filter-normalised random directions
    "directions": ["random", "eigen", "ascent", "gradient_gap"],
    "points": 11,  # grid points per slice over [-span, span]
    "k": 2.0,  # the width is where the loss reaches k times its centre value
    "span_factor": 2.5,  # a seed's slices cover span_factor x the baseline's k-fold span
    "eigen_iters": 8,  # Lanczos steps for the top eigenvectors
    "plane_seed": 0,  # the seed whose 2-D planes are computed
    "plane_points": 9,
    "alpha": 0.05,  # family-wise, Holm over the contrasts
    "gate_share": 0.9,  # the gate: eigen narrower than random on at least this share of the models
}
SAMPLES = ("train", "held-out")
REPO = Path(__file__).resolve().parents[3]  # the checkout whose results/ hold the grids' cells and the study


def _direction_keys(cfg: dict) -> list[str]:
    keys = []
    for kind in cfg["directions"]:
        keys += [f"random{s}" for s in cfg["random_seeds"]] if kind == "random" else [kind]
    return keys


_TARGETS: dict = {}


def _target_train(name: str, root):
    """The target's training split, loaded once per process (every seed draws its own sample from it)."""
    from ...quant.loading import load_splits

    if (name, root) not in _TARGETS:
        _TARGETS[(name, root)] = load_splits(name, root)[0]
    return _TARGETS[(name, root)]


class Study:
    """The study's inputs at one seed, built once and reused by every policy of that seed."""

    def __init__(self, cfg: dict, seed: int, root=None, repo: Path | None = None):
        from ...data.sample import analysis_batch
        from ...quant.loading import load_splits

        self.cfg, self.seed, self.root = cfg, seed, root
        self.repo = Path(repo or REPO)
        self.train, test = load_splits(cfg["proxy"], root, cfg["proxy_subset"], seed)
        self.samples = {"train": analysis_batch(self.train, cfg["n"], seed=seed),
                        "held-out": analysis_batch(test, cfg["n"], seed=seed)}
        self._target = None

    @property
    def target(self):
        """The target sample of the gradient-gap direction, drawn when first needed (the target's training split
        is loaded once per process)."""
        from ...data.sample import analysis_batch

        if self._target is None:
            self._target = analysis_batch(_target_train(self.cfg["target"], self.root), self.cfg["n"], seed=self.seed)
        return self._target

    def policy_path(self, label: str) -> Path:
        path = self.repo / self.cfg["policies"][label].format(seed=self.seed) / "policy.json"
        if not path.is_file():
            raise MpqlabError(f"policy {label!r} at seed {self.seed}: {path} does not exist")
        return path

    def model(self, label: str):
        from ...core.seeding import seed_global
        from ...quant.loading import model_under_policy
        from ...quant.policy import Policy

        seed_global(self.seed)
        net, _ = model_under_policy("resnet20", str(self.repo / self.cfg["proxy_init"]), self.train.num_classes,
                                    Policy.load(self.policy_path(label)), None, self.train,
                                    tuple(self.train.input_size))
        return net.eval()

    def directions(self, net) -> dict:
        from ...analysis import directions as D

        out = {}
        for kind in self.cfg["directions"]:
            if kind == "random":
                for s in self.cfg["random_seeds"]:
                    out[f"random{s}"] = D.make("random", net, None, seed=s)
            elif kind == "eigen":
                out["eigen"] = D.eigen(net, self.samples["train"], seed=self.seed, max_iter=self.cfg["eigen_iters"])[0]
            else:
                out[kind] = D.make(kind, net, self.samples["train"], seed=self.seed, target_data=self.target)
        return out


def k_fold_span(net, data, direction: dict, k: float, start: float = 1e-3, grow: float = 2.0,
                max_span: float = 4.0) -> float:
    """The smallest span start * grow^i at which the loss at +span or -span reaches ``k`` times the centre loss."""
    from ...analysis.landscape import slice_1d

    center = slice_1d(net, data, direction, [0.0])["loss"][0]
    span = start
    while span < max_span:
        ends = slice_1d(net, data, direction, [-span, span])["loss"]
        if max(ends) >= k * center:
            return float(span)
        span *= grow
    return float(max_span)


def seed_spans(study: Study, out: Path) -> dict:
    """Per direction kind, the seed's span (from its baseline model), computed once and kept in ``spans_s<seed>.json``."""
    path = out / f"spans_s{study.seed}.json"
    if path.is_file():
        return read_json(path, "span file")
    cfg = study.cfg
    net = study.model(cfg["baseline"])
    dirs = study.directions(net)
    x = study.samples["train"]
    spans = {}
    for key, d in dirs.items():
        group = "random" if key.startswith("random") else key
        s = k_fold_span(net, x, d, cfg["k"])
        spans[group] = max(spans.get(group, 0.0), s)  # the random band shares its widest member's span
    spans = {g: cfg["span_factor"] * s for g, s in spans.items()}
    write_json(path, spans)
    return spans


def slice_model(study: Study, label: str, spans: dict) -> dict:
    """Every slice of one policy's model at the study's seed, as arrays ``{key: array}`` (see :func:`model_file`)."""
    from ...analysis import directions as D
    from ...analysis.landscape import slice_1d

    cfg = study.cfg
    net = study.model(label)
    t0 = time.time()
    dirs = study.directions(net)
    out = {}
    for key, d in dirs.items():
        group = "random" if key.startswith("random") else key
        ts = np.linspace(-spans[group], spans[group], cfg["points"])
        out[f"{key}/ts"] = ts
        for sample in SAMPLES:
            r = slice_1d(net, study.samples[sample], d, ts)
            out[f"{key}/{sample}/loss"], out[f"{key}/{sample}/top1"] = r["loss"], r["acc"]
            out[f"{key}/{sample}/width"] = np.array(D.width(ts, r["loss"], cfg["k"]))
        if "__eigenvalue__" in d:
            out[f"{key}/eigenvalue"] = np.array(float(d["__eigenvalue__"]))
        if "__cos__" in d:
            out[f"{key}/cos"] = np.array(float(d["__cos__"]))
    if study.seed == cfg["plane_seed"]:
        from ...analysis.landscape import slice_2d

        pts = cfg["plane_points"]
        e1, e2 = D.eigen(net, study.samples["train"], seed=study.seed, max_iter=cfg["eigen_iters"], k=2)
        for name, (a, b), span in (("plane_random", (dirs["random0"], dirs["random1"]), spans["random"]),
                                   ("plane_eigen", (e1, e2), spans.get("eigen", spans["random"]))):
            ts = np.linspace(-span, span, pts)
            r = slice_2d(net, study.samples["train"], a, b, ts, ts)
            out[f"{name}/ts"], out[f"{name}/loss"], out[f"{name}/top1"] = ts, r["loss"], r["acc"]
    out["time_s"] = np.array(time.time() - t0)
    return out


def model_file(out: Path, seed: int, label: str) -> Path:
    """Where one (seed, policy) model's slices are kept: ``out/models/s<seed>_<label, file-safe>.npz``."""
    return out / "models" / f"s{seed}_{label.replace(' ', '_').replace('(', '').replace(')', '').replace('+', '_')}.npz"


def run(out: str | os.PathLike, cfg: dict | None = None, root=None, seeds=None, policies=None, repo=None,
        progress: bool = True) -> Path:
    """Compute every (seed, policy) model of the study not yet in ``out`` (resumable; one run per folder)."""
    from ...core.files import atomic_write_bytes
    from ...core.locks import run_lock
    from ...core.provenance import code_record
    import io

    cfg = dict(cfg or DECLARED)
    out = Path(out)
    labels = policies or list(cfg["policies"])
    unknown = [p for p in labels if p not in cfg["policies"]]
    if unknown:
        raise MpqlabError(f"unknown policies {unknown}; the study has {list(cfg['policies'])}")
    with run_lock(out):
        config_path = out / "config.json"
        if config_path.is_file() and read_json(config_path, "study config") != cfg:
            raise MpqlabError(f"{config_path} holds another study's config; use another output folder")
        write_json(config_path, cfg)
        (out / "models").mkdir(exist_ok=True)
        for seed in seeds if seeds is not None else cfg["seeds"]:
            todo = [p for p in labels if not model_file(out, seed, p).is_file()]
            if not todo:
                continue
            study = Study(cfg, seed, root, repo)
            spans = seed_spans(study, out)
            for label in todo:
                arrays = slice_model(study, label, spans)
                arrays["code_json"] = np.array(json.dumps(code_record(), default=str))
                buf = io.BytesIO()
                np.savez_compressed(buf, **arrays)
                atomic_write_bytes(model_file(out, seed, label), buf.getvalue())
                if progress:
                    print(f"seed {seed} {label}: {float(arrays['time_s']):.0f} s", flush=True)
    return out


def load(out: str | os.PathLike) -> dict:
    """``{(seed, label): {key: array}}`` of every finished model of the study in ``out``, plus ``"config"``."""
    out = Path(out)
    cfg = read_json(out / "config.json", "study config")
    models = {}
    for seed in cfg["seeds"]:
        for label in cfg["policies"]:
            path = model_file(out, seed, label)
            if path.is_file():
                with np.load(path, allow_pickle=False) as z:
                    models[(seed, label)] = {k: z[k] for k in z.files}
    return {"config": cfg, "models": models}


# ------------------------------------------------------------------------------------------------ what it shows
def widths(data: dict):
    """One row per (seed, policy, direction key, sample): the slice's width (capped at its span when the loss never
    reaches k-fold inside it, flagged ``censored``), top-1 at the centre, and the direction's eigenvalue / cosine."""
    import pandas as pd

    rows = []
    for (seed, label), m in data["models"].items():
        for key in _direction_keys(data["config"]):
            if f"{key}/ts" not in m:
                continue
            span = float(m[f"{key}/ts"][-1])
            for sample in SAMPLES:
                w = float(m[f"{key}/{sample}/width"])
                centre = len(m[f"{key}/ts"]) // 2
                rows.append({"seed": seed, "policy": label, "direction": key,
                             "kind": "random" if key.startswith("random") else key, "sample": sample,
                             "width": min(w, span), "censored": not np.isfinite(w), "span": span,
                             "loss0": float(m[f"{key}/{sample}/loss"][centre]),
                             "top1_0": float(m[f"{key}/{sample}/top1"][centre])})
    return pd.DataFrame(rows)


def flatness(data: dict, sample: str = "train"):
    """Per seed and policy the declared measure: the mean over the random directions of log width; and per kind
    the log width of the other directions. Columns: seed, policy, random, eigen, ascent, gradient_gap."""
    w = widths(data)
    w = w[w["sample"] == sample].assign(log_width=lambda f: np.log(f["width"]))
    return w.groupby(["seed", "policy", "kind"])["log_width"].mean().unstack("kind").reset_index()


def contrasts(data: dict, sample: str = "train") -> list[dict]:
    """The declared contrasts, paired by seed: mean log-width ratio (A over B) along the random band, its
    Bonferroni interval over the family (level 1 - alpha / m), Holm-adjusted p, sign count and verdict."""
    from ..stats import holm, paired_test

    cfg = data["config"]
    f = flatness(data, sample).set_index(["policy", "seed"])["random"]
    m = len(cfg["contrasts"])
    out = []
    for a, b in cfg["contrasts"]:
        seeds = [s for s in cfg["seeds"] if (a, s) in f.index and (b, s) in f.index]
        d = [float(f[(a, s)] - f[(b, s)]) for s in seeds]
        t = paired_test(d, level=1 - cfg["alpha"] / m)
        out.append({"a": a, "b": b, "pairs": len(d), "mean_log_ratio": t["mean"], "ratio": float(np.exp(t["mean"])),
                    "ci_low": float(np.exp(t["ci_low"])), "ci_high": float(np.exp(t["ci_high"])), "p": t["p_t"],
                    "wider": sum(x > 0 for x in d), "narrower": sum(x < 0 for x in d),
                    "level": 1 - cfg["alpha"] / m})
    for row, p in zip(out, holm([r["p"] for r in out])):
        row["p_holm"] = p
        if row["pairs"] < 2 or np.isnan(p):
            row["verdict"] = "cannot tell (too few seeds)"
        elif p < cfg["alpha"]:
            row["verdict"] = "flatter" if row["mean_log_ratio"] > 0 else "sharper"
        else:
            row["verdict"] = "no difference shown"
    return out


def gate(data: dict, sample: str = "train") -> dict:
    """The gate: on how many models the top eigenvector's width is below the random band's (the measure separates
    the sharpest direction from random ones). ``passed`` when the share reaches the declared one."""
    f = flatness(data, sample).dropna(subset=["eigen", "random"])
    hits = int((f["eigen"] < f["random"]).sum())
    share = hits / len(f) if len(f) else float("nan")
    return {"models": len(f), "narrower": hits, "share": share,
            "passed": bool(len(f)) and share >= data["config"]["gate_share"]}


def committed_sharpness(cfg: dict, repo=None):
    """Per policy, the proxy-side h (rho = 0.05), sigma_max and Hessian trace its grid cells recorded (never
    recomputed here): mean with a 95 % t interval over the seeds whose row is committed."""
    import pandas as pd
    from ..stats import paired_test

    repo = Path(repo or REPO)
    rows = []
    for label, pattern in cfg["policies"].items():
        values = {"proxy_h": [], "proxy_sigma_max": [], "proxy_trace": []}
        for seed in cfg["seeds"]:
            path = repo / pattern.format(seed=seed) / "row.json"
            if path.is_file():
                row = read_json(path, "cell row")
                for k in values:
                    if row.get(k) not in (None, ""):
                        values[k].append(float(row[k]))
        out = {"policy": label}
        for k, v in values.items():
            t = paired_test(v)
            out.update({k: t["mean"], f"{k}_low": t.get("ci_low"), f"{k}_high": t.get("ci_high"), f"{k}_n": len(v)})
        rows.append(out)
    return pd.DataFrame(rows)


def finding_lines(data: dict) -> list[str]:
    """What the views show about the flat-minima claim, printed from the data, with the declared verdicts."""
    cfg = data["config"]
    g = gate(data)
    lines = [f"Gate: along the top Hessian eigenvector the proxy landscape is narrower than along the random band on "
             f"{g['narrower']} of {g['models']} models (needed: {cfg['gate_share']:.0%}); "
             + ("passed: the width separates a sharp direction from random ones."
                if g["passed"] else "NOT passed: the width cannot be trusted to separate policies.")]
    level = None
    for c in contrasts(data):
        level = c["level"]
        lines.append(f"{c['a']}'s proxy landscape is wider than {c['b']}'s along the random band on {c['wider']} of "
                     f"{c['pairs']} seeds (narrower on {c['narrower']}); width ratio {c['ratio']:.3f} "
                     f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}], Holm p = {c['p_holm']:.3g}: {c['verdict']}"
                     + ("" if g["passed"] else " (gate not passed)") + ".")
    if level is not None:
        lines.append(f"Intervals: {level:.1%} t intervals over seeds (Bonferroni over the {len(cfg['contrasts'])} "
                     "contrasts), beside Holm-adjusted verdicts; ratio > 1 is flatter.")
    done = len(data["models"])
    total = len(cfg["seeds"]) * len(cfg["policies"])
    if done < total:
        lines.append(f"Partial: {done} of {total} models sliced.")
    return lines


# ------------------------------------------------------------------------------------------------ views
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
    from ...viz.landscapes import policy_slices

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
    from ...viz.explorer import explorer_figure

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
    from ...viz.explorer import explorer_figure
    from ...viz.landscapes import plane

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
    from ...viz.landscapes import width_ratios

    cfg = data["config"]
    f = flatness(data, sample).set_index(["policy", "seed"])["random"]
    ratios = {}
    for a, b in cfg["contrasts"]:
        ratios[f"{a} / {b}"] = {s: float(np.exp(f[(a, s)] - f[(b, s)])) for s in cfg["seeds"]
                                if (a, s) in f.index and (b, s) in f.index}
    return width_ratios(ratios, "Proxy-landscape width ratio per seed (random band, training sample)",
                        methods={f"{a} / {b}": METHODS.get(a, a) for a, b in cfg["contrasts"]})


def policy_table(data: dict, sample: str = "train"):
    """Per policy and direction kind: the geometric mean width over seeds, and top-1 at the centre."""
    w = widths(data)
    w = w[w["sample"] == sample]
    t = w.groupby(["policy", "kind"])["width"].apply(lambda v: float(np.exp(np.log(v).mean()))).unstack("kind")
    t["top-1 at centre"] = w[w["kind"] == "random"].groupby("policy")["top1_0"].mean()
    t["models"] = w[w["direction"] == "random0"].groupby("policy").size()
    order = [p for p in data["config"]["policies"] if p in t.index]
    return t.loc[order]


def write_report(out: str | os.PathLike, repo=None) -> Path:
    """``out/results.md``: the finding lines, the per-policy widths, the committed sharpness with intervals and the
    code that sliced the models."""
    out = Path(out)
    data = load(out)
    codes = sorted({json.loads(str(m["code_json"])).get("code_commit", "?")[:7] + (
        "+dirty" if json.loads(str(m["code_json"])).get("code_dirty") else "") for m in data["models"].values()})
    sharp = committed_sharpness(data["config"], repo)
    lines = ["# Landscapes of searched policies (proxy side)", "",
             "Written by `mpqlab.experiments.studies.policy_landscapes.write_report` from the models in `models/`.",
             "", "## What the views show", ""] + [f"- {x}" for x in finding_lines(data)] + [
             "", "## Width per policy (geometric mean over seeds, training sample)", "",
             policy_table(data).round(4).to_markdown(), "",
             "## Proxy-side sharpness the grid cells recorded (mean [95 % t interval] over seeds)", "",
             sharp.round(3).to_markdown(index=False), "", f"Sliced by code {', '.join(codes)}.", ""]
    from ...core.files import atomic_write_text

    atomic_write_text(out / "results.md", "\n".join(lines))
    return out / "results.md"


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
    from ...analysis import directions as D
    from ...analysis.landscape import restrict, slice_1d
    from ...viz.landscapes import policy_slices

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
