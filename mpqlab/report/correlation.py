"""The report of a pre-declared within-seed correlation test (config ``declared.correlation``,
:class:`~mpqlab.report.options.CorrelationPlan`): a factor set on purpose (one method per level, e.g. one rule at
rising radii) must move the measured sharpness (the gate), and then each sharpness measure is tested for the
predicted sign of its correlation with the outcome.

Per seed, the Spearman correlation across the levels (every level of a seed shares its proxy subset, batch order
and fine-tune subset, so seed-to-seed differences drop out); the seeds' mean is tested by the exact sign-flip test
over seeds (no normality assumed; with 8 seeds its smallest two-sided p is 2/256), Holm over the measures. The
pooled Spearman over every policy, with a bootstrap interval, is printed beside it, not in the rule."""
from __future__ import annotations

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


def correlation_test(rows: list[dict], cfg: dict, gates_ok: bool, complete: bool) -> list[str]:
    """Markdown lines of the declared correlation test: plan, gate, per-measure result and the verdict."""
    d = report_options(cfg).declared
    c = d.correlation
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
    words = []
    for (m, per, t, pooled, ci), p_holm in zip(results, adjusted):
        if t is None:
            lines.append(f"| `{m}` | {len(per)} | n/a | | | | | |")
            continue
        lines.append(f"| `{m}` | {len(per)} | {t['mean']:+.2f} | {_ci(t['ci_low'], t['ci_high'])} | "
                     f"{t['p_sign_flip']:.3g} | {p_holm:.3g} | {pooled:+.2f} | {_ci(*ci) if ci else ''} |")
        if p_holm < d.alpha:
            words.append(f"`{m}`: {'as predicted' if sign * t['mean'] > 0 else 'against the prediction'}")
        else:
            words.append(f"`{m}`: no correlation shown")
    if not (complete and gates_ok and moved):
        why = ("not every planned cell has finished" if not complete else "a validity gate failed" if not gates_ok
               else "the factor did not move the measured sharpness")
        verdict = f"cannot answer ({why})"
    else:
        verdict = "; ".join(words)
    return lines + ["", f"Verdict by the declared rule: **{verdict}**."]
