"""Fig. 1 of the paper from a grid's rows: each searched or random policy's proxy-side sharpness against its
target penalty, the Spearman correlations with bootstrap intervals, and the sharpness claim."""
from __future__ import annotations

import math
import re

from ...search.methods import REFERENCE, is_uniform
from ..stats import bootstrap_ci, holm, spearman, spearman_permutation_p
from .format import _num, section

SHARPNESS = {"proxy_h": "surrogate gap h(0.05)", "proxy_sigma_max": "σ_max", "proxy_trace": "Hessian trace"}

def common_measures(rows: list[dict]) -> bool:
    """Whether every policy of ``rows`` with a proxy-side h also has it on the grid's common proxy (``*_common``,
    rows re-measured or made since the sampler): then Fig. 1 pools like with like."""
    pts = [r for r in rows if r["method"] != REFERENCE and not is_uniform(r["method"]) and _num(r.get("proxy_h")) is not None]
    return bool(pts) and all(_num(r.get("proxy_h_common")) is not None for r in pts)


def fig1_points(rows: list[dict]) -> list[dict]:
    """Fig. 1's points: every searched or random policy with proxy-side sharpness, and its target penalty = its
    target top-1 minus the same seed's (and budget's) reference top-1. Uniform baselines are left out: they are
    one policy repeated over seeds, so they would enter the correlation as several copies of the same point.
    Sharpness is taken on the grid's common proxy (the ``*_common`` columns: the same images and checkpoint for
    policies searched on different proxies) when every point has it, else on each policy's own proxy."""
    common = common_measures(rows)
    ref = {(int(r["seed"]), float(r["budget"])): float(r["target_top1"]) for r in rows if r["method"] == REFERENCE}
    out = []
    for r in rows:
        key = (int(r["seed"]), float(r["budget"]))
        if (r["method"] == REFERENCE or is_uniform(r["method"]) or key not in ref
                or _num(r.get("proxy_h")) is None):
            continue
        out.append({"method": r["method"], "setting": r["setting"], "seed": key[0], "budget": key[1],
                    "penalty": float(r["target_top1"]) - ref[key],
                    "measured_on": "common proxy" if common else "own proxy",
                    **{k: _num(r.get(f"{k}_common" if common else k)) for k in SHARPNESS}})
    return out


def fig1_correlations(points: list[dict], seed: int = 0) -> list[dict]:
    """Spearman correlation of each proxy-side sharpness with the target penalty, with a 95 % bootstrap CI, its
    permutation p-value, the Holm-adjusted p over the three measures (one family) and a verdict per measure."""
    out = []
    for key, label in SHARPNESS.items():
        pts = [p for p in points if p[key] is not None]
        x, y = [p[key] for p in pts], [p["penalty"] for p in pts]
        lo, hi = bootstrap_ci(spearman, x, y, seed=seed) if len(pts) >= 3 else (float("nan"), float("nan"))
        p = spearman_permutation_p(x, y, seed=seed) if len(pts) >= 3 else float("nan")
        out.append({"measure": key, "label": label, "n": len(pts), "spearman": spearman(x, y), "ci_low": lo,
                    "ci_high": hi, "p": p})
    for c, ph in zip(out, holm([c["p"] for c in out])):
        c["p_holm"] = ph
        c["verdict"] = correlation_verdict(c["spearman"], ph)
    return out


def correlation_verdict(rho: float, p_holm: float, alpha: float = 0.05) -> str:
    """The plain word for one sharpness measure after Holm's correction. The penalty is target top-1 minus the
    reference's (negative = worse), so a *negative* correlation means sharper policies lose more top-1: they
    transfer worse."""
    if math.isnan(p_holm) or math.isnan(rho):
        return "cannot tell (too few policies)"
    if p_holm >= alpha:
        return "no correlation shown"
    return "sharper transfers worse" if rho < 0 else "sharper transfers better"


def sharpness_claim(corr: dict, gates_ok: bool, min_points: int = 30, weak: float = 0.3,
                    withheld: str = "a validity gate failed") -> str:
    """'sharper proxy landscapes transfer worse' from the primary measure (h): supported when the whole CI is
    below 0; not supported when it is above 0, or when it excludes correlations stronger than -``weak``."""
    if not gates_ok:
        return f"cannot answer ({withheld})"
    if corr["n"] < min_points or math.isnan(corr["ci_low"]):
        return f"cannot tell (fewer than {min_points} policies)"
    if corr["ci_high"] < 0:
        return "supported"
    if corr["ci_low"] > 0 or corr["ci_low"] > -weak:
        return "not supported"
    return "cannot tell"


def gate_marks(report_text: str) -> list[tuple[str, str]]:
    """``(mark, gate)`` for each line of a report's "Validity gates" section: mark PASS, FAIL or NOT MEASURED,
    gate its name (the words before the first colon)."""

    out = []
    for line in section(report_text, "Validity gates").splitlines():
        m = re.match(r"- \*\*(PASS|FAIL|NOT MEASURED)\*\* ([^:]+)", line)
        if m:
            out.append((m.group(1), m.group(2).strip()))
    return out


def fig1_note(points: list[dict], marks: list[tuple[str, str]] | None = None, measure: str = "proxy_h") -> str:
    """The lines Fig. 1 carries on its face: the Spearman correlation of ``measure`` with the target penalty over
    all plotted policies and within the searched ones alone (each with its 95 % bootstrap CI and n), and the
    grid's gate status (``marks`` from :func:`gate_marks`), so the figure never shows a correlation without them."""
    def one(pts):
        c = next(c for c in fig1_correlations(pts) if c["measure"] == measure)
        if c["n"] < 3 or math.isnan(c["spearman"]):
            return f"n = {c['n']}: too few"
        return f"{c['spearman']:+.2f} [{c['ci_low']:+.2f}, {c['ci_high']:+.2f}], n = {c['n']}"

    searched = [p for p in points if p["method"] != "random"]
    lines = [f"Spearman({SHARPNESS[measure]}, penalty): all plotted {one(points)}",
             f"searched policies only: {one(searched)}"]
    if marks is not None:
        ok = bool(marks) and all(m == "PASS" for m, _ in marks)
        lines.append("gates: " + (" · ".join(f"{g} {m}" for m, g in marks) if marks else "none found")
                     + (" (verdicts allowed)" if ok else " (a gate failed: this figure tests nothing)"))
    return "<br>".join(lines)
