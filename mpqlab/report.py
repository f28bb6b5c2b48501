"""The Markdown report of an experiment grid: per-method summary, validity gates, pre-declared paired comparisons
with Holm correction, and a verdict per claim. Plain rows (dicts, as in ``results.csv``) in, text out.

Gates (printed above the comparisons; any failed gate turns every verdict into "cannot answer"):

1. **search matters**: the reference (EdMIPS on the full target set) beats uniform-at-budget by at least
   ``gate_margin`` points (default 1.0), paired by seed, paired-t p < 0.05;
2. **searches decide**: over the gradient-search cells, the median of the median largest bit probability is at least
   0.6 and the median number of layers the budget step changed is at most 3;
3. **the radius adapts**: in the ASGA cells the median share of steps with rho at a bound is below 0.5.

Comparisons are pre-declared (config ``comparisons``: ``[[A, B], ...]``, default: EdMIPS+ASGA against the reference,
EdMIPS and EdMIPS+SAM, and every method against uniform), paired by seed within a setting and budget (the reference
cells are shared by the settings), one Holm family per budget. The primary test is the paired t-test **[choice]**:
with 8 seeds the exact sign-flip test cannot go below 2/256, which Holm over six or more comparisons needs; its
p-value is printed beside as a check that does not assume normal differences.
"""
from __future__ import annotations

import math
import os
import platform
import statistics
import time

from . import __version__
from .registry import REFERENCE, SHARED, is_null, is_uniform
from .stats import (bootstrap_ci, detectable_effect, discordant_pairs, holm, kendall_tau, paired, paired_power,
                    paired_test, pairs_for_power, spearman, verdict)

SHARPNESS = {"proxy_h": "surrogate gap h(0.05)", "proxy_sigma_max": "σ_max", "proxy_trace": "Hessian trace"}

DEFAULT_COMPARISONS = [["edmips+asga", REFERENCE], ["edmips+asga", "edmips"], ["edmips+asga", "edmips+sam"]]


def _num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _ms(vals):
    vals = [v for v in (_num(x) for x in vals) if v is not None]
    if not vals:
        return float("nan"), float("nan"), 0
    m = sum(vals) / len(vals)
    s = statistics.stdev(vals) if len(vals) > 1 else float("nan")
    return m, s, len(vals)


def _ci(lo, hi) -> str:
    return "n/a" if math.isnan(lo) or math.isnan(hi) else f"[{lo:+.2f}, {hi:+.2f}]"


def _fmt(m, s, digits=2):
    if math.isnan(m):
        return "n/a"
    return f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"


def _bits(row) -> list[tuple[int, int]]:
    """A row's searchable layers as (weight bits, activation bits), from its ``policy_bits`` ("w/a w/a ...")."""
    return [tuple(int(b) for b in t.split("/")) for t in str(row.get("policy_bits") or "").split()]


def _lowest_bit_layers(rs: list[dict], lowest: int | None) -> str:
    """Mean over ``rs`` of how many layers carry the grid's lowest bitwidth in their weights / activations."""
    per = [_bits(r) for r in rs]
    per = [b for b in per if b]
    if lowest is None or not per:
        return "n/a"
    w = sum(sum(wb == lowest for wb, _ in b) for b in per) / len(per)
    a = sum(sum(ab == lowest for _, ab in b) for b in per) / len(per)
    return f"{w:.1f} / {a:.1f}"


def _by_seed(rows, setting, method, budget):
    """{seed: target top-1} of one method; reference and shared null cells match any setting."""
    return {int(r["seed"]): float(r["target_top1"]) for r in rows
            if r["method"] == method and float(r["budget"]) == budget
            and (method == REFERENCE or r["setting"] in (setting, SHARED))}


