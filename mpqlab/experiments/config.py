"""An experiment grid's config, typed: :class:`GridConfig` is what ``configs/*.json`` holds, checked when it is
built (every key known, every value of the shared search block and of the fine-tune checked by building the
:class:`~mpqlab.search.SearchConfig` / :class:`~mpqlab.training.transfer.TransferConfig` it stands for), and the one place
that turns a grid cell into the configs its search and its transfer run with.

The JSON form (documented in :mod:`mpqlab.experiments.cell`) stays the file format and the report's input
(:meth:`GridConfig.to_dict`); the harness passes the typed object.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from . import reference
from ..core.errors import MpqlabError
from ..core.knobs import check_choices, check_ranges
from .report.options import KEYS as REPORT_KEYS, ReportOptions, report_options
from ..search.methods import REFERENCE, SHARED, is_null, parse_method
from ..search import SearchConfig
from ..training.transfer import TransferConfig

# SearchConfig fields a grid sets per cell, so the shared "search" block may not
PER_CELL = {"model", "data", "subset", "checkpoint", "objective", "sharpness", "budget", "seed", "proxy_seed"}
SEARCH_FIELDS = {f.name for f in dataclasses.fields(SearchConfig)}
# the target block's names before it took TransferConfig's own (committed configs use them): old -> new
LEGACY_TARGET = {"finetune_epochs": "epochs", "finetune_lr": "lr", "finetune_subset": "subset"}


@dataclass(frozen=True)
class ProxySetting:
    """Where a setting's searches run."""

    proxy: str                      # proxy dataset (mpqlab.data name)
    proxy_init: str | None          # full-precision checkpoint the searches start from
    proxy_subset: int | None = None  # class-balanced images of the proxy's training split a search sees (None: all)


@dataclass(frozen=True)
class TargetSpec:
    """Where every policy is transferred and scored. In the JSON ``target`` block: ``data``, ``init`` and any
    :class:`~mpqlab.training.transfer.TransferConfig` field but ``seed`` (set per cell), by its own name (``epochs``, ``lr``,
    ``batch_size``, ``weight_decay``, ``calib_batches``, ``subset``, ``max_batches``, ``calib_order``)."""

    data: str                       # target dataset
    init: str | None                # full-precision target checkpoint the transfer (and the reference) starts from
    finetune: TransferConfig        # the fine-tune; its ``subset``: class-balanced training images it sees (None: all)


