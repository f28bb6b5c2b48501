"""The report of a pre-declared cost test (config ``declared.cost``, :class:`~mpqlab.experiments.report.options.CostPlan`):
does one proxy search reach a full target search's top-1 at a fraction of its cost?

One search against one search, paired by seed: the proxy arm's top-1 minus each target arm's (target searches on
growing target subsets, up to the full training set), and the proxy search's CPU time over each target search's,
with the CPU per image-epoch beside it. Rule: **supported** when the 95 % interval of proxy − full lies above
−margin and the proxy search costs less than the full target search on every seed; **not supported** when the
interval lies below −margin or the proxy search is not cheaper on any seed; otherwise cannot tell at this sample.
"""
from __future__ import annotations

import statistics

from ..stats import paired, paired_test
from .format import _by_seed, _ci, _num
from .options import report_options


def _cpu(rows: list[dict], method: str, budget: float) -> dict[int, float]:
    return {int(r["seed"]): _num(r.get("search_cpu_time_s")) for r in rows
            if r["method"] == method and float(r["budget"]) == budget and _num(r.get("search_cpu_time_s"))}


def _per_image_epoch(rows: list[dict], method: str, budget: float, epochs: float) -> float | None:
    vals = [_num(r["search_cpu_time_s"]) / (_num(r["proxy_size"]) * epochs) for r in rows
            if r["method"] == method and float(r["budget"]) == budget and _num(r.get("proxy_size"))
            and _num(r.get("search_cpu_time_s"))]
    return statistics.median(vals) if vals else None


def _setting(rows: list[dict], method: str) -> str:
    return next((r["setting"] for r in rows if r["method"] == method), "")


def cost_test(rows: list[dict], cfg: dict, gates_ok: bool, complete: bool, answer: dict | None = None) -> list[str]:
    """Markdown lines of the declared cost test; ``answer`` receives the verdict and the proxy − full effect."""
    answer = {} if answer is None else answer
    d = report_options(cfg).declared
    c = d.cost
    budget = float(cfg["budgets"][0])
    epochs = float((cfg.get("search") or {}).get("epochs", 1))
    lines = ["", "## Pre-declared cost test", "", f"Written in the config before any cell ran: {d.question}", "",
             f"- Arms: one {c.proxy} search against one target search each of {', '.join(c.targets)}, paired by "
             f"seed; the full target search is {c.full}.",
             f"- Rule: supported when the 95 % interval of {c.proxy} − {c.full} lies above −{c.margin:g} points and "
             "the proxy search's CPU is below the full target search's on every seed; not supported when the "
             f"interval lies below −{c.margin:g} or the proxy search is cheaper on no seed; else cannot tell.", "",
             "| target arm | pairs | proxy − target top-1 (points) | 95 % CI | proxy CPU / target CPU (median, range) "
             "| target CPU per image-epoch (ms) |", "|---|---|---|---|---|---|"]
    prox = _by_seed(rows, _setting(rows, c.proxy), c.proxy, budget)
    pcpu = _cpu(rows, c.proxy, budget)
    full = None
    for t in c.targets:
        seeds, diffs = paired(prox, _by_seed(rows, _setting(rows, t), t, budget))
        tcpu = _cpu(rows, t, budget)
        ratios = [pcpu[s] / tcpu[s] for s in seeds if s in pcpu and s in tcpu]
        per = _per_image_epoch(rows, t, budget, epochs)
        if len(diffs) >= 2:
            tt = paired_test(diffs)
            lines.append(f"| {t} | {len(diffs)} | {tt['mean']:+.2f} | {_ci(tt['ci_low'], tt['ci_high'])} | "
                         f"{statistics.median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}) | "
                         f"{'' if per is None else f'{1000 * per:.2f}'} |")
            if t == c.full:
                full = (tt, ratios, len(diffs))
        else:
            lines.append(f"| {t} | {len(diffs)} | — | — | — | — |")
    per = _per_image_epoch(rows, c.proxy, budget, epochs)
    lines += ["", f"The proxy search's CPU per image-epoch: {'' if per is None else f'{1000 * per:.2f} ms'} (an "
                  "ASGA step is two passes)."]
    if full is None:
        answer.update(verdict="cannot answer yet (fewer than 2 seeds with both arms)", pairs=0)
        return lines + ["", "Verdict: **cannot answer yet** (fewer than 2 seeds with both arms)."]
    tt, ratios, n = full
    if not complete:
        word = "cannot answer yet (the grid is incomplete)"
    elif not gates_ok:
        word = "cannot answer (a validity gate failed)"
    elif tt["ci_low"] > -c.margin and max(ratios) < 1:
        word = (f"supported: not worse than the full target search by more than {c.margin:g} points, at "
                f"{statistics.median(ratios):.2f}x its CPU")
    elif tt["ci_high"] < -c.margin:
        word = f"not supported: worse than the full target search by more than {c.margin:g} points"
    elif min(ratios) >= 1:
        word = "not supported: the proxy search is not cheaper than the full target search"
    else:
        word = "cannot tell at this sample"
    se = tt["sd"] / n ** 0.5 if n > 1 else 0.0
    half = tt["ci_high"] - tt["mean"]
    power = None
    if se > 0:
        from scipy.stats import norm  # noqa: PLC0415 (scipy loads only where a power is computed)

        power = float(norm.cdf((c.margin - half) / se))
    answer.update(verdict=word, effect=tt["mean"], ci=(tt["ci_low"], tt["ci_high"]), interval="95 % t", pairs=n,
                  power=power)
    return lines + ["", f"Verdict: **{word}**."]
