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

import io
import json
import os
import time
from pathlib import Path

import numpy as np

from ...analysis import directions as D
from ...analysis.landscape import slice_1d, slice_2d
from ...core.errors import MpqlabError
from ...core.files import atomic_write_bytes, read_json, write_json
from ...core.locks import run_lock
from ...core.provenance import code_record
from ...core.seeding import seed_global
from ...data.sample import analysis_batch
from ...quant.loading import load_splits, model_under_policy
from ...quant.policy import Policy

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
    if (name, root) not in _TARGETS:
        _TARGETS[(name, root)] = load_splits(name, root)[0]
    return _TARGETS[(name, root)]


class Study:
    """The study's inputs at one seed, built once and reused by every policy of that seed."""

    def __init__(self, cfg: dict, seed: int, root=None, repo: Path | None = None):
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
        if self._target is None:
            self._target = analysis_batch(_target_train(self.cfg["target"], self.root), self.cfg["n"], seed=self.seed)
        return self._target

    def policy_path(self, label: str) -> Path:
        path = self.repo / self.cfg["policies"][label].format(seed=self.seed) / "policy.json"
        if not path.is_file():
            raise MpqlabError(f"policy {label!r} at seed {self.seed}: {path} does not exist")
        return path

    def model(self, label: str):
        seed_global(self.seed)
        net, _ = model_under_policy("resnet20", str(self.repo / self.cfg["proxy_init"]), self.train.num_classes,
                                    Policy.load(self.policy_path(label)), None, self.train,
                                    tuple(self.train.input_size))
        return net.eval()

    def gap_samples(self) -> tuple:
        """(proxy sample, target sample) of the gradient-gap direction g_target - g_proxy: here the seed's
        training sample and the target sample."""
        return self.samples["train"], self.target

    def direction(self, net, kind: str, seed: int | None = None) -> dict:
        """One direction of ``kind`` at ``net``'s weights, on the seed's training sample; ``seed``: a random
        direction's own seed (default the study's)."""
        seed = self.seed if seed is None else seed
        if kind == "random":
            return D.make("random", net, None, seed=seed)
        if kind == "eigen":
            return D.eigen(net, self.samples["train"], seed=seed, max_iter=self.cfg["eigen_iters"])[0]
        if kind == "gradient_gap":
            return D.gradient_gap(net, *self.gap_samples())
        return D.make(kind, net, self.samples["train"], seed=seed)

    def directions(self, net) -> dict:
        """Every direction the study slices along: the random band (one per random seed), then each other kind."""
        out = {}
        for kind in self.cfg["directions"]:
            if kind == "random":
                for s in self.cfg["random_seeds"]:
                    out[f"random{s}"] = self.direction(net, "random", s)
            else:
                out[kind] = self.direction(net, kind)
        return out


def k_fold_span(net, data, direction: dict, k: float, start: float = 1e-3, grow: float = 2.0,
                max_span: float = 4.0) -> float:
    """The smallest span start * grow^i at which the loss at +span or -span reaches ``k`` times the centre loss."""
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
        pts = cfg["plane_points"]
        e1, e2 = D.eigen(net, study.samples["train"], seed=study.seed, max_iter=cfg["eigen_iters"], k=2)
        for name, (a, b), span in (("plane_random", (dirs["random0"], dirs["random1"]), spans["random"]),
                                   ("plane_eigen", (e1, e2), spans.get("eigen", spans["random"]))):
            ts = np.linspace(-span, span, pts)
            r = slice_2d(net, study.samples["train"], a, b, ts, ts)
            out[f"{name}/ts"], out[f"{name}/loss"], out[f"{name}/top1"] = ts, r["loss"], r["acc"]
    out["time_s"] = np.array(time.time() - t0)
    return out


def committed_rows(cfg: dict, label: str, repo=None) -> dict:
    """``{seed: row}`` of the grid cells behind policy ``label``, for the study's seeds whose ``row.json`` is
    committed (what the cells recorded; never recomputed here)."""
    repo = Path(repo or REPO)
    paths = {seed: repo / cfg["policies"][label].format(seed=seed) / "row.json" for seed in cfg["seeds"]}
    return {seed: read_json(path, "cell row") for seed, path in paths.items() if path.is_file()}


def model_file(out: Path, seed: int, label: str) -> Path:
    """Where one (seed, policy) model's slices are kept: ``out/models/s<seed>_<label, file-safe>.npz``."""
    return out / "models" / f"s{seed}_{label.replace(' ', '_').replace('(', '').replace(')', '').replace('+', '_')}.npz"


def run(out: str | os.PathLike, cfg: dict | None = None, root=None, seeds=None, policies=None, repo=None,
        progress: bool = True, study=Study) -> Path:
    """Compute every (seed, policy) model of the study not yet in ``out`` (resumable; one run per folder).
    ``study(cfg, seed, root, repo)`` builds one seed's inputs (:class:`Study`: the proxy side)."""
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
            inputs = study(cfg, seed, root, repo)
            spans = seed_spans(inputs, out)
            for label in todo:
                arrays = slice_model(inputs, label, spans)
                arrays["code_json"] = np.array(json.dumps(code_record(), default=str))
                buf = io.BytesIO()
                np.savez_compressed(buf, **arrays)
                atomic_write_bytes(model_file(out, seed, label), buf.getvalue())
                if progress:
                    print(f"seed {seed} {label}: {float(arrays['time_s']):.0f} s", flush=True)
    return out


def only(data: dict, labels) -> dict:
    """``data`` (as :func:`load` returns it) restricted to the policies ``labels`` (in the study's order): its config
    names only those, its models only theirs. Raises on a label the study does not have."""
    unknown = [p for p in labels if p not in data["config"]["policies"]]
    if unknown:
        raise MpqlabError(f"unknown policies {unknown}; the study has {list(data['config']['policies'])}")
    cfg = dict(data["config"], policies={k: v for k, v in data["config"]["policies"].items() if k in labels})
    return {"config": cfg, "models": {k: v for k, v in data["models"].items() if k[1] in labels}}


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