@dataclass(frozen=True)
class GridConfig:
    """A grid of methods x seeds x budgets x settings (see :mod:`mpqlab.experiments.cell` for the JSON it is read from)."""

    name: str                               # the grid's name (its results folder: results/<name>)
    model: str                              # a registered model, searched and transferred
    seeds: tuple[int, ...]                  # a seed fixes a cell's proxy subset, batch order and fine-tune subset
    budgets: tuple[float, ...]              # average bits B (BitOPs of uniform WbAb)
    methods: tuple[str, ...]                # method names (mpqlab.search.methods grammar: edmips+asga, uniform:W3A2, ...)
    target: TargetSpec                      # where policies are transferred and scored
    settings: dict[str, ProxySetting]       # {setting name: where its searches run}
    description: str = ""                   # what the grid asks, in words (the report's and the reader's)
    search: dict[str, Any] = field(default_factory=dict)      # SearchConfig fields every search shares
    reference: dict[str, Any] = field(default_factory=dict)   # the reference's SearchConfig fields, or a selection
    selection: dict[str, Any] = field(default_factory=dict)   # the @selected proxy arms' selection (reference keys)
    method_seeds: dict[str, tuple[int, ...]] = field(default_factory=dict)  # {method: the seeds it runs on}
    shared_nulls: bool = False              # null baselines once per seed, compared with every setting
    sharpness_images: int = 512             # target test images for the fine-tuned model's h(0.05)
    proxy_sharpness_images: int = 128       # proxy search images for the proxy-side h, sigma_max, trace
    policies_from: str | None = None        # another grid's folder whose policies are reused
    compare_with: str | None = None         # another grid's folder each cell is compared with
    report: ReportOptions = field(default_factory=ReportOptions)  # comparisons, margins, the declared test (top-level
                                            # keys of the JSON, declared in mpqlab.experiments.report.options)
    source: dict = field(default_factory=dict, compare=False, repr=False)  # the JSON as written

    # ------------------------------------------------------------------ reading and checking
    @classmethod
    def from_dict(cls, d: Mapping, path: str | os.PathLike = "config") -> "GridConfig":
        """Check a grid config (dict as in the JSON file) and build it; every error names the bad key or value."""
        if isinstance(d, GridConfig):
            return d
        missing = [k for k in REQUIRED if k not in d]
        if missing:
            raise MpqlabError(f"experiment config {path} lacks {', '.join(repr(k) for k in missing)}")
        check_fields(d, path)
        _check_lists(d, path)
        for m in d["methods"]:
            try:
                parse_method(m)
            except MpqlabError as e:
                raise MpqlabError(f"experiment config {path}: {e}") from None
        for m, seeds in (d.get("method_seeds") or {}).items():
            if m not in d["methods"] or not set(seeds) <= set(d["seeds"]):
                raise MpqlabError(f"experiment config {path}: method_seeds[{m!r}] must name one of the methods and a "
                                  f"subset of the seeds")
        if any(parse_method(m).selected for m in d["methods"] if not is_null(m)) and not (
                d.get("selection") or {}).get("candidates"):
            raise MpqlabError(f"experiment config {path}: an @selected method needs a selection block with "
                              f"'candidates' (keys: {', '.join(reference.KEYS)})")
        if d.get("policies_from") and d.get("compare_with"):
            raise MpqlabError(f"experiment config {path}: give policies_from or compare_with, not both")
        t = d["target"]
        if "data" not in t:
            raise MpqlabError(f"experiment config {path}: target lacks 'data'")
        finetune = _finetune(t, path)
        settings = {}
        for k, v in d["settings"].items():
            if "proxy" not in v or "proxy_init" not in v:
                raise MpqlabError(f"experiment config {path}: settings.{k} needs 'proxy' and 'proxy_init'")
            settings[k] = ProxySetting(v["proxy"], v["proxy_init"], v.get("proxy_subset"))
        cfg = cls(name=d["name"], model=d["model"], seeds=tuple(int(s) for s in d["seeds"]),
                  budgets=tuple(float(b) for b in d["budgets"]), methods=tuple(d["methods"]),
                  target=TargetSpec(t["data"], t.get("init"), finetune), settings=settings,
                  description=str(d.get("description", "")),
                  search=dict(d.get("search") or {}), reference=dict(d.get("reference") or {}),
                  selection=dict(d.get("selection") or {}),
                  method_seeds={m: tuple(s) for m, s in (d.get("method_seeds") or {}).items()},
                  shared_nulls=bool(d.get("shared_nulls")), sharpness_images=int(d.get("sharpness_images", 512)),
                  proxy_sharpness_images=int(d.get("proxy_sharpness_images", 128)),
                  policies_from=d.get("policies_from"), compare_with=d.get("compare_with"),
                  report=report_options(d, f"experiment config {path}", d["methods"]), source=dict(d))
        for key in ("policies_from", "compare_with"):
            if getattr(cfg, key) and not Path(getattr(cfg, key)).is_dir():
                raise MpqlabError(f"experiment config {path}: {key} {getattr(cfg, key)!r} is not a folder")
        # the values, checked once before any cell: the fine-tune's, and the shared search block's by building a
        # search from it at every budget
        try:
            for budget in cfg.budgets:
                scfg = cfg.search_config("edmips", next(iter(settings), None), 0, budget)
                check_ranges(scfg, f"experiment config {path}: search: ")
                scfg.check()
                for m in cfg.methods:  # a method with its own settings: those checked too
                    if not is_null(m) and parse_method(m).options:
                        scfg = cfg.search_config(m, next(iter(settings), None), 0, budget)
                        check_ranges(scfg, f"experiment config {path}: method {m}: ")
                        scfg.check()
        except MpqlabError as e:
            raise MpqlabError(f"experiment config {path}: {e}" if str(path) not in str(e) else str(e)) from None
        return cfg

    def to_dict(self) -> dict:
        """The JSON form (as read): what the report and the run folders record."""
        return dict(self.source)

    # ------------------------------------------------------------------ what one cell runs with
    def proxy_of(self, setting: str, method: str) -> ProxySetting:
        """Where a cell's search runs: the target itself for the reference, the first setting's proxy for a shared
        null baseline, else its setting's proxy."""
        if method == REFERENCE:
            return ProxySetting(self.target.data, self.target.init, None)
        if not is_null(method) and parse_method(method).on_target:  # edmips@target:subset=10000: a sized target arm
            return ProxySetting(self.target.data, self.target.init, dict(parse_method(method).options).get("subset"))
        return self.settings[next(iter(self.settings)) if setting == SHARED else setting]

    def common_proxy(self) -> ProxySetting:
        """The proxy every policy's proxy-side sharpness is also measured on (the ``*_common`` columns): the first
        setting's, so that Fig. 1 pools like with like across settings."""
        return self.settings[next(iter(self.settings))]

    def search_config(self, method: str, setting: str | None, seed: int, budget: float,
                      extra: Mapping | None = None) -> SearchConfig:
        """The search a cell runs: the shared ``search`` block, then ``extra`` (the reference's own fields), with the
        cell's method, proxy, seed and budget."""
        m = parse_method(method)
        st = self.proxy_of(setting, method) if setting is not None else ProxySetting(self.target.data, None)
        kw = dict(self.search)
        kw.update(extra or {})
        kw.update(m.options)  # the method's own settings (edmips+sam:rho=0.2)
        kw.pop("subset", None)  # a target arm's subset (edmips@target:subset=10000) is its ProxySetting's
        unknown = sorted(k for k, _ in m.options if k not in SEARCH_FIELDS)
        if unknown:
            raise MpqlabError(f"method {method!r}: {', '.join(unknown)} is not a SearchConfig field")
        taken = sorted(k for k, _ in m.options if k in PER_CELL and not (m.on_target and k == "subset"))
        if taken:
            raise MpqlabError(f"method {method!r} sets {', '.join(taken)}, which the grid sets per cell")
        return SearchConfig(model=self.model, data=st.proxy, subset=st.proxy_subset, checkpoint=st.proxy_init,
                            objective=m.objective, sharpness=m.rule, budget=budget, seed=seed, proxy_seed=seed, **kw)

    def transfer_config(self, seed: int) -> TransferConfig:
        """A cell's fine-tune: the target block's settings, seeded with the cell's seed."""
        return dataclasses.replace(self.target.finetune, seed=seed)

    @property
    def device(self) -> str:
        """The torch device of every cell's search, transfer and measurements: the ``search`` block's ``device``
        (default cpu)."""
        return str(self.search.get("device", "cpu"))

    def reference_extra(self) -> dict:
        """The reference's SearchConfig fields (its selection keys left out)."""
        return {k: v for k, v in self.reference.items() if k not in reference.KEYS}

    def search_start(self, setting: str, method: str) -> str | None:
        """The checkpoint a cell's search starts from."""
        return self.proxy_of(setting, method).proxy_init