def comparisons(rows: list[dict], cfg: dict) -> list[dict]:
    """Every pre-declared comparison present in ``rows``: effect (A - B, points), 95 % CI, p (t, sign-flip),
    Holm-adjusted p within its budget, verdict."""
    methods = {r["method"] for r in rows}
    pairs = cfg.get("comparisons") or (DEFAULT_COMPARISONS + [[m, "uniform"] for m in cfg.get("methods", [])
                                                               if m != "uniform"])
    settings = sorted({r["setting"] for r in rows if r["method"] != REFERENCE and r["setting"] != SHARED}) or [SHARED]
    out = []
    for budget in sorted({float(r["budget"]) for r in rows}):
        family = []
        for setting in settings:
            for a, b in pairs:
                if a not in methods or b not in methods:
                    continue
                if a == REFERENCE and is_null(b) and setting != settings[0]:
                    continue  # a reference-vs-baseline pair does not depend on the setting: count it once
                seeds, d = paired(_by_seed(rows, setting, a, budget), _by_seed(rows, setting, b, budget))
                if not seeds:
                    continue
                t = paired_test(d)
                family.append(dict(t, budget=budget, setting="all" if a == REFERENCE and is_null(b) else setting,
                                   a=a, b=b, seeds=seeds))
        for c, p in zip(family, holm([c["p_t"] for c in family])):
            c["p_holm"] = p
            c["verdict"] = verdict(c["mean"], p)
        out += family
    return out


def gates(rows: list[dict], cfg: dict, comps: list[dict]) -> list[dict]:
    """The validity gates: name, passed (True / False / None when not measurable), what was measured."""
    margin = float(cfg.get("gate_margin", 1.0))
    out = []
    ref_u = [c for c in comps if c["a"] == REFERENCE and is_uniform(c["b"])]
    if ref_u:  # against every uniform baseline the grid has: the strongest one decides
        ok = all(c["mean"] >= margin and c["p_t"] < 0.05 for c in ref_u)
        what = "; ".join(f"vs {c['b']} at budget {c['budget']:g}: {c['mean']:+.2f} points "
                         f"{_ci(c['ci_low'], c['ci_high'])}, p = {c['p_t']:.3g}, {c['n']} seeds" for c in ref_u)
        out.append({"gate": f"search matters: reference - every uniform baseline >= {margin:g} points, paired p < 0.05",
                    "passed": ok, "measured": what})
    elif (cfg.get("declared") or {}).get("control"):  # a grid without a reference: its declared positive control
        a, b = cfg["declared"]["control"]
        cs = [c for c in comps if (c["a"], c["b"]) == (a, b)]
        ok = bool(cs) and all(c["mean"] >= margin and c["p_t"] < 0.05 for c in cs)
        what = "; ".join(f"{c['setting']} at budget {c['budget']:g}: {c['mean']:+.2f} points "
                         f"{_ci(c['ci_low'], c['ci_high'])}, p = {c['p_t']:.3g}, {c['n']} seeds" for c in cs)
        out.append({"gate": f"the test separates (declared positive control): {a} - {b} >= {margin:g} points, "
                            "paired p < 0.05", "passed": ok if cs else None, "measured": what or "no control cells"})
    else:
        out.append({"gate": "search matters", "passed": None, "measured": "needs reference and uniform cells"})
    searched = [r for r in rows if not is_null(r["method"]) and not r["method"].startswith("hawq")]
    dec = [v for v in (_num(r.get("decisiveness")) for r in searched) if v is not None]
    chg = [v for v in (_num(r.get("layers_changed_by_budget")) for r in searched) if v is not None]
    if dec and chg:
        ok = statistics.median(dec) >= 0.6 and statistics.median(chg) <= 3
        out.append({"gate": "searches decide: median largest bit probability >= 0.6, median layers changed <= 3",
                    "passed": ok, "measured": f"largest probability median {statistics.median(dec):.2f} "
                    f"(min {min(dec):.2f}); layers changed median {statistics.median(chg):g} (max {max(chg):g}), "
                    f"{len(dec)} searches"})
    else:
        out.append({"gate": "searches decide", "passed": None, "measured": "no search cell reports it"})
    asga = [v for v in (_num(r.get("rho_at_bound_share")) for r in rows if r["method"].endswith("+asga"))
            if v is not None]
    if asga:
        med = statistics.median(asga)
        out.append({"gate": "radius adapts: median share of ASGA steps with rho at a bound < 0.5", "passed": med < 0.5,
                    "measured": f"median {med:.2f} (max {max(asga):.2f}), {len(asga)} searches"})
    else:
        out.append({"gate": "radius adapts", "passed": None, "measured": "no ASGA cell reports it"})
    return out


