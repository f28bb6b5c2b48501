"""Whether each of the paper's figures reproduces here, in one word and a reason, computed from the data that
notebook 06 plots: **reproduces**, **does not reproduce**, or **cannot tell** (the data cannot decide: a gate
failed, too few seeds, no interval). A figure that describes without testing gets "cannot tell", never
"reproduces"."""
from __future__ import annotations

from ..stats import paired_test

REPRODUCES, DOES_NOT, CANNOT_TELL = "reproduces", "does not reproduce", "cannot tell"


def fig1_verdict(pooled: dict, searched: dict, gates_ok: bool) -> tuple[str, str]:
    """Fig. 1 (sharper proxy landscapes transfer worse) from the surrogate-gap rows of
    :func:`~mpqlab.experiments.report.fig1.fig1_correlations` over all plotted policies (``pooled``) and over the searched ones
    (``searched``). It reproduces only if the negative relation holds within the searched policies too."""
    if not gates_ok:
        return CANNOT_TELL, "a validity gate of the grid failed or was not measured"
    p, s = pooled["verdict"], searched["verdict"]
    if p == "sharper transfers better" or s == "sharper transfers better":
        return DOES_NOT, f"the relation has the opposite sign (all policies: {p}; searched only: {s})"
    if p == "sharper transfers worse" and s == "sharper transfers worse":
        return REPRODUCES, "sharper transfers worse over all policies and within the searched ones"
    if p == "sharper transfers worse":
        return CANNOT_TELL, (f"the negative relation over all policies (Spearman {pooled['spearman']:+.2f}) rests on "
                             f"the random policies; within the searched ones: {s} (Spearman "
                             f"{searched['spearman']:+.2f}, Holm p = {searched['p_holm']:.2g})")
    return CANNOT_TELL, f"no correlation shown over all policies (Spearman {pooled['spearman']:+.2f})"


def fig4_verdict(final_loss: dict[str, dict[int, float]], adaptive: str = "relative", fixed: str = "fixed",
                 alpha: float = 0.05) -> tuple[str, str]:
    """Fig. 4 (an adaptive radius converges at least as well as a fixed one) from each rule's final training loss
    per seed (``{rule: {seed: loss}}``): the paired difference adaptive − fixed, by the sign-flip test."""
    seeds = sorted(set(final_loss.get(adaptive, {})) & set(final_loss.get(fixed, {})))
    if len(seeds) < 2:
        return CANNOT_TELL, "fewer than two seeds with both rules"
    t = paired_test([final_loss[adaptive][s] - final_loss[fixed][s] for s in seeds])
    floor = 2 / 2 ** len(seeds)
    what = (f"final loss {adaptive} − {fixed} = {t['mean']:+.3f} [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}], "
            f"sign-flip p = {t['p_sign_flip']:.2g}, {len(seeds)} seeds")
    if floor >= alpha:
        return CANNOT_TELL, f"{what}; with {len(seeds)} seeds the sign-flip p cannot go below {floor:.2g}"
    if t["p_sign_flip"] < alpha:
        return (REPRODUCES if t["mean"] < 0 else DOES_NOT), what
    return CANNOT_TELL, what


def table3_verdict(rows: list[dict]) -> tuple[str, str]:
    """Table 3 (σ_max per proxy dataset): one estimate per proxy without an interval describes, it tests nothing."""
    have = [r for r in rows if r.get("sigma_max") is not None]
    return CANNOT_TELL, (f"{len(have)} proxies, one estimate each and no interval: the table describes the proxies "
                         "and decides nothing")


def table4_verdict(comp: dict | None) -> tuple[str, str]:
    """Table 4 (ASGA improves the search on a target-like subset) from the report's comparison of EdMIPS+ASGA with
    EdMIPS in the subset setting (:func:`~mpqlab.experiments.report.verdicts.comparisons`' row, Holm-adjusted)."""
    if comp is None:
        return CANNOT_TELL, "the grid has no subset-setting comparison of EdMIPS+ASGA with EdMIPS"
    what = (f"EdMIPS+ASGA − EdMIPS {comp['mean']:+.2f} [{comp['ci_low']:+.2f}, {comp['ci_high']:+.2f}], Holm p = "
            f"{comp['p_holm']:.2g}, {comp['n']} seeds")
    if comp["verdict"] == "better":
        return REPRODUCES, what
    if comp["verdict"] == "worse":
        return DOES_NOT, what
    return CANNOT_TELL, what
