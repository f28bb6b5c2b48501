"""Gates, pre-declared paired comparisons with Holm correction, claim verdicts, equivalence by two one-sided
tests, and a pre-declared primary test with its power."""
from __future__ import annotations

import statistics

from ...search.methods import REFERENCE, SHARED, is_null, is_uniform, parse_method
from ..stats import detectable_effect, holm, paired, paired_power, paired_test, pairs_for_power, verdict
from .format import _by_seed, _ci, _num
from .options import report_options


DEFAULT_COMPARISONS = [["edmips+asga", REFERENCE], ["edmips+asga", "edmips"], ["edmips+asga", "edmips+sam"]]


def _setting_free(method: str, cfg: dict) -> bool:
    """Whether a method's cells are shared by every proxy setting: the reference, and the null baselines of a grid
    with ``shared_nulls``."""
    return method == REFERENCE or (bool(cfg.get("shared_nulls")) and is_null(method))


def comparisons(rows: list[dict], cfg: dict) -> list[dict]:
    """Every pre-declared comparison present in ``rows``: effect (A - B, points), 95 % CI, p (t, sign-flip),
    Holm-adjusted p within its budget, verdict."""
    methods = {r["method"] for r in rows}
    pairs = report_options(cfg).comparisons or (DEFAULT_COMPARISONS + [[m, "uniform"] for m in cfg.get("methods", [])
                                                               if m != "uniform"])
    settings = sorted({r["setting"] for r in rows if r["method"] != REFERENCE and r["setting"] != SHARED}) or [SHARED]
    out = []
    for budget in sorted({float(r["budget"]) for r in rows}):
        family = []
        for setting in settings:
            for a, b in pairs:
                if a not in methods or b not in methods:
                    continue
                once = _setting_free(a, cfg) and _setting_free(b, cfg) or (a == REFERENCE and is_null(b))
                if once and setting != settings[0]:
                    continue  # a pair that does not depend on the proxy setting: count it once
                seeds, d = paired(_by_seed(rows, setting, a, budget), _by_seed(rows, setting, b, budget))
                if not seeds:
                    continue
                t = paired_test(d)
                family.append(dict(t, budget=budget, setting="all" if once else setting, a=a, b=b, seeds=seeds,
                                   diffs=d))
        for c, p in zip(family, holm([c["p_t"] for c in family])):
            c["p_holm"] = p
            c["verdict"] = verdict(c["mean"], p)
        out += family
    return out


def _rule(method: str) -> str | None:
    """A method's weight-update rule (None for a null baseline)."""
    return None if is_null(method) else parse_method(method).rule


def gates(rows: list[dict], cfg: dict, comps: list[dict]) -> list[dict]:
    """The validity gates: name, passed (True / False / None when not measurable), what was measured."""
    opts = report_options(cfg)
    margin = opts.gate_margin
    out = []
    ref_u = [c for c in comps if c["a"] == REFERENCE and is_uniform(c["b"])]
    if ref_u:  # against every uniform baseline the grid has: the strongest one decides
        ok = all(c["mean"] >= margin and c["p_t"] < 0.05 for c in ref_u)
        what = "; ".join(f"vs {c['b']} at budget {c['budget']:g}: {c['mean']:+.2f} points "
                         f"{_ci(c['ci_low'], c['ci_high'])}, p = {c['p_t']:.3g}, {c['n']} seeds" for c in ref_u)
        out.append({"gate": f"search matters: reference - every uniform baseline >= {margin:g} points, paired p < 0.05",
                    "passed": ok, "measured": what})
    elif opts.declared is not None and opts.declared.control:  # no reference: the declared positive control
        a, b = opts.declared.control
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
    asga = [v for v in (_num(r.get("rho_at_bound_share")) for r in rows if _rule(r["method"]) == "asga")
            if v is not None]
    if not any(_rule(r["method"]) == "asga" for r in rows):
        pass  # no ASGA search in the grid: the radius gate does not apply
    elif asga:
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
    m = report_options(cfg).equivalence_margin
    out = []
    selected_arms = any(c["a"] == "edmips+asga@selected" and c["b"] == REFERENCE for c in comps)
    for c in comps:
        if c["a"] == "edmips+asga@selected" and c["b"] == REFERENCE:  # selected against selected: claim 1's answer
            claim = (f"a proxy search ({c['setting']}) matches a target search, both selected alike (90 % CI of the "
                     f"difference within ±{m:g} points; the answer to claim 1, like with like)")
            e = equivalence(c["diffs"], m)
            word = "supported" if e["equivalent"] else "not supported" if e["differ"] else "cannot tell"
            side = ("; the proxy arm is higher: not worse by more than the margin, but not equivalent"
                    if c["ci_low"] > 0 else "; the proxy arm is lower" if c["ci_high"] < 0 else "")
            out.append({"claim": claim, "budget": c["budget"],
                        "verdict": word if gates_ok else f"cannot answer ({withheld})",
                        "evidence": f"{c['mean']:+.2f} points {_ci(c['ci_low'], c['ci_high'])}, "
                                    f"Holm p = {c['p_holm']:.3g}" + (side if gates_ok else "")})
            continue
        if c["a"] != "edmips+asga" or c["b"] not in (REFERENCE, "edmips"):
            continue
        if c["b"] == REFERENCE:
            ratio = [_num(r.get("search_cost_ratio")) for r in (cost_rows or rows) if r["method"] == "edmips+asga"
                     and r["setting"] == c["setting"] and float(r["budget"]) == c["budget"]]
            ratio = [x for x in ratio if x is not None]
            cost = sum(ratio) / len(ratio) if ratio else float("nan")
            source = cfg.get("policies_from", "the source grid")
            where = f" in {source}'s run, where both were searched" if cost_rows else ""
            claim = (f"proxy search ({c['setting']}) against the target search (one proxy search costs {cost:.2f}x "
                     f"one target search's CPU{where})"
                     + ("; one unselected proxy search against the selected reference, not the answer here"
                        if selected_arms else ""))
            word = "—"
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


