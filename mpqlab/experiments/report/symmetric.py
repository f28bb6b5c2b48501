"""Claim 1 like with like: "a proxy search matches a target search" compared at the same level of selection. The
grid's reference is the best of several target searches chosen on held-out target images; a single proxy search is
unselected. With ``transfer_candidates`` the reference cell also transfers the candidates it did not choose, so an
unselected target search (the candidates' mean top-1: the expected top-1 of one target search) can be set against
each unselected proxy search, paired by seed; selected proxy arms (``objective[+rule]@selected``) meet the
selected reference: selected against selected, the answer to the claim."""
from __future__ import annotations

from ...search.methods import REFERENCE, is_null, parse_method
from ..stats import paired_test
from .format import _ci, _num
from .options import report_options
from .verdicts import equivalence


def _paired_against(rows: list[dict], ref_value, keep) -> list[dict]:
    """Per (setting, proxy arm, budget) for the arms whose parsed spec ``keep`` accepts: the paired differences
    arm top-1 − ``ref_value(reference row)`` of the same seed and budget, for every seed where both exist."""
    ref = {}
    for r in rows:
        if r["method"] == REFERENCE and (v := ref_value(r)) is not None:
            ref[(int(r["seed"]), float(r["budget"]))] = v
    groups: dict[tuple, dict[int, float]] = {}
    for r in rows:
        m = r["method"]
        if m == REFERENCE or is_null(m) or not keep(parse_method(m)):
            continue
        key = (int(r["seed"]), float(r["budget"]))
        if key in ref:
            groups.setdefault((r["setting"], m, float(r["budget"])), {})[key[0]] = float(r["target_top1"]) - ref[key]
    return [{"setting": s, "method": m, "budget": b, "seeds": sorted(d), "diffs": [d[k] for k in sorted(d)]}
            for (s, m, b), d in sorted(groups.items())]


def unselected_pairs(rows: list[dict]) -> list[dict]:
    """Per (setting, unselected proxy arm, budget): the paired differences arm − mean of the same seed's reference
    candidates, for every seed where both exist."""
    return _paired_against(rows, lambda r: _num(r.get("candidates_mean_top1")), lambda spec: not spec.selected)


def selected_pairs(rows: list[dict]) -> list[dict]:
    """Per (setting, selected proxy arm, budget): the paired differences arm − the selected reference, for every
    seed where both exist: selected against selected, the comparison that answers claim 1."""
    return _paired_against(rows, lambda r: float(r["target_top1"]), lambda spec: spec.selected)


def symmetric_lines(rows: list[dict], cfg: dict, verdicts: bool = True) -> list[str]:
    """The report's "Claim 1, like with like" section (nothing when the reference did not transfer its
    candidates): first the answer, each selected proxy arm against the selected reference, then each unselected
    proxy search against the mean of the reference's candidates. ``verdicts``: False while the grid is incomplete
    or a validity gate failed; the intervals are printed, the equivalence words are not."""
    unselected = [p for p in unselected_pairs(rows) if len(p["diffs"]) >= 2]
    if not unselected:
        return []
    selected = [p for p in selected_pairs(rows) if len(p["diffs"]) >= 2]
    margin = report_options(cfg).equivalence_margin
    lines = ["", "## Claim 1, like with like: a proxy search against a target search", "",
             "The reference is selected (best of its candidates on held-out target images). **The answer** to \"a "
             "proxy search matches a target search\" sets a proxy arm selected the same way (`@selected`, best of its "
             "candidates on held-out proxy images) against it, paired by seed: selected against selected. Beside it, "
             "each unselected proxy search meets the mean top-1 of the same seed's reference candidates (the "
             f"expected top-1 of one unselected target search): unselected against unselected. Equivalence: the 90 % "
             f"CI of the paired difference within ±{margin:g} points."
             + ("" if verdicts else " **No verdicts: the grid is incomplete or a validity gate failed.**"), "",
             f"The last column reads the same interval one-sided: the proxy arm not worse by more than {margin:g} "
             "points (the 95 % CI's lower end above the margin's), whatever equivalence says.", "",
             "| comparison | setting | proxy arm | seeds | arm − target search | 95 % CI | p (paired t) | equivalence | "
             f"not worse by > {margin:g} |",
             "|---|---|---|---|---|---|---|---|---|"]
    for what, pairs in (("selected vs selected (the answer)", selected),
                        ("unselected vs unselected", unselected)):
        for p in pairs:
            t = paired_test(p["diffs"])
            eq = equivalence(p["diffs"], margin)["word"] if verdicts else "—"
            ni = ("yes" if t["ci_low"] > -margin else "not shown") if verdicts else "—"
            lines.append(f"| {what} | {p['setting']} | {p['method']} | {len(p['diffs'])} | {t['mean']:+.2f} | "
                         f"{_ci(t['ci_low'], t['ci_high'])} | {t['p_t']:.3g} | {eq} | {ni} |")
    return lines
