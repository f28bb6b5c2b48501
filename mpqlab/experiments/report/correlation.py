"""The report of a pre-declared within-seed correlation test (config ``declared.correlation``,
:class:`~mpqlab.experiments.report.options.CorrelationPlan`): a factor set on purpose (one method per level, e.g. one rule at
rising radii) must move the measured sharpness (the gate), and then each sharpness measure is tested for the
predicted sign of its correlation with the outcome.

Per seed, the Spearman correlation across the levels (every level of a seed shares its proxy subset, batch order
and fine-tune subset, so seed-to-seed differences drop out); the seeds' mean is tested by the exact sign-flip test
over seeds (no normality assumed; with 8 seeds its smallest two-sided p is 2/256), Holm over the measures. The
pooled Spearman over every policy, with a bootstrap interval, is printed beside it, not in the rule."""
from __future__ import annotations

import statistics

from ..stats import bootstrap_ci, holm, paired_test, spearman
from .format import _ci, _num
from .options import report_options


def per_seed_spearman(rows: list[dict], levels: list[str], column: str | None, outcome: str) -> dict[int, float]:
    """{seed: Spearman across the levels of ``column`` (None: the level's index) with ``outcome``} for each seed
    (first budget) where every level has both numbers; a seed whose values are all tied is left out."""
    budgets = sorted({float(r["budget"]) for r in rows if r["method"] in levels and "budget" in r})
    by = {}
    for r in rows:
        if r["method"] in levels and (not budgets or float(r.get("budget", budgets[0])) == budgets[0]):
            by.setdefault(int(r["seed"]), {})[r["method"]] = r
    out = {}
    for seed, cells in sorted(by.items()):
        if set(cells) != set(levels):
            continue
        x = [float(i) if column is None else _num(cells[m].get(column)) for i, m in enumerate(levels)]
        y = [_num(cells[m].get(outcome)) for m in levels]
        if any(v is None for v in x + y) or len(set(x)) < 2 or len(set(y)) < 2:
            continue
        out[seed] = spearman(x, y)
    return out


CANDIDATE_COLUMNS = {"proxy_h": "candidates_proxy_h", "proxy_trace": "candidates_proxy_trace",
                     "target_top1": "candidates_top1"}  # a row column -> the same quantity per candidate


def candidate_values(row: dict, column: str) -> dict[int, float]:
    """``{k: value}`` of one candidate column of an @selected row (``'0:1.2 1:0.9'``); empty when not recorded."""
    text = str(row.get(CANDIDATE_COLUMNS.get(column, column)) or "").strip()
    out = {}
    for item in text.split():
        k, _, v = item.partition(":")
        out[int(k)] = float(v)
    return out


def candidate_rows(rows: list[dict], arm: str, setting: str) -> dict[int, dict]:
    """{seed: the ``arm`` row of ``setting``} at the first budget, for seeds whose candidates were transferred."""
    mine = [r for r in rows if r["method"] == arm and (not setting or r["setting"] == setting)]
    budgets = sorted({float(r["budget"]) for r in mine})
    return {int(r["seed"]): r for r in mine if float(r["budget"]) == budgets[0] and candidate_values(r, "target_top1")}


def per_seed_candidates(rows: list[dict], arm: str, setting: str, column: str, outcome: str) -> dict[int, float]:
    """{seed: Spearman of ``column`` with ``outcome`` across the candidate searches of ``arm`` in that seed}; a seed
    with a missing value or all ties is left out."""
    out = {}
    for seed, r in sorted(candidate_rows(rows, arm, setting).items()):
        x, y = candidate_values(r, column), candidate_values(r, outcome)
        ks = sorted(set(x) & set(y))
        if len(ks) < 3 or len({x[k] for k in ks}) < 2 or len({y[k] for k in ks}) < 2:
            continue
        out[seed] = spearman([x[k] for k in ks], [y[k] for k in ks])
    return out


def spread_gate(rows: list[dict], arm: str, setting: str, column: str) -> dict:
    """The gate of a candidates test: per seed the relative range (max - min) / mean of ``column`` across the
    candidates; its median over seeds, with the per-seed values."""
    spreads = {}
    for seed, r in sorted(candidate_rows(rows, arm, setting).items()):
        v = list(candidate_values(r, column).values())
        if len(v) >= 2 and statistics.mean(v) > 0:
            spreads[seed] = (max(v) - min(v)) / statistics.mean(v)
    return {"n": len(spreads), "median": statistics.median(spreads.values()) if spreads else float("nan"),
            "min": min(spreads.values(), default=float("nan")), "max": max(spreads.values(), default=float("nan"))}