def claims(comps: list[dict], rows: list[dict], cfg: dict, gates_ok: bool,
           cost_rows: list[dict] | None = None, withheld: str = "a validity gate failed") -> list[dict]:
    """A plain verdict per claim of the paper: supported / not supported / cannot tell. The search-cost ratio is read
    from ``cost_rows`` when given (with ``policies_from``: the source grid's rows, where the proxy searches and the
    reference ran in one run; here the reused policies carry search times measured in another run)."""
    m = float(cfg.get("equivalence_margin", 0.5))
    out = []
    for c in comps:
        if c["a"] != "edmips+asga" or c["b"] not in (REFERENCE, "edmips"):
            continue
        if c["b"] == REFERENCE:
            ratio = [_num(r.get("search_cost_ratio")) for r in (cost_rows or rows) if r["method"] == "edmips+asga"
                     and r["setting"] == c["setting"] and float(r["budget"]) == c["budget"]]
            ratio = [x for x in ratio if x is not None]
            cost = sum(ratio) / len(ratio) if ratio else float("nan")
            source = cfg.get("policies_from", "the source grid")
            where = f" in {source}'s run, where both were searched" if cost_rows else ""
            claim = (f"proxy search ({c['setting']}) matches the target search (not worse by more than {m:g} "
                     f"points) at a fraction of its cost ({cost:.2f}x{where})")
            if c["ci_low"] > -m and cost < 1:
                word = "supported"
            elif c["verdict"] == "worse" and c["ci_low"] <= -m:
                word = "not supported"
            else:
                word = "cannot tell"
        else:
            claim = f"ASGA improves its base, EdMIPS ({c['setting']})"
            if c["verdict"] == "better":
                word = "supported"
            elif c["verdict"] == "worse" or (c["ci_low"] > -m and c["ci_high"] < m):
                word = "not supported"
            else:
                word = "cannot tell"
        out.append({"claim": claim, "budget": c["budget"],
                    "verdict": word if gates_ok else f"cannot answer ({withheld})",
                    "evidence": f"{c['mean']:+.2f} points {_ci(c['ci_low'], c['ci_high'])}, "
                                f"Holm p = {c['p_holm']:.3g}"})
    return out


def fig1_points(rows: list[dict]) -> list[dict]:
    """Fig. 1's points: every searched or random policy with proxy-side sharpness, and its target penalty = its
    target top-1 minus the same seed's (and budget's) reference top-1. Uniform baselines are left out: they are
    one policy repeated over seeds, so they would enter the correlation as several copies of the same point."""
    ref = {(int(r["seed"]), float(r["budget"])): float(r["target_top1"]) for r in rows if r["method"] == REFERENCE}
    out = []
    for r in rows:
        key = (int(r["seed"]), float(r["budget"]))
        if (r["method"] == REFERENCE or is_uniform(r["method"]) or key not in ref
                or _num(r.get("proxy_h")) is None):
            continue
        out.append({"method": r["method"], "setting": r["setting"], "seed": key[0], "budget": key[1],
                    "penalty": float(r["target_top1"]) - ref[key],
                    **{k: _num(r.get(k)) for k in SHARPNESS}})
    return out


def fig1_correlations(points: list[dict], seed: int = 0) -> list[dict]:
    """Spearman correlation of each proxy-side sharpness with the target penalty, with a 95 % bootstrap CI."""
    out = []
    for key, label in SHARPNESS.items():
        pts = [p for p in points if p[key] is not None]
        x, y = [p[key] for p in pts], [p["penalty"] for p in pts]
        lo, hi = bootstrap_ci(spearman, x, y, seed=seed) if len(pts) >= 3 else (float("nan"), float("nan"))
        out.append({"measure": key, "label": label, "n": len(pts), "spearman": spearman(x, y), "ci_low": lo,
                    "ci_high": hi})
    return out


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


