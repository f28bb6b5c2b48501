"""Group-sequential paired tests: a planned sample looked at more than once without inflating the type I error.

- :func:`obf_spending`: the Lan-DeMets O'Brien-Fleming-type alpha-spending function
  ``alpha(t) = 2 - 2 Phi(z_{1-alpha/2} / sqrt t)`` (t the information fraction, here pairs so far / final pairs).
- :func:`boundaries`: the two-sided z bounds c_1..c_K of looks at fractions t_1 < ... < t_K = 1, each spending
  ``alpha(t_k) - alpha(t_{k-1})``: ``P(|Z_1| < c_1, ..., |Z_{k-1}| < c_{k-1}, |Z_k| >= c_k) = alpha(t_k) -
  alpha(t_{k-1})`` under H0, with ``corr(Z_i, Z_j) = sqrt(t_i / t_j)`` (Brownian motion in information time).
- :func:`t_to_z`: a paired t statistic on ``df`` degrees of freedom as the z with the same one-sided p.
- :func:`final_pairs`: the final look's size after re-estimating the sd at the interim look (it can only grow).
- :func:`robustness`: sign test, Wilcoxon signed-rank and leave-one-out range, printed beside a declared test.
"""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from .stats import pairs_for_power


def obf_spending(t: float, alpha: float = 0.05) -> float:
    """Alpha spent by information fraction ``t`` in (0, 1] (two-sided, O'Brien-Fleming type)."""
    from scipy.stats import norm  # deferred: slow import, statistics only

    if not 0 < t <= 1:
        raise ValueError(f"information fraction must be in (0, 1], got {t}")
    return float(2 - 2 * norm.cdf(norm.ppf(1 - alpha / 2) / math.sqrt(t)))


def _continue_probability(bounds: Sequence[float], fractions: Sequence[float]) -> float:
    """P(|Z_k| < c_k for every look k) under H0."""
    from scipy.stats import multivariate_normal  # deferred: slow import, statistics only

    k = len(bounds)
    if k == 1:
        from scipy.stats import norm  # deferred: slow import, statistics only
        return float(norm.cdf(bounds[0]) - norm.cdf(-bounds[0]))
    cov = np.array([[math.sqrt(min(fractions[i], fractions[j]) / max(fractions[i], fractions[j]))
                     for j in range(k)] for i in range(k)])
    c = np.asarray(bounds, dtype=float)
    return float(multivariate_normal(mean=np.zeros(k), cov=cov).cdf(c, lower_limit=-c))


def boundaries(fractions: Sequence[float], alpha: float = 0.05, taken: Sequence[float] = ()) -> list[float]:
    """Two-sided z bounds for looks at the increasing information ``fractions`` (the last one 1). ``taken``: bounds
    of looks already taken (kept as they were; a final look that moved after an sd re-estimate spends what is left:
    its bound solves ``P(no earlier crossing, |Z_K| < c_K) = 1 - alpha`` at the new fractions)."""
    from scipy.optimize import brentq  # deferred: slow import, statistics only

    fr = [float(f) for f in fractions]
    if not fr or any(b <= a for a, b in zip(fr, fr[1:])) or not 0 < fr[0] or abs(fr[-1] - 1) > 1e-9:
        raise ValueError(f"fractions must increase from above 0 to 1, got {fractions}")
    if len(taken) >= len(fr):
        raise ValueError(f"{len(taken)} bounds taken for {len(fr)} looks: the last look must be open")
    out: list[float] = [float(c) for c in taken]
    for k in range(len(out), len(fr)):
        target = 1 - obf_spending(fr[k], alpha)  # probability of not having stopped by look k
        f = lambda c: _continue_probability(out + [c], fr[:k + 1]) - target  # noqa: E731
        out.append(float(brentq(f, 0.5, 12.0, xtol=1e-6)))
    return out


def t_to_z(t: float, df: int) -> float:
    """The z whose one-sided normal p equals the one-sided p of ``t`` on ``df`` degrees of freedom."""
    from scipy.stats import norm, t as tdist  # deferred: slow import, statistics only

    p = float(tdist.sf(abs(t), df))
    return math.copysign(float(norm.isf(p)), t) if p > 0 else math.copysign(math.inf, t)


def z_to_t(z: float, df: int) -> float:
    """The inverse of :func:`t_to_z`: the t quantile matching the normal quantile ``z``."""
    from scipy.stats import norm, t as tdist  # deferred: slow import, statistics only

    return float(tdist.isf(norm.sf(z), df))


def final_pairs(sd: float, effect: float, planned: int, max_pairs: int, power: float = 0.8, alpha: float = 0.05,
                inflation: float = 1.01) -> int:
    """The final look's pairs after the interim sd estimate: ``max(planned, ceil(inflation * n(sd)))`` capped at
    ``max_pairs``, n(sd) the fixed-sample pairs for ``power`` at ``effect`` (:func:`mpqlab.experiments.stats.pairs_for_power`)."""
    need = pairs_for_power(sd, effect, power, alpha, n_max=10 * max_pairs)
    return int(min(max_pairs, max(planned, math.ceil(inflation * need))))


def robustness(diffs: Sequence[float]) -> dict:
    """Sign test p (exact binomial, zeros dropped), Wilcoxon signed-rank p and the range of the mean when each pair
    is left out in turn."""
    from scipy.stats import binomtest, wilcoxon  # deferred: slow import, statistics only

    d = [float(x) for x in diffs]
    pos, neg = sum(x > 0 for x in d), sum(x < 0 for x in d)
    sign_p = float(binomtest(pos, pos + neg, 0.5).pvalue) if pos + neg else float("nan")
    wil_p = float(wilcoxon(d).pvalue) if any(d) and len(d) >= 2 else float("nan")
    loo = [(sum(d) - x) / (len(d) - 1) for x in d] if len(d) > 1 else []
    return {"positive": pos, "negative": neg, "sign_p": sign_p, "wilcoxon_p": wil_p,
            "loo_min": min(loo) if loo else float("nan"), "loo_max": max(loo) if loo else float("nan")}
