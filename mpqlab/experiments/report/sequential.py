"""The report of a pre-declared group-sequential paired test (config ``declared.sequential``): the plan, each
look with its bound and whether it was crossed, the verdict by the declared rule at the latest look reached, and
sign test, Wilcoxon and leave-one-out beside it (not in the rule).

Plan keys: ``looks`` (pairs at each planned look; the last one is the planned final sample), ``spending``
(``obrien-fleming``), ``reestimate_sd_at`` (the look whose paired sd replaces the assumed one when it sets a larger
final sample), ``max_pairs`` (the cap). Pairs are counted in the grid's seed order: the first n seeds of the config
that both arms finished (a look is taken only when all of its first n seeds have both arms)."""
from __future__ import annotations

from ..group_sequential import boundaries, final_pairs, robustness, t_to_z, z_to_t
from ..stats import paired_power, paired_test, pairs_for_power
from .format import _ci
from .options import report_options
from .verdicts import _by_seed


def sequential_plan(cfg: dict, interim_sd: float | None) -> dict:
    """The looks (pairs) and their z bounds; with the interim sd known, the final look it sets."""
    d = report_options(cfg).declared
    seq = d.sequential  # its spending function is checked when the config is read (obrien-fleming only)
    looks = list(seq.looks)
    eff, alpha, power = d.effect, d.alpha, d.power
    fractions = [n / looks[-1] for n in looks]
    bounds = boundaries(fractions, alpha)  # as planned: the interim look is taken with these
    if interim_sd is not None and seq.reestimate_sd_at is not None:
        last = final_pairs(interim_sd, eff, looks[-1], seq.max_pairs or looks[-1], power, alpha)
        if last != looks[-1]:  # the interim bounds stay; the final look spends what is left at its new size
            looks = looks[:-1] + [last]
            bounds = boundaries([n / last for n in looks], alpha, taken=bounds[:-1])
            fractions = fractions[:-1] + [1.0]  # a taken look keeps the fraction its bound was spent at
    return {"looks": looks, "bounds": bounds, "fractions": fractions}


