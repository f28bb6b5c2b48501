"""The timing helpers every benchmark script uses: interleaved repeats on a chosen clock, the median's interval."""
import sys
import time

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from _common import interleaved, median_interval, ratio_spread  # noqa: E402


def test_the_cpu_clock_does_not_charge_time_spent_off_the_processor():
    """A repeat that waits (here: sleeps) costs its wait on the wall clock and next to nothing in CPU time."""
    t = interleaved({"wait": lambda: time.sleep(0.05)}, repeats=3, warmup=0, clock="cpu")
    w = interleaved({"wait": lambda: time.sleep(0.05)}, repeats=3, warmup=0, clock="wall")
    assert max(t["wait"]) < 0.02 and min(w["wait"]) >= 0.05


def test_median_interval_is_the_binomial_order_statistic_interval():
    xs = list(range(40))
    assert median_interval(xs) == (14, 25)  # n = 40, 90 %: the 15th and 26th order statistics
    assert median_interval([5, 1, 3]) == (1, 5)  # too few values for 90 %: the range
    lo, hi = median_interval(list(range(1000)), level=0.95)
    assert lo < 499.5 < hi and hi - lo < 80


def test_median_interval_covers_the_median_at_its_level():
    import random

    rng = random.Random(0)
    hits = sum(lo <= 0 <= hi for lo, hi in (median_interval([rng.gauss(0, 1) for _ in range(25)])
                                            for _ in range(2000)))
    assert 0.88 <= hits / 2000 <= 0.97  # conservative by construction (discrete order statistics)


def test_ratio_spread_prints_median_interval_and_iqr():
    s = ratio_spread([2.0, 2.2, 1.8, 2.0, 2.1], [1.0] * 5)
    assert s.startswith("2.00x [") and "IQR" in s
    with pytest.raises(ZeroDivisionError):
        ratio_spread([1.0], [0.0])


def test_the_readme_states_the_smoke_times_the_committed_benchmark_printed():
    """The README's smoke times are the ones in ``benchmarks/results/smoke_runs_idle.txt``, rounded to the second."""
    import re

    table = (REPO / "benchmarks" / "results" / "smoke_runs_idle.txt").read_text()
    rows = [line.split("|") for line in table.splitlines() if re.match(r"\| \d\d_", line)]
    # "02_policy_landscapes" is 02b in the README
    measured = {r[1].strip()[:2] + ("b" if "policy_landscapes" in r[1] else ""): float(r[2]) for r in rows}
    commit = re.search(r"code (\w+)", table)[1]
    readme = " ".join((REPO / "README.md").read_text().split())
    assert f"at commit {commit}" in readme
    stated = ", ".join(f"{k} {v:.0f} s" for k, v in measured.items())
    assert stated in readme, f"the README should say: {stated}"
    total = re.search(r"total (\d+) s", table)[1]
    assert f"{total} s for the eight" in readme
