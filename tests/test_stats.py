import math

import pytest

from mpqlab.experiments.stats import holm, paired, paired_test, sign_flip_p, verdict


def test_paired_matches_common_seeds():
    seeds, d = paired({0: 90.0, 1: 91.0, 3: 92.0}, {1: 90.5, 0: 89.0, 2: 80.0})
    assert seeds == [0, 1] and d == [1.0, 0.5]


def test_paired_test_against_hand_computation():
    r = paired_test([1.0, 2.0, 3.0])
    # mean 2, sd 1, se 1/sqrt(3), t = 2 sqrt(3) = 3.4641 on 2 df: two-sided p = 0.07418; t_0.975,2 = 4.3027
    assert r["mean"] == 2.0 and r["sd"] == pytest.approx(1.0)
    assert r["p_t"] == pytest.approx(0.07418, abs=1e-4)
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((2 - 4.3027 / math.sqrt(3), 2 + 4.3027 / math.sqrt(3)), abs=1e-3)
    assert r["p_sign_flip"] == pytest.approx(2 / 8)  # only all-plus and all-minus reach |sum| = 6
    assert math.isnan(paired_test([1.0])["p_t"])


def test_sign_flip_counts_ties_and_is_exact():
    # [1, 1, -1, 1]: |sum| = 2; patterns with |sum| >= 2 among 16: sums are +-4 (2 patterns), +-2 (8 patterns)
    assert sign_flip_p([1, 1, -1, 1]) == pytest.approx(10 / 16)
    assert sign_flip_p([0.3] * 8) == pytest.approx(2 / 256)
    big = sign_flip_p([0.5] * 20, draws=20_000)
    assert big < 0.001


def test_holm_adjusts_in_order_and_keeps_monotone():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    out = holm([0.2, float("nan"), 0.001])
    assert out[2] == pytest.approx(0.002) and out[0] == pytest.approx(0.2) and math.isnan(out[1])


def test_verdict_words():
    assert verdict(0.5, 0.01) == "better" and verdict(-0.5, 0.01) == "worse"
    assert verdict(0.5, 0.2) == "no difference shown"
    assert verdict(0.5, float("nan")).startswith("cannot tell")


def test_spearman_and_bootstrap():
    from mpqlab.experiments.stats import bootstrap_ci, spearman

    x = [1, 2, 3, 4, 5, 6]
    assert spearman(x, [10, 20, 30, 40, 50, 60]) == pytest.approx(1.0)
    assert spearman(x, [x_ ** 3 for x_ in x][::-1]) == pytest.approx(-1.0)
    assert spearman(x, [1, 3, 2, 4, 6, 5]) == pytest.approx(1 - 6 * 4 / (6 * 35))  # sum of squared rank gaps 4
    lo, hi = bootstrap_ci(spearman, x, [1, 3, 2, 4, 6, 5], n=500)
    assert lo <= spearman(x, [1, 3, 2, 4, 6, 5]) <= hi and hi <= 1.0
    assert bootstrap_ci(spearman, x, x, n=200, seed=1) == bootstrap_ci(spearman, x, x, n=200, seed=1)


def test_spearman_equals_scipys_with_ties():
    import random

    from scipy import stats

    from mpqlab.experiments.stats import spearman

    rng = random.Random(3)
    for _ in range(50):
        a = [rng.choice([0.1, 0.2, 0.3, rng.random()]) for _ in range(12)]
        b = [rng.choice([1.0, 2.0, rng.random()]) for _ in range(12)]
        want = stats.spearmanr(a, b).statistic
        got = spearman(a, b)
        assert (got != got and (want != want or len(set(a)) < 2 or len(set(b)) < 2)) or got == pytest.approx(want)


def test_kendall_tau_and_discordant_pairs():
    from mpqlab.experiments.stats import discordant_pairs, kendall_tau

    a = {"x": 3.0, "y": 2.0, "z": 1.0}
    assert kendall_tau(a, a) == 1.0 and discordant_pairs(a, a) == (3, [])
    assert kendall_tau(a, {"x": 1.0, "y": 2.0, "z": 3.0}) == -1.0
    n, swapped = discordant_pairs(a, {"x": 3.0, "y": 0.5, "z": 1.0, "w": 9.0})  # "w" is in one only: ignored
    assert n == 3 and swapped == [("y", "z")] and abs(kendall_tau(a, {"x": 3.0, "y": 0.5, "z": 1.0}) - 1 / 3) < 1e-12
    assert discordant_pairs(a, {"x": 3.0, "y": 1.0, "z": 1.0})[1] == [("y", "z")]  # a tie on one side only


def test_paired_power_matches_the_textbook_sample_size():
    from mpqlab.experiments.stats import detectable_effect, pairs_for_power, paired_power

    # Cohen's d = 0.5, paired two-sided t at 5 %, 80 % power: 33.37 pairs (R's pwr.t.test), so 34
    assert pairs_for_power(sd=1.0, effect=0.5) == 34
    assert abs(paired_power(1.0, 0.0, 20) - 0.05) < 1e-9  # no effect: the test's level
    assert paired_power(2.0, 1.0, 40) == paired_power(1.0, 0.5, 40)  # only effect / sd matters
    assert abs(paired_power(1.0, detectable_effect(1.0, 34), 34) - 0.8) < 1e-6


def test_order_within_errors_ties_what_the_noise_cannot_separate():
    from mpqlab.experiments.stats import order_within_errors

    # the 03 case: W4A4 1282 ± 95 and W8A8 1301 ± 56 are not ordered; W2A2 far above both is
    got = order_within_errors({"W8A8": (1301, 56), "W4A4": (1282, 95), "W2A2": (4000, 80)})
    assert got == "W4A4 1.28e+03 ± 95 ≈ W8A8 1.3e+03 ± 56 < W2A2 4e+03 ± 80"
    assert order_within_errors({"a": (1.0, 0.0), "b": (1.1, 0.0)}) == "a 1 < b 1.1"  # exact values: any gap orders
    assert " ≈ " in order_within_errors({"a": (1.0, 0.1), "b": (1.2, 0.1)})  # 0.2 < 2 · 0.141
    assert " < " in order_within_errors({"a": (1.0, 0.1), "b": (1.3, 0.1)})  # 0.3 > 0.283