def equivalence(diffs: list[float], margin: float) -> dict:
    """Whether two variants agree within ``±margin`` points, by two one-sided tests at 5 % (the 90 % CI of the
    paired mean inside the margin), and whether they differ at all (the 95 % CI excludes 0): {"word": the verdict in
    words (Markdown), "ci90": (low, high), "equivalent": bool or None when fewer than 2 paired cells, "differ":
    whether the 95 % CI excludes 0}."""
    if len(diffs) < 2:
        return {"word": "cannot tell (fewer than 2 paired cells)", "ci90": (float("nan"), float("nan")),
                "equivalent": None, "differ": False}
    t90, t95 = paired_test(diffs, level=0.90), paired_test(diffs)
    inside = -margin < t90["ci_low"] and t90["ci_high"] < margin
    differ = t95["ci_high"] < 0 or t95["ci_low"] > 0
    word = (f"**equivalent** within ±{margin:g} points" if inside else
            "**not equivalent**: " + (f"they differ (95 % CI {'above' if t95['ci_low'] > 0 else 'below'} 0)"
                                      if differ else f"equivalence within ±{margin:g} points not shown"))
    return {"word": word, "ci90": (t90["ci_low"], t90["ci_high"]), "equivalent": inside, "differ": differ}


def equivalence_verdict(diffs: list[float], margin: float) -> str:
    """:func:`equivalence` as the report's sentence."""
    e = equivalence(diffs, margin)
    if e["equivalent"] is None:
        return f"Equivalence: {e['word']}."
    return (f"Equivalence (two one-sided tests, margin ±{margin:g} points): 90 % CI {_ci(*e['ci90'])}; "
            f"{e['word']}.")


def declared_test(rows: list[dict], cfg: dict, gates_ok: bool, complete: bool,
                  answer: dict | None = None) -> list[str]:
    """The report of a grid's pre-declared primary test (config ``declared``: ``primary`` [A, B], ``setting``,
    ``effect`` of interest in points, ``alpha``, ``power``, ``assumed_sd`` and where it came from): the planned
    sample and its power calculation, the effect with its interval, the verdict by the declared rule, and the power
    the finished sample reached at the observed spread. Rule: A improves B when the CI lies above 0; A does not
    improve B by ``effect`` or more when the CI lies below ``effect``; otherwise undecided at this power."""
    answer = {} if answer is None else answer
    d = report_options(cfg).declared
    a, b = d.primary
    eff, alpha, power, sd0 = d.effect, d.alpha, d.power, d.assumed_sd
    budget = float(cfg["budgets"][0])
    seeds, diffs = paired(_by_seed(rows, d.setting, a, budget), _by_seed(rows, d.setting, b, budget))
    planned = len(cfg["seeds"])
    lines = ["", "## Pre-declared primary test", "", f"Written in the config before any cell ran: {d.question}", "",
             f"- Arms: {a} vs {b} ({d.setting}, budget {budget:g}), paired by seed; two-sided paired t at "
             f"{alpha:g}, no other comparison in its family.",
             f"- Power calculation: with a paired sd of {sd0:g} points ({d.assumed_sd_source}), "
             f"{pairs_for_power(sd0, eff, power, alpha)} seeds give {power:.0%} power at {eff:g} points; planned: "
             f"{planned} seeds.",
             f"- Rule: '{a} improves {b}' if the 95 % CI lies above 0; '{a} does not improve {b} by {eff:g} points "
             f"or more' if it lies below {eff:g}; otherwise undecided at the power reached."]
    if len(diffs) < 2:
        answer.update(verdict="cannot answer yet (no paired seeds)", pairs=len(diffs))
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
    answer.update(verdict=word, effect=t["mean"], ci=(t["ci_low"], t["ci_high"]), interval="95 % t",
                  pairs=len(seeds), power=paired_power(sd, eff, len(seeds), alpha))
    lines += ["", f"Result: {a} − {b} = {t['mean']:+.2f} points {_ci(t['ci_low'], t['ci_high'])}, paired t p = "
              f"{t['p_t']:.3g}, sign-flip p = {t['p_sign_flip']:.3g}, {len(seeds)} seeds; observed paired sd "
              f"{sd:.2f}.", "",
              f"Verdict: **{word}**.", "",
              f"Power reached: at the observed sd, {len(seeds)} seeds detect {eff:g} points with power "
              f"{paired_power(sd, eff, len(seeds), alpha):.2f}; the effect detectable with {power:.0%} power is "
              f"{detectable_effect(sd, len(seeds), power, alpha):.2f} points (planned at sd {sd0:g}: power "
              f"{paired_power(sd0, eff, planned, alpha):.2f})."]
    return lines