def candidates_test(rows: list[dict], cfg: dict, gates_ok: bool, complete: bool,
                    answer: dict | None = None) -> list[str]:
    """Markdown lines of a declared correlation across the candidate searches of one @selected arm (claim 3 within
    seed): the gate (the candidates' sharpness differs within seed), then per measure the within-seed Spearman with
    the outcome, the seeds' mean by sign-flip, Holm over the measures; the verdict either way."""
    d = report_options(cfg).declared
    c = d.correlation
    sign = -1 if c.direction == "negative" else 1
    lines = ["", "## Pre-declared correlation test across candidate searches", "",
             f"Written in the config before any cell ran: {d.question}", "",
             f"- Arm: the candidate searches of `{c.arm}` ({d.setting}), each transferred; within a seed they differ "
             "only by their proxy subset (same recipe, checkpoint, budget and fine-tune subset).",
             f"- Gate: the median over seeds of the within-seed relative range of `{c.manipulation}` must reach "
             f"{c.min_spread:g}, or the candidates do not differ in sharpness and the test cannot answer.",
             f"- Test: within each seed, Spearman of each measure ({', '.join(f'`{m}`' for m in c.measures)}) with "
             f"`{c.outcome}` across the candidates; the seeds' mean by exact sign-flip over seeds, Holm over the "
             f"measures at {d.alpha:g}; predicted sign: {c.direction}.", ""]
    g = spread_gate(rows, c.arm, d.setting, c.manipulation)
    answer = {} if answer is None else answer
    if g["n"] < 2:
        answer.update(verdict=f"cannot answer yet ({g['n']} seeds with every candidate transferred)", pairs=g["n"])
        return lines + ["Fewer than 2 seeds have every candidate transferred yet: no gate, no verdict."]
    moved = g["median"] >= c.min_spread
    lines.append(f"Gate: median within-seed relative range of `{c.manipulation}` = {g['median']:.2f} (range "
                 f"{g['min']:.2f} to {g['max']:.2f}, {g['n']} seeds) against {c.min_spread:g}: "
                 f"**{'PASS' if moved else 'FAIL'}**.")
    lines += ["", "| measure | seeds | mean within-seed Spearman | 95 % CI | p (sign-flip) | p (Holm) |",
              "|---|---|---|---|---|---|"]
    results = []
    for m in c.measures:
        per = per_seed_candidates(rows, c.arm, d.setting, m, c.outcome)
        results.append((m, per, paired_test(list(per.values())) if len(per) >= 2 else None))
    adjusted = holm([t["p_sign_flip"] if t else 1.0 for _, _, t in results])
    cells = {m: (f"| `{m}` | {len(per)} | {t['mean']:+.2f} | {_ci(t['ci_low'], t['ci_high'])} | "
                 f"{t['p_sign_flip']:.3g} | {p:.3g} |" if t else f"| `{m}` | {len(per)} | n/a | | | |")
             for (m, per, t), p in zip(results, adjusted)}
    return _verdict(lines, results, adjusted, cells, d, complete, gates_ok, moved,
                    "the candidates' sharpness does not differ within seed", answer)


def _verdict(lines, results, adjusted, cells, d, complete, gates_ok, moved, not_moved, answer) -> list[str]:
    """The shared end of both correlation tests: each measure's table row (``cells``) and word, the verdict by
    the declared rule (withheld when incomplete, a gate failed or the manipulation did not move), the answer."""
    c = d.correlation
    sign = -1 if c.direction == "negative" else 1
    words = []
    for (m, per, t, *_), p_holm in zip(results, adjusted):
        lines.append(cells[m])
        if t is None:
            words.append(f"`{m}`: too few seeds")
        elif p_holm < d.alpha:
            words.append(f"`{m}`: {'as predicted' if sign * t['mean'] > 0 else 'against the prediction'}")
        else:
            words.append(f"`{m}`: no correlation shown")
    if not (complete and gates_ok and moved):
        why = ("not every planned cell has finished" if not complete else "a validity gate failed" if not gates_ok
               else not_moved)
        verdict = f"cannot answer ({why})"
    else:
        verdict = "; ".join(words)
    first = next(((per, t) for _, per, t, *_ in results if t is not None), None)
    if first is not None:
        answer.update(effect=first[1]["mean"], ci=(first[1]["ci_low"], first[1]["ci_high"]),
                      interval=f"95 % t, Spearman of {c.measures[0]}", pairs=len(first[0]))
    answer.update(verdict=verdict, power=None)
    return lines + ["", f"Verdict by the declared rule: **{verdict}**."]