def ranking_check(rows: list[dict], source_rows: list[dict]) -> list[dict]:
    """The same cells scored twice (here and in the ``policies_from`` grid, which differ in the transfer, and in the
    reference's policy when the target checkpoint changed):
    per budget, setting and seed, and on the seed means, the methods' order by target top-1 in each, Kendall's
    tau and the method pairs the two order differently, with their top-1 in both. The seed means use only the
    seeds on which both grids have every method."""
    def scores(rs, budget, setting, seed=None):
        out: dict[str, list[float]] = {}
        for r in rs:
            if float(r["budget"]) == budget and (seed is None or int(r["seed"]) == seed) and (
                    r["method"] == REFERENCE or r["setting"] == setting):
                out.setdefault(r["method"], []).append(float(r["target_top1"]))
        return {m: sum(v) / len(v) for m, v in out.items()}

    out = []
    settings = sorted({r["setting"] for r in rows if r["method"] != REFERENCE})
    for budget in sorted({float(r["budget"]) for r in rows}):
        for setting in settings:
            seeds = sorted({int(r["seed"]) for r in rows} & {int(r["seed"]) for r in source_rows})
            methods = set(scores(rows, budget, setting)) | set(scores(source_rows, budget, setting))
            # the seed means use only the seeds on which both grids have every method: an unfinished cell would
            # otherwise leave one method's mean over other seeds than the rest
            full = [s for s in seeds if set(scores(rows, budget, setting, s)) == methods
                    and set(scores(source_rows, budget, setting, s)) == methods]
            for seed in seeds + [None]:
                if seed is None:
                    a = scores([r for r in rows if int(r["seed"]) in full], budget, setting)
                    b = scores([r for r in source_rows if int(r["seed"]) in full], budget, setting)
                else:
                    a, b = scores(rows, budget, setting, seed), scores(source_rows, budget, setting, seed)
                n, swapped = discordant_pairs(a, b)
                if not n:
                    continue
                out.append({"budget": budget, "setting": setting, "seed": seed, "here": a, "there": b,
                            "tau": kendall_tau(a, b), "pairs": n, "swapped": swapped})
    return out


def _ranking_lines(checks: list[dict], cfg: dict) -> list[str]:
    order = lambda s: " > ".join(m for m in sorted(s, key=lambda m: -s[m]))  # noqa: E731
    lines = ["", f"## Ranking check: this grid against {cfg['policies_from']} (the same cells; a policy is reused "
             "when its search started from the same checkpoint, else searched again)", "",
             "| budget | setting | seed | order here (best first) | order there | Kendall τ | pairs ordered differently |",
             "|---|---|---|---|---|---|---|"]
    for c in checks:
        sw = "; ".join(f"{i} vs {j} ({c['here'][i] - c['here'][j]:+.2f} here, {c['there'][i] - c['there'][j]:+.2f} "
                       "there)" for i, j in c["swapped"]) or "none"
        lines.append(f"| {c['budget']:g} | {c['setting']} | {'mean' if c['seed'] is None else c['seed']} | "
                     f"{order(c['here'])} | {order(c['there'])} | {c['tau']:+.2f} | {len(c['swapped'])} of "
                     f"{c['pairs']}: {sw} |")
    per_seed = [c for c in checks if c["seed"] is not None]
    same = [c for c in per_seed if not c["swapped"]]
    lines += ["", f"Same order on {len(same)} of {len(per_seed)} seeds; "
              f"{sum(len(c['swapped']) for c in per_seed)} of {sum(c['pairs'] for c in per_seed)} method pairs "
              "ordered differently over all seeds."]
    return lines


def cell_agreement(rows: list[dict], other_rows: list[dict]) -> dict:
    """Each cell against the same cell (setting, method, budget, seed) of another grid: searchable layers with the
    same (w, a) bits, target top-1 in both, search CPU in both; and the paired difference of top-1 over cells."""
    key = lambda r: (r["setting"], r["method"], float(r["budget"]), int(r["seed"]))  # noqa: E731
    there = {key(r): r for r in other_rows}
    cells = []
    for r in rows:
        o = there.get(key(r))
        if o is None:
            continue
        a, b = str(r.get("policy_bits", "")).split(), str(o.get("policy_bits", "")).split()
        cells.append({"setting": r["setting"], "method": r["method"], "budget": float(r["budget"]),
                      "seed": int(r["seed"]), "layers": len(a), "same": sum(x == y for x, y in zip(a, b)),
                      "top1_here": float(r["target_top1"]), "top1_there": float(o["target_top1"]),
                      "cpu_here": _num(r.get("search_cpu_time_s")), "cpu_there": _num(o.get("search_cpu_time_s"))})
    diffs = [c["top1_here"] - c["top1_there"] for c in cells]
    return {"cells": cells, "diffs": diffs, "test": paired_test(diffs) if len(diffs) >= 2 else None}