def _whole(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _check_lists(d: Mapping, path) -> None:
    """Types and signs of the grid's own lists and counts, before anything is built from them."""
    def bad(key, what, got):
        raise MpqlabError(f"experiment config {path}: {key} must be {what}, got {got!r}")

    for key, ok, what in (("seeds", lambda v: _whole(v) and v >= 0, "a non-empty list of whole numbers >= 0"),
                          ("budgets", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < math.inf,
                           "a non-empty list of positive numbers (average bits)"),
                          ("methods", lambda v: isinstance(v, str), "a non-empty list of method names")):
        vals = d[key]
        if not isinstance(vals, list) or not vals:
            bad(key, what, vals)
        for v in vals:
            if not ok(v):
                bad(key, what, v)
    for key in ("sharpness_images", "proxy_sharpness_images"):
        if key in d and not (_whole(d[key]) and d[key] > 0):
            bad(key, "a positive whole number", d[key])
    for key in ("target", "settings", "search", "reference", "selection", "method_seeds", "declared"):
        if d.get(key) is not None and not isinstance(d[key], Mapping):
            bad(key, "an object", d[key])
    for name, st in d["settings"].items():
        if not isinstance(st, Mapping):
            bad(f"settings.{name}", "an object", st)
        sub = st.get("proxy_subset")
        if sub is not None and not (_whole(sub) and sub > 0):
            bad(f"settings.{name}.proxy_subset", "a positive whole number or null", sub)


def _finetune(t: Mapping, path) -> TransferConfig:
    """The target block's fine-tune, checked (types and ranges): TransferConfig's names, or the legacy ones."""
    kw = {}
    for k, v in t.items():
        if k in ("data", "init"):
            continue
        name = LEGACY_TARGET.get(k, k)
        if name in kw:
            raise MpqlabError(f"experiment config {path}: target sets {name} twice ({k} is its old name); give one")
        kw[name] = v
    finetune = TransferConfig(**kw)
    check_ranges(finetune, f"experiment config {path}: target.")
    check_choices(finetune, f"experiment config {path}: target.")
    return finetune


def _keys(cls, leave_out=()) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)} - set(leave_out)


# the keys a grid config may hold, each declared once: GridConfig's own fields (``target``'s and each setting's from
# their dataclasses), the report's from mpqlab.experiments.report.options
GRID_KEYS = _keys(GridConfig, ("report", "source")) | set(REPORT_KEYS)
TARGET_KEYS = _keys(TargetSpec, ("finetune",)) | _keys(TransferConfig, ("seed",)) | set(LEGACY_TARGET)
SETTING_KEYS = _keys(ProxySetting)
REQUIRED = tuple(f.name for f in dataclasses.fields(GridConfig)
                 if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)


def check_fields(cfg: Mapping, path="config") -> None:
    """Every key of a grid config is one the grid reads: the top level, ``target`` and each setting against their
    known keys, ``search`` and ``reference`` against :class:`SearchConfig`'s fields (the reference also takes
    :mod:`mpqlab.experiments.reference`'s keys). A misspelt key is refused, naming it and the known ones, before any work."""
    known_search = {f.name for f in dataclasses.fields(SearchConfig)} - PER_CELL
    blocks = [("", cfg, GRID_KEYS), ("target", cfg.get("target", {}), TARGET_KEYS),
              ("search", cfg.get("search", {}), known_search),
              ("reference", cfg.get("reference", {}), known_search | set(reference.KEYS)),
              ("selection", cfg.get("selection", {}), set(reference.KEYS))]
    blocks += [(f"settings.{k}", v, SETTING_KEYS) for k, v in cfg.get("settings", {}).items()]
    for where, block, known in blocks:
        unknown = sorted(set(block) - known)
        if unknown:
            raise MpqlabError(f"experiment config {path}: unknown key(s) {', '.join(unknown)}"
                              f"{' in ' + where if where else ''}; known: {', '.join(sorted(known))}")
