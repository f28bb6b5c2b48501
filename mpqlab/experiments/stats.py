"""Paired statistics for experiment grids: cells that share a seed share the proxy subset, the batch order and the
fine-tune subset, so methods are compared by their per-seed differences, never as two independent samples.

- :func:`paired` matches two ``{seed: value}`` maps on their common seeds and returns the differences.
- :func:`paired_test`: mean difference, its 95 % t interval, and two p-values: the paired t-test and the
  sign-flip permutation test (exact over all 2^n sign patterns up to n = 16, else 100,000 seeded draws).
- :func:`holm`: Holm's step-down adjustment of a family of p-values (controls the family-wise error rate).
- :func:`verdict`: the plain word for one comparison, after correction.
- :func:`spearman`, :func:`spearman_permutation_p`, :func:`bootstrap_ci`: a rank correlation, its permutation
  p-value and its percentile bootstrap interval (Fig. 1).

Pure functions of plain numbers (scipy for the t distribution), so they can be tested against hand computations.
"""
from __future__ import annotations

import itertools
import math
import random
from typing import Mapping, Sequence

import numpy as np


def paired(a: Mapping, b: Mapping) -> tuple[list, list[float]]:
    """Seeds present in both maps (sorted) and the differences ``a[s] - b[s]``."""
    seeds = sorted(set(a) & set(b))
    return seeds, [float(a[s]) - float(b[s]) for s in seeds]


def sign_flip_p(diffs: Sequence[float], draws: int = 100_000, seed: int = 0) -> float:
    """Two-sided p-value of the sign-flip permutation test of a zero mean difference: the share of sign patterns
    whose |mean| is at least the observed one (exact up to 16 differences, else ``draws`` seeded patterns)."""
    d = [float(x) for x in diffs]
    n = len(d)
    if n == 0:
        return float("nan")
    obs = abs(sum(d)) - 1e-12 * (1 + sum(abs(x) for x in d))  # ties count as extreme
    if n <= 16:
        hits = sum(abs(sum(s * x for s, x in zip(signs, d))) >= obs for signs in itertools.product((1, -1), repeat=n))
        return hits / 2 ** n
    rng = random.Random(seed)
    hits = sum(abs(sum(x if rng.random() < 0.5 else -x for x in d)) >= obs for _ in range(draws))
    return (hits + 1) / (draws + 1)


def paired_test(diffs: Sequence[float], level: float = 0.95) -> dict:
    """Mean of paired differences with its t interval, the paired t-test's p and the sign-flip p."""
    from scipy import stats  # deferred: slow import, statistics only

    d = [float(x) for x in diffs]
    n = len(d)
    out = {"n": n, "mean": float("nan"), "ci_low": float("nan"), "ci_high": float("nan"), "p_t": float("nan"),
           "p_sign_flip": sign_flip_p(d) if n else float("nan")}
    if n == 0:
        return out
    mean = sum(d) / n
    out["mean"] = mean
    if n < 2:
        return out
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    se = sd / math.sqrt(n)
    q = float(stats.t.ppf(0.5 + level / 2, n - 1))
    out.update(ci_low=mean - q * se, ci_high=mean + q * se, sd=sd)
    out["p_t"] = 1.0 if se == 0 and mean == 0 else (0.0 if se == 0 else float(2 * stats.t.sf(abs(mean) / se, n - 1)))
    return out


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-adjusted p-values, in the input order (NaN stays NaN and does not count in the family)."""
    idx = [i for i, p in enumerate(pvalues) if not math.isnan(p)]
    m = len(idx)
    out = [float("nan")] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out


def verdict(mean: float, p_adjusted: float, alpha: float = 0.05) -> str:
    """'better' / 'worse' (for A in A - B) when the adjusted p is below ``alpha``, else 'no difference shown'."""
    if math.isnan(p_adjusted):
        return "cannot tell (too few seeds)"
    if p_adjusted < alpha:
        return "better" if mean > 0 else "worse"
    return "no difference shown"


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN for fewer than 3 points or a constant input.
    Pearson's correlation of the ranks, as ``scipy.stats.spearmanr`` computes it, without its overhead (the
    bootstrap calls this thousands of times)."""
    from scipy.stats import rankdata  # deferred: slow import, statistics only

    if len(x) < 3 or len(set(x)) < 2 or len(set(y)) < 2:
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float(rx @ ry / np.sqrt((rx @ rx) * (ry @ ry)))