def correlation_test(rows: list[dict], cfg: dict, gates_ok: bool, complete: bool,
                     answer: dict | None = None) -> list[str]:
    """Markdown lines of the declared correlation test: plan, gate, per-measure result and the verdict; ``answer``
    (when given) receives the verdict and the first measure's mean within-seed Spearman with its interval."""
    d = report_options(cfg).declared
    c = d.correlation
    if c.across == "candidates":
        return candidates_test(rows, cfg, gates_ok, complete, answer)
    answer = {} if answer is None else answer
    sign = -1 if c.direction == "negative" else 1
    lines = ["", "## Pre-declared correlation test", "", f"Written in the config before any cell ran: {d.question}", "",
             f"- Levels (the factor set on purpose, in order): {', '.join(c.levels)}.",
             f"- Gate: within each seed, Spearman of the level with `{c.manipulation}`; the seeds' mean must differ "
             f"from 0 (exact sign-flip over seeds, p < {d.alpha:g}), or the factor did not change what is measured.",
             f"- Test: within each seed, Spearman of each measure ({', '.join(f'`{m}`' for m in c.measures)}) with "
             f"`{c.outcome}` across the levels; the seeds' mean by sign-flip, Holm over the measures at {d.alpha:g}; "
             f"predicted sign: {c.direction} (sharper → {'lower' if sign < 0 else 'higher'} `{c.outcome}`).", ""]
    lev = per_seed_spearman(rows, c.levels, None, c.manipulation)  # the gate: the level against the measured column
    if len(lev) < 2:
        answer.update(verdict="cannot answer yet (no seed has every level)", pairs=len(lev))
        return lines + ["No seed has every level yet."]
    g = paired_test(list(lev.values()))
    moved = g["p_sign_flip"] < d.alpha
    lines.append(f"Gate: mean within-seed Spearman(level, `{c.manipulation}`) = {g['mean']:+.2f} "
                 f"{_ci(g['ci_low'], g['ci_high'])}, sign-flip p = {g['p_sign_flip']:.3g}, {len(lev)} seeds: "
                 f"**{'PASS' if moved else 'FAIL'}**.")
    lines += ["", "| measure | seeds | mean within-seed Spearman | 95 % CI | p (sign-flip) | p (Holm) | pooled Spearman "
                  "(all policies) | 95 % bootstrap CI |", "|---|---|---|---|---|---|---|---|"]
    results = []
    for m in c.measures:
        per = per_seed_spearman(rows, c.levels, m, c.outcome)
        t = paired_test(list(per.values())) if len(per) >= 2 else None
        pts = [(_num(r.get(m)), _num(r.get(c.outcome))) for r in rows if r["method"] in c.levels]
        pts = [(x, y) for x, y in pts if x is not None and y is not None]
        pooled = spearman(*zip(*pts)) if len(pts) >= 3 else None
        ci = bootstrap_ci(spearman, *zip(*pts)) if len(pts) >= 3 else None
        results.append((m, per, t, pooled, ci))
    adjusted = holm([t["p_sign_flip"] if t else 1.0 for _, _, t, _, _ in results])
    cells = {m: (f"| `{m}` | {len(per)} | {t['mean']:+.2f} | {_ci(t['ci_low'], t['ci_high'])} | "
                 f"{t['p_sign_flip']:.3g} | {p:.3g} | {pooled:+.2f} | {_ci(*ci) if ci else ''} |"
                 if t else f"| `{m}` | {len(per)} | n/a | | | | | |")
             for (m, per, t, pooled, ci), p in zip(results, adjusted)}
    return _verdict(lines, results, adjusted, cells, d, complete, gates_ok, moved,
                    "the factor did not move the measured sharpness", answer)
