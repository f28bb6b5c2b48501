"""A grid's report options, typed: what the report reads from a grid config besides its cells (the comparisons, the
margins, the pre-declared test and its group-sequential plan). Each key is declared here once, with its default and
range; :class:`~mpqlab.experiments.config.GridConfig` checks them when a config is read (before any cell), and every report
function reads them through :func:`report_options`, so no default is written twice."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping

from ...core.errors import MpqlabError
from ...core.knobs import check_choices, check_ranges, knob


@dataclass(frozen=True)
class SequentialPlan:
    """A group-sequential rule (``declared.sequential``; :mod:`mpqlab.experiments.report.sequential`)."""

    looks: list = knob([], "pairs at each planned look, increasing; the last is the planned final sample")
    spending: str = knob("obrien-fleming", "the alpha-spending function", choices=["obrien-fleming"])
    reestimate_sd_at: int | None = knob(None, "the look whose paired sd replaces the assumed one (extends only)",
                                        lo=2, hi=10 ** 6)
    max_pairs: int | None = knob(None, "cap on the final look's pairs; unset: the planned final look", lo=2,
                                 hi=10 ** 6)
    rule: str = knob("", "the rule in words, as declared")
    kind: str = knob("superiority", "what the looks test: 'superiority' (does A beat B by the effect?) or "
                                    "'equivalence' (does the repeated (1 - 2 alpha) interval lie within the grid's "
                                    "equivalence margin?)", choices=["superiority", "equivalence"])


@dataclass(frozen=True)
class CorrelationPlan:
    """A pre-declared within-seed correlation (``declared.correlation``; :mod:`mpqlab.experiments.report.correlation`): a factor
    set on purpose (``levels``: one method per level, e.g. one rule at rising radii) must move the measured
    ``manipulation`` column (the gate), and then each sharpness ``measure`` is tested for the predicted sign of its
    correlation with ``outcome`` across the levels of each seed (Spearman per seed; the seeds' mean tested by an
    exact sign-flip over seeds; Holm over the measures)."""

    levels: list = knob([], "the methods, in the order of the factor set on purpose (at least 3)")
    measures: list = knob(["proxy_h", "proxy_trace"], "row columns of the sharpness measures tested; Holm over them")
    outcome: str = knob("target_top1", "the row column the sharpness should predict")
    direction: str = knob("negative", "the predicted sign of the correlation", choices=["negative", "positive"])
    manipulation: str = knob("proxy_h", "the column the factor must move for the test to answer (its within-seed "
                                        "Spearman with the level, sign-flip p < alpha)")
    across: str = knob("levels", "'levels': the methods in ``levels``; 'candidates': the candidate searches of one "
                                 "@selected ``arm`` within each seed (its candidates_* columns)",
                       choices=["levels", "candidates"])
    arm: str = knob("", "with across='candidates': the @selected method whose candidates are correlated")
    min_spread: float = knob(0.1, "with across='candidates', the gate: the median over seeds of the within-seed "
                                  "relative range (max - min) / mean of ``manipulation`` must reach this", lo=0, hi=10)


@dataclass(frozen=True)
class CostPlan:
    """A pre-declared cost test (``declared.cost``; :mod:`mpqlab.experiments.report.cost`): one proxy search arm
    against target search arms on growing target subsets, one search against one search, paired by seed."""

    proxy: str = knob("", "the proxy search arm (one search)")
    targets: list = knob([], "the target search arms, by growing target subset (edmips@target:subset=N)")
    full: str = knob("", "the full target search: the denominator of 'a fraction of its cost'")
    margin: float = knob(0.5, "points the proxy arm may trail the full target search and still match it", lo=0,
                         hi=100, lo_open=True)


@dataclass(frozen=True)
class DeclaredTest:
    """A pre-declared primary test (config ``declared``), written before any cell of its grid ran."""

    question: str = knob("", "the question, in words")
    primary: list = knob([], "[A, B]: the arms whose paired difference A - B the test is about")
    control: list = knob([], "[A, B]: the positive control that must separate (the grid's gate); empty: none")
    setting: str = knob("", "the proxy setting the arms are compared in")
    effect: float = knob(1.0, "the effect of interest, points of top-1", lo=0, hi=100, lo_open=True)
    alpha: float = knob(0.05, "two-sided type I error", lo=0, hi=1, lo_open=True)
    power: float = knob(0.8, "planned power at the effect", lo=0, hi=1, lo_open=True)
    assumed_sd: float = knob(1.0, "paired sd the sample size was planned with, points", lo=0, hi=100, lo_open=True)
    assumed_sd_source: str = knob("", "where the assumed sd came from (a pilot, with its interval)")
    sequential: SequentialPlan | None = knob(None, "the group-sequential rule; unset: one fixed-sample test")
    correlation: CorrelationPlan | None = knob(None, "a within-seed correlation test instead of a paired "
                                                     "difference; unset: the paired test of ``primary``")
    cost: CostPlan | None = knob(None, "a cost test: a proxy search against target searches of growing size")


@dataclass(frozen=True)
class ReportOptions:
    """The report options of a grid config (top-level keys of its JSON)."""

    comparisons: list | None = knob(None, "pre-declared [A, B] pairs, Holm-corrected within each budget; unset: the "
                                          "report's default pairs")
    equivalence_margin: float = knob(0.5, "points within which a proxy search 'matches' the reference", lo=0, hi=100,
                                     lo_open=True)
    gate_margin: float = knob(1.0, "points a positive control must win by for the grid to answer", lo=0, hi=100)
    declared: DeclaredTest | None = knob(None, "the pre-declared primary test; unset: none")


KEYS = tuple(f.name for f in dataclasses.fields(ReportOptions))  # the grid config's report keys


def _build(cls, d: Mapping, where: str):
    if not isinstance(d, Mapping):
        raise MpqlabError(f"{where} must be an object, got {d!r}")
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - known)
    if unknown:
        raise MpqlabError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    out = cls(**d)
    check_ranges(out, f"{where}.")
    try:
        check_choices(out)
    except MpqlabError as e:
        raise MpqlabError(f"{where}.{str(e).lstrip('-')}") from None
    return out


def _pair(v, where: str, methods) -> None:
    if not (isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(m, str) for m in v)):
        raise MpqlabError(f"{where} must be a pair [A, B] of method names, got {v!r}")
    missing = [m for m in v if methods is not None and m not in methods]
    if missing:
        raise MpqlabError(f"{where} names {', '.join(map(repr, missing))}, not one of the grid's methods")


def report_options(cfg: Mapping, where: str = "config", methods=None) -> ReportOptions:
    """The typed report options of a grid config (its JSON dict), checked: every key known, numbers in range, and
    with ``methods`` (the grid's, when the config is read) pairs that name them; the report, which skips a pair
    with no cells, reads them without. Raises :class:`~mpqlab.core.errors.MpqlabError` naming the bad key."""
    d = {k: cfg[k] for k in KEYS if cfg.get(k) is not None}
    declared = d.pop("declared", None)
    if declared is not None:
        declared = dict(declared)
        corr = declared.pop("correlation", None)
        if corr is not None:
            corr = _build(CorrelationPlan, corr, f"{where}: declared.correlation")
            if corr.across == "candidates":
                if not corr.arm or (methods is not None and corr.arm not in methods) or "@selected" not in corr.arm:
                    raise MpqlabError(f"{where}: declared.correlation.arm must name one of the grid's @selected "
                                      f"methods (across 'candidates'), got {corr.arm!r}")
            elif len(corr.levels) < 3 or not corr.measures:
                raise MpqlabError(f"{where}: declared.correlation needs 3 or more levels and 1 or more measures")
            for i, m in enumerate(corr.levels):
                if methods is not None and m not in methods:
                    raise MpqlabError(f"{where}: declared.correlation.levels[{i}] names {m!r}, not one of the "
                                      f"grid's methods")
        cost = declared.pop("cost", None)
        if cost is not None:
            cost = _build(CostPlan, cost, f"{where}: declared.cost")
            for m in [cost.proxy, cost.full, *cost.targets]:
                if methods is not None and m not in methods:
                    raise MpqlabError(f"{where}: declared.cost names {m!r}, not one of the grid's methods")
            if cost.full not in cost.targets:
                raise MpqlabError(f"{where}: declared.cost.full must be one of its targets")
        seq = declared.pop("sequential", None)
        if seq is not None:
            seq = _build(SequentialPlan, seq, f"{where}: declared.sequential")
            looks = seq.looks
            if not looks or not all(isinstance(n, int) and n >= 2 for n in looks) or looks != sorted(set(looks)):
                raise MpqlabError(f"{where}: declared.sequential.looks must be increasing whole numbers >= 2, "
                                  f"got {looks!r}")
        declared = _build(DeclaredTest, dict(declared, sequential=seq, correlation=corr, cost=cost),
                          f"{where}: declared")
        if (declared.correlation is None and declared.cost is None) or declared.primary:
            _pair(declared.primary, f"{where}: declared.primary", methods)
        if declared.control:
            _pair(declared.control, f"{where}: declared.control", methods)
    for i, pair in enumerate(d.get("comparisons") or []):
        _pair(pair, f"{where}: comparisons[{i}]", methods)
    return _build(ReportOptions, dict(d, declared=declared), where)