def sequential_test(rows: list[dict], cfg: dict, gates_ok: bool, answer: dict | None = None) -> list[str]:
    """Markdown lines of the declared group-sequential test; ``answer`` (a dict, when given) receives the verdict,
    the effect with its interval, the pairs and the power (:mod:`mpqlab.experiments.report.answers`)."""
    d = report_options(cfg).declared
    seq = d.sequential
    if seq.kind == "equivalence":
        return equivalence_test(rows, cfg, gates_ok, answer)
    answer = {} if answer is None else answer
    a, b = d.primary
    eff, alpha, power = d.effect, d.alpha, d.power
    budget = float(cfg["budgets"][0])
    ra, rb = _by_seed(rows, d.setting, a, budget), _by_seed(rows, d.setting, b, budget)
    prefix = []  # differences of the longest prefix of the seed order with both arms finished
    for s in cfg["seeds"]:
        if s not in ra or s not in rb:
            break
        prefix.append(ra[s] - rb[s])
    n_done = len(prefix)
    sd0 = d.assumed_sd
    at = seq.reestimate_sd_at
    interim_sd = paired_test(prefix[:at])["sd"] if at and n_done >= at else None
    plan = sequential_plan(cfg, interim_sd)
    lines = ["", "## Pre-declared group-sequential test", "", f"Written in the config before any cell ran: "
             f"{d.question}", "",
             f"- Arms: {a} vs {b} ({d.setting}, budget {budget:g}), paired by seed, seeds in the config's order.",
             f"- Planned: {pairs_for_power(sd0, eff, power, alpha)} pairs for "
             f"{power:.0%} power at {eff:g} points with a paired sd of {sd0:g} "
             f"({d.assumed_sd_source}); looks at {', '.join(map(str, seq.looks))} pairs.",
             f"- Rule: {seq.rule}", ""]
    if interim_sd is not None:
        lines += [f"Interim sd (first {at} pairs): {interim_sd:.2f}; final look at {plan['looks'][-1]} pairs "
                  f"({'extended' if plan['looks'][-1] > int(seq.looks[-1]) else 'as planned'}).", ""]
    lines += ["| look | pairs | information fraction its bound was set at | bound abs(z) | pairs finished | z | crossed |",
              "|---|---|---|---|---|---|---|"]
    verdict, reached = None, None
    for k, (n, c) in enumerate(zip(plan["looks"], plan["bounds"])):
        if n_done >= n:
            t = paired_test(prefix[:n])
            z = t_to_z(t["mean"] / (t["sd"] / n ** 0.5), n - 1) if t["sd"] > 0 else float("nan")
            crossed = abs(z) >= c
            lines.append(f"| {k + 1} | {n} | {plan['fractions'][k]:.2f} | {c:.3f} | {n} | {z:+.2f} | "
                         f"{'yes' if crossed else 'no'} |")
            reached = (k, n, c, t, z)
            if crossed and verdict is None:
                verdict = f"{a} improves {b}" if z > 0 else f"{a} is worse than {b}"
                break
        else:
            lines.append(f"| {k + 1} | {n} | {plan['fractions'][k]:.2f} | {c:.3f} | {n_done} | — | not reached |")
    if reached is None:
        answer.update(verdict=f"cannot answer yet ({n_done} of {plan['looks'][0]} pairs for the first look)",
                      pairs=n_done)
        return lines + ["", f"Verdict: **cannot answer yet** ({n_done} of {plan['looks'][0]} pairs for the first "
                        "look; no look, no verdict)."]
    k, n, c, t, z = reached
    half = z_to_t(c, n - 1) * t["sd"] / n ** 0.5  # the repeated-confidence interval at this look
    lo, hi = t["mean"] - half, t["mean"] + half
    final = n == plan["looks"][-1]
    if not gates_ok:
        word = "cannot answer (a validity gate failed)"
    elif verdict is not None:
        word = verdict + (" (the final look)" if final else f" (stopped early, at look {k + 1})")
    elif not final:
        word = f"continue: look {k + 1} did not cross its bound; next look at {plan['looks'][k + 1]} pairs"
    elif hi < eff:
        word = f"{a} does not improve {b} by {eff:g} point{'s' * (eff != 1)} or more"
    else:
        word = "undecided at the power reached"
    answer.update(verdict=word, effect=t["mean"], ci=(lo, hi), interval="repeated-confidence", pairs=n,
                  power=paired_power(t["sd"], eff, n, alpha))
    r = robustness(prefix[:n])
    lines += ["", f"At look {k + 1} ({n} pairs): {a} − {b} = {t['mean']:+.2f} points, repeated-confidence interval "
              f"{_ci(lo, hi)} (nominal level {100 * (2 * _phi(c) - 1):.3f} % at this look); paired sd {t['sd']:.2f}.", "",
              f"Verdict: **{word}**.", "",
              f"Beside it (not in the rule): {r['positive']} of {r['positive'] + r['negative']} nonzero pairs favour "
              f"{a}, sign test p = {r['sign_p']:.3g}; Wilcoxon signed-rank p = {r['wilcoxon_p']:.3g}; leaving one "
              f"pair out moves the mean between {r['loo_min']:+.2f} and {r['loo_max']:+.2f}; fixed-sample t "
              f"interval {_ci(t['ci_low'], t['ci_high'])} (not valid after looking)."]
    return lines


def _prefix(rows: list[dict], cfg: dict) -> list[float]:
    """A - B of the declared arms over the longest prefix of the config's seed order with both arms finished."""
    d = report_options(cfg).declared
    a, b = d.primary
    budget = float(cfg["budgets"][0])
    ra, rb = _by_seed(rows, d.setting, a, budget), _by_seed(rows, d.setting, b, budget)
    out = []
    for s in cfg["seeds"]:
        if s not in ra or s not in rb:
            break
        out.append(ra[s] - rb[s])
    return out