def _agreement_lines(agree: dict, cfg: dict) -> list[str]:
    lines = ["", f"## Against {cfg['compare_with']} (the same cells there)", "",
             "| setting | method | seed | layers with the same bits | top-1 here | top-1 there | here − there | "
             "search CPU here / there |", "|---|---|---|---|---|---|---|---|"]
    for c in agree["cells"]:
        cpu = (f"{c['cpu_here']:.0f} / {c['cpu_there']:.0f} s ({c['cpu_here'] / c['cpu_there']:.2f}x)"
               if c["cpu_here"] and c["cpu_there"] else "n/a")
        lines.append(f"| {c['setting']} | {c['method']} | {c['seed']} | {c['same']} of {c['layers']} | "
                     f"{c['top1_here']:.2f} | {c['top1_there']:.2f} | {c['top1_here'] - c['top1_there']:+.2f} | {cpu} |")
    t = agree["test"]
    if t is not None:
        same = sum(c["same"] for c in agree["cells"])
        total = sum(c["layers"] for c in agree["cells"])
        lines += ["", f"Over {t['n']} cells: {same} of {total} layers ({100 * same / max(total, 1):.0f} %) with the same "
                  f"bits; top-1 here − there {t['mean']:+.2f} points {_ci(t['ci_low'], t['ci_high'])}, paired t "
                  f"p = {t['p_t']:.3g}.", "", equivalence_verdict(agree["diffs"], float(cfg.get("equivalence_margin", 0.5)))]
    return lines


def equivalence_verdict(diffs: list[float], margin: float) -> str:
    """Whether two variants agree within ``±margin`` points, by two one-sided tests at 5 % (the 90 % CI of the
    paired mean inside the margin), and whether they differ at all (the 95 % CI excludes 0)."""
    t90, t95 = paired_test(diffs, level=0.90), paired_test(diffs)
    if len(diffs) < 2:
        return "Equivalence: cannot tell (fewer than 2 paired cells)."
    inside = -margin < t90["ci_low"] and t90["ci_high"] < margin
    differ = t95["ci_high"] < 0 or t95["ci_low"] > 0
    word = ("**equivalent** within ±{m:g} points" if inside else
            "**not equivalent**: " + ("they differ (95 % CI excludes 0)" if differ else
                                      "equivalence within ±{m:g} points not shown"))
    return (f"Equivalence (two one-sided tests, margin ±{margin:g} points): 90 % CI {_ci(t90['ci_low'], t90['ci_high'])}; "
            + word.format(m=margin) + ".")