def spearman_permutation_p(x: Sequence[float], y: Sequence[float], draws: int = 10_000, seed: int = 0) -> float:
    """Two-sided permutation p-value of Spearman's correlation: the share of seeded shuffles of ``y`` whose |rho| is
    at least the observed one (with the +1 correction, so never 0). NaN when rho is undefined."""
    from scipy.stats import rankdata  # deferred: slow import, statistics only

    obs = spearman(x, y)
    if math.isnan(obs):
        return float("nan")
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    norm = np.sqrt((rx @ rx) * (ry @ ry))
    rng = np.random.default_rng(seed)
    perms = np.stack([rng.permutation(ry) for _ in range(draws)])
    hits = int(np.sum(np.abs(perms @ rx / norm) >= abs(obs) - 1e-12))
    return (hits + 1) / (draws + 1)


def bootstrap_ci(stat, x: Sequence[float], y: Sequence[float], n: int = 2000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat(x, y)`` over resampled (x, y) pairs (seeded; NaN draws dropped)."""
    rng = random.Random(seed)
    pairs = list(zip(x, y))
    vals = []
    for _ in range(n):
        s = [pairs[rng.randrange(len(pairs))] for _ in pairs]
        v = stat([a for a, _ in s], [b for _, b in s])
        if not math.isnan(v):
            vals.append(v)
    if not vals:
        return float("nan"), float("nan")
    vals.sort()
    lo = vals[int((1 - level) / 2 * (len(vals) - 1))]
    hi = vals[int((1 + level) / 2 * (len(vals) - 1))]
    return lo, hi


def discordant_pairs(a: Mapping, b: Mapping) -> tuple[int, list[tuple]]:
    """Two scorings of the same items (``{item: score}``, higher is better): the number of item pairs compared and
    the pairs the two order differently (a tie in one and not the other counts as different)."""
    items = sorted(set(a) & set(b))
    pairs = [(i, j) for k, i in enumerate(items) for j in items[k + 1:]]
    sign = lambda v: (v > 0) - (v < 0)  # noqa: E731
    swapped = [(i, j) for i, j in pairs if sign(a[i] - a[j]) != sign(b[i] - b[j])]
    return len(pairs), swapped


def kendall_tau(a: Mapping, b: Mapping) -> float:
    """Kendall's tau-a of two scorings of the same items: 1 - 2 x (share of pairs ordered differently)."""
    n, swapped = discordant_pairs(a, b)
    return float("nan") if n == 0 else 1 - 2 * len(swapped) / n


def paired_power(sd: float, effect: float, n: int, alpha: float = 0.05) -> float:
    """Power of the two-sided paired t-test at level ``alpha`` to detect a mean difference ``effect`` when the
    differences have standard deviation ``sd``, with ``n`` pairs (noncentral t, exact)."""
    from scipy import stats  # deferred: slow import, statistics only

    if n < 2 or not sd > 0:
        return float("nan")
    df, nc = n - 1, effect / (sd / math.sqrt(n))
    q = float(stats.t.ppf(1 - alpha / 2, df))
    upper, lower = float(stats.nct.sf(q, df, abs(nc))), float(stats.nct.cdf(-q, df, abs(nc)))
    if math.isnan(upper):  # scipy's series fails far in the tail, where the answer is 0 or 1
        upper = 1.0 if abs(nc) > q else 0.0
    return min(1.0, upper + (0.0 if math.isnan(lower) else lower))


def pairs_for_power(sd: float, effect: float, power: float = 0.8, alpha: float = 0.05, n_max: int = 100_000) -> int:
    """The fewest pairs whose two-sided paired t-test reaches ``power`` at ``effect`` (see :func:`paired_power`)."""
    n = 2
    while paired_power(sd, effect, n, alpha) < power:
        n += 1
        if n > n_max:
            raise ValueError(f"more than {n_max} pairs needed (sd {sd}, effect {effect})")
    return n


def detectable_effect(sd: float, n: int, power: float = 0.8, alpha: float = 0.05) -> float:
    """The smallest mean difference the two-sided paired t-test with ``n`` pairs detects with ``power``."""
    from scipy.optimize import brentq  # deferred: slow import, statistics only

    if n < 2 or not sd > 0:
        return float("nan")
    return float(brentq(lambda e: paired_power(sd, e, n, alpha) - power, 1e-9, 1000 * sd))


def order_within_errors(estimates: Mapping[str, tuple[float, float]], z: float = 2.0, fmt: str = ".3g") -> str:
    """Estimates ``{name: (value, standard error)}`` smallest first, joined by ``<`` where a value exceeds the one
    before it by more than ``z`` combined standard errors (sqrt(se_a² + se_b²)) and by ``≈`` where it does not: an
    order the noise cannot tell apart is not printed as one. A standard error of 0 marks an exact value."""
    items = sorted(estimates.items(), key=lambda kv: kv[1][0])
    out = ""
    for i, (name, (value, se)) in enumerate(items):
        if i:
            prev_value, prev_se = items[i - 1][1]
            apart = value - prev_value > z * math.hypot(se, prev_se)
            out += " < " if apart else " ≈ "
        out += f"{name} {value:{fmt}}" + (f" ± {se:{fmt}}" if se else "")
    return out