def equivalence_test(rows: list[dict], cfg: dict, gates_ok: bool, answer: dict | None = None) -> list[str]:
    """A group-sequential equivalence test by repeated confidence intervals (Jennison & Turnbull 2000, ch. 9): at
    look k the (1 - 2 alpha) repeated interval of A - B uses the two-sided O'Brien-Fleming-type bound c_k spending
    2 alpha (so each one-sided test spends alpha, as TOST does); stop for **equivalence** when it lies within
    +-margin, for **non-equivalence** when it lies wholly beyond one margin; at the final look, neither is
    'not shown equivalent'. The repeated intervals cover the true difference at every look together with
    probability >= 1 - 2 alpha, so stopping at any of them keeps the error rates."""
    answer = {} if answer is None else answer
    d = report_options(cfg).declared
    seq, (a, b) = d.sequential, d.primary
    margin = report_options(cfg).equivalence_margin
    budget = float(cfg["budgets"][0])
    prefix = _prefix(rows, cfg)
    n_done, looks = len(prefix), list(seq.looks)
    bounds = boundaries([n / looks[-1] for n in looks], 2 * d.alpha)
    lines = ["", "## Pre-declared group-sequential equivalence test", "",
             f"Written in the config before any cell ran: {d.question}", "",
             f"- Arms: {a} vs {b} ({d.setting}, budget {budget:g}), paired by seed, seeds in the config's order.",
             f"- Margin: ±{margin:g} points; repeated {100 * (1 - 2 * d.alpha):.0f} % intervals; looks at "
             f"{', '.join(map(str, looks))} pairs; assumed paired sd {d.assumed_sd:g} ({d.assumed_sd_source}).",
             f"- Rule: {seq.rule}", "",
             "| look | pairs | bound abs(z) | pairs finished | A − B | repeated interval | decision |",
             "|---|---|---|---|---|---|---|"]
    word, reached = None, None
    for k, (n, c) in enumerate(zip(looks, bounds)):
        if n_done < n:
            lines.append(f"| {k + 1} | {n} | {c:.3f} | {n_done} | — | — | not reached |")
            continue
        t = paired_test(prefix[:n])
        half = z_to_t(c, n - 1) * t["sd"] / n ** 0.5
        lo, hi = t["mean"] - half, t["mean"] + half
        if -margin < lo and hi < margin:
            decision = "equivalent"
        elif lo > margin or hi < -margin:
            decision = f"not equivalent ({a} {'better' if lo > margin else 'worse'} by more than {margin:g})"
        else:
            decision = "continue" if n != looks[-1] else "not shown equivalent"
        lines.append(f"| {k + 1} | {n} | {c:.3f} | {n} | {t['mean']:+.2f} | {_ci(lo, hi)} | {decision} |")
        reached = (k, n, t, lo, hi)
        if decision != "continue":
            word = decision
            break
    if reached is None:
        answer.update(verdict=f"cannot answer yet ({n_done} of {looks[0]} pairs for the first look)", pairs=n_done)
        return lines + ["", f"Verdict: **cannot answer yet** ({n_done} of {looks[0]} pairs for the first look; no "
                            "look, no verdict)."]
    k, n, t, lo, hi = reached
    if not gates_ok:
        word = "cannot answer (a validity gate failed)"
    elif word is None:
        word = f"continue: look {k + 1} decided nothing; next look at {looks[k + 1]} pairs"
    else:
        word += " (the final look)" if n == looks[-1] else f" (stopped at look {k + 1})"
    answer.update(verdict=word, effect=t["mean"], ci=(lo, hi), interval="repeated 90 %", pairs=n,
                  power=equivalence_power(t["sd"], margin, looks[-1], bounds[-1]))
    r = robustness(prefix[:n])
    return lines + ["", f"At look {k + 1} ({n} pairs): {a} − {b} = {t['mean']:+.2f} points, repeated interval "
                    f"{_ci(lo, hi)}; paired sd {t['sd']:.2f}.", "", f"Verdict: **{word}**.", "",
                    f"Beside it (not in the rule): {r['positive']} of {r['positive'] + r['negative']} nonzero pairs "
                    f"favour {a}, sign test p = {r['sign_p']:.3g}; leaving one pair out moves the mean between "
                    f"{r['loo_min']:+.2f} and {r['loo_max']:+.2f}."]


def equivalence_power(sd: float, margin: float, n: int, bound: float) -> float:
    """Probability that an interval ``mean +- bound * sd / sqrt(n)`` lies within ``+-margin`` when the true
    difference is 0 (normal approximation): the power of an equivalence test of ``n`` pairs at paired sd ``sd``."""
    se = sd / n ** 0.5
    if se <= 0:
        return 1.0
    return max(0.0, 2 * _phi((margin - bound * se) / se) - 1)


def _phi(z: float) -> float:
    from scipy.stats import norm  # deferred: slow import, statistics only

    return float(norm.cdf(z))