def declared_test(rows: list[dict], cfg: dict, gates_ok: bool, complete: bool) -> list[str]:
    """The report of a grid's pre-declared primary test (config ``declared``: ``primary`` [A, B], ``setting``,
    ``effect`` of interest in points, ``alpha``, ``power``, ``assumed_sd`` and where it came from): the planned
    sample and its power calculation, the effect with its interval, the verdict by the declared rule, and the power
    the finished sample reached at the observed spread. Rule: A improves B when the CI lies above 0; A does not
    improve B by ``effect`` or more when the CI lies below ``effect``; otherwise undecided at this power."""
    d = cfg["declared"]
    a, b = d["primary"]
    eff, alpha, power, sd0 = float(d["effect"]), float(d.get("alpha", 0.05)), float(d.get("power", 0.8)), float(d["assumed_sd"])
    budget = float(cfg["budgets"][0])
    seeds, diffs = paired(_by_seed(rows, d["setting"], a, budget), _by_seed(rows, d["setting"], b, budget))
    planned = len(cfg["seeds"])
    lines = ["", "## Pre-declared primary test", "", f"Written in the config before any cell ran: {d['question']}", "",
             f"- Arms: {a} vs {b} ({d['setting']}, budget {budget:g}), paired by seed; two-sided paired t at "
             f"{alpha:g}, no other comparison in its family.",
             f"- Power calculation: with a paired sd of {sd0:g} points ({d['assumed_sd_source']}), "
             f"{pairs_for_power(sd0, eff, power, alpha)} seeds give {power:.0%} power at {eff:g} points; planned: "
             f"{planned} seeds.",
             f"- Rule: '{a} improves {b}' if the 95 % CI lies above 0; '{a} does not improve {b} by {eff:g} points "
             f"or more' if it lies below {eff:g}; otherwise undecided at the power reached."]
    if len(diffs) < 2:
        return lines + ["", "No paired seeds yet."]
    t = paired_test(diffs)
    sd = t["sd"]
    complete = complete and len(seeds) >= planned
    if not (gates_ok and complete):
        word = "cannot answer (" + ("a validity gate failed" if complete else
                                    f"{len(seeds)} of {planned} planned seeds finished") + ")"
    elif t["ci_low"] > 0:
        word = f"{a} improves {b}"
    elif t["ci_high"] < eff:
        word = f"{a} does not improve {b} by {eff:g} points or more"
    else:
        word = "undecided at the power reached"
    lines += ["", f"Result: {a} − {b} = {t['mean']:+.2f} points {_ci(t['ci_low'], t['ci_high'])}, paired t p = "
              f"{t['p_t']:.3g}, sign-flip p = {t['p_sign_flip']:.3g}, {len(seeds)} seeds; observed paired sd "
              f"{sd:.2f}.", "",
              f"Verdict: **{word}**.", "",
              f"Power reached: at the observed sd, {len(seeds)} seeds detect {eff:g} points with power "
              f"{paired_power(sd, eff, len(seeds), alpha):.2f}; the effect detectable with {power:.0%} power is "
              f"{detectable_effect(sd, len(seeds), power, alpha):.2f} points (planned at sd {sd0:g}: power "
              f"{paired_power(sd0, eff, planned, alpha):.2f})."]
    return lines


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a report (up to the next ``## ``), stripped; "" when absent."""
    body, inside = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip() == heading
        elif inside:
            body.append(line)
    return "\n".join(body).strip()


PARTIAL = "**PARTIAL:"  # how a half-run grid's report opens: :func:`mpqlab.notebooks.committed_grid` looks for it


def _partial_lines(done: int, expected: int | None) -> list[str]:
    """The warning a half-run grid's report opens with (nothing when it is complete or its size is unknown)."""
    if expected is None or done >= expected:
        return []
    return [f"{PARTIAL} {done} of {expected} cells finished. Rerun the grid's command to finish it; until then "
            "this report is provisional and gives no verdicts.**", ""]


def markdown(rows: list[dict], cfg: dict, source_rows: list[dict] | None = None,
             cells_expected: int | None = None) -> str:
    """The whole report (with ``source_rows``, the same cells of the ``policies_from`` grid: a ranking check; or of
    the ``compare_with`` grid: a cell-by-cell comparison). ``cells_expected``: how many cells the grid has; when
    fewer rows have come back the report says so at its top and withholds every verdict (a half-run grid's
    seeds are not the pre-declared sample)."""
    lines = [f"# {cfg['name']}", "",
             f"mpqlab {__version__}, {platform.machine()} {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}. Target: {cfg['target']['data']}, model {cfg['model']}. "
             "Target top-1 after fine-tuning, mean ± sd over seeds.", "",
             *_partial_lines(len(rows), cells_expected),
             "| setting | budget | method | seeds | target top-1 (%) | avg bits | search CPU (s) | search cost vs reference "
             "| layers at lowest W / A bits | largest bit prob. | layers changed by budget | rho at a bound | proxy→target gap "
             "| target h(0.05) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if cfg.get("policies_from"):
        lines[3:3] = ["", f"Policies reused from {cfg['policies_from']} carry the search CPU time measured in that grid's "
                      "run, a search run again here (e.g. a reference searched from another checkpoint) is timed in this "
                      "one: where both kinds meet, the table's 'search cost vs reference' compares two runs, possibly "
                      "on different machines. The claim below takes the ratio from the source grid, where both were "
                      "searched."]
    lowest = min((min(w, a) for r in rows for w, a in _bits(r)), default=None)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["setting"], float(r["budget"]), r["method"]), []).append(r)
    for (setting, budget, method), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "reference", kv[0])):
        ratio = _ms([r.get("search_cost_ratio") for r in rs])[0]
        lines.append("| " + " | ".join([
            setting, f"{budget:g}", method, str(len(rs)), _fmt(*_ms([r["target_top1"] for r in rs])[:2]),
            _fmt(*_ms([r["average_bits"] for r in rs])[:2]),
            _fmt(*_ms([r.get("search_cpu_time_s") for r in rs])[:2], 0),
            "n/a" if math.isnan(ratio) else f"{ratio:.2f}x", _lowest_bit_layers(rs, lowest),
            _fmt(*_ms([r.get("decisiveness") for r in rs])[:2]),
            _fmt(*_ms([r.get("layers_changed_by_budget") for r in rs])[:2], 1),
            _fmt(*_ms([r.get("rho_at_bound_share") for r in rs])[:2]),
            _fmt(*_ms([r.get("gap") for r in rs])[:2]), _fmt(*_ms([r.get("target_surrogate_gap") for r in rs])[:2], 4)]) + " |")
    comps = comparisons(rows, cfg)
    gs = gates(rows, cfg, comps)
    complete = cells_expected is None or len(rows) >= cells_expected
    ok = all(g["passed"] for g in gs) and complete
    lines += ["", "## Validity gates", ""]
    for g in gs:
        mark = {True: "PASS", False: "FAIL", None: "NOT MEASURED"}[g["passed"]]
        lines.append(f"- **{mark}** {g['gate']}: {g['measured']}")
    lines += ["", ("All gates pass: the comparisons below can answer the question." if ok else
                   "**A gate failed or was not measured: this grid cannot answer the paper's question; the effects "
                   "below are printed for the record, without verdicts.**" if complete else
                   "**The grid is incomplete: the gates and effects below are provisional and printed without "
                   "verdicts.**"),
              "", "## Pre-declared comparisons (paired by seed; Holm over each budget's family)", "",
              "| budget | setting | A | B | seeds | A − B (points) | 95 % CI | p (paired t) | p (sign-flip) | "
              "p (Holm) | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in comps:
        ci = _ci(c["ci_low"], c["ci_high"])
        lines.append(f"| {c['budget']:g} | {c['setting']} | {c['a']} | {c['b']} | {c['n']} | {c['mean']:+.2f} | {ci} | "
                     f"{c['p_t']:.3g} | {c['p_sign_flip']:.3g} | {c['p_holm']:.3g} | "
                     f"{c['verdict'] if ok else '—'} |")
    reused = bool(cfg.get("policies_from")) and bool(source_rows)
    withheld = "a validity gate failed" if complete else "the grid is incomplete"
    cl = claims(comps, rows, cfg, ok, cost_rows=source_rows if reused else None, withheld=withheld)
    corr = fig1_correlations(fig1_points(rows))
    if cl or corr[0]["n"]:
        lines += ["", "## Claims", ""]
        lines += [f"- {c['claim']}, budget {c['budget']:g}: **{c['verdict']}** ({c['evidence']})" for c in cl]
    if corr[0]["n"]:
        c0 = corr[0]
        lines.append(f"- sharper proxy landscapes transfer worse (Spearman of proxy-side {c0['label']} with the target "
                     f"penalty, {c0['n']} policies): **{sharpness_claim(c0, ok, withheld=withheld)}** ({c0['spearman']:+.2f} "
                     f"{_ci(c0['ci_low'], c0['ci_high'])})")
        searched = fig1_correlations([p for p in fig1_points(rows) if not is_null(p["method"])])
        lines += ["", "## Fig. 1: proxy-side sharpness vs target penalty (target top-1 − same seed's reference)", "",
                  "| policies | sharpness measure | n | Spearman | 95 % bootstrap CI |", "|---|---|---|---|---|"]
        for who, cs in (("searched + random (primary)", corr), ("searched only", searched)):
            lines += [f"| {who} | {c['label']} | {c['n']} | {c['spearman']:+.3f} | {_ci(c['ci_low'], c['ci_high'])} |"
                      for c in cs if c["n"]]
    if cfg.get("declared", {}).get("primary"):
        lines += declared_test(rows, cfg, all(g["passed"] for g in gs), complete)
    if source_rows and cfg.get("policies_from"):
        lines += _ranking_lines(ranking_check(rows, source_rows), cfg)
    if source_rows and cfg.get("compare_with"):
        lines += _agreement_lines(cell_agreement(rows, source_rows), cfg)
    return "\n".join(lines) + "\n"
