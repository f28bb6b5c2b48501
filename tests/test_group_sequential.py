"""Group-sequential bounds keep the type I error at alpha (checked by simulating the looks), a moved final look
spends what is left, and the report gives no verdict before a declared look."""
import json

import numpy as np
import pytest
from scipy.stats import norm

from conftest import REPO
from mpqlab.experiments.group_sequential import boundaries, final_pairs, obf_spending, robustness, t_to_z, z_to_t
from mpqlab.experiments.report.sequential import sequential_plan, sequential_test


def _rejection_rate(looks, bounds, draws=400_000, seed=0):
    """Share of null paths (partial sums of N(0, 1) pairs) crossing a bound at some look."""
    rng = np.random.default_rng(seed)
    inc = np.diff([0] + list(looks))
    sums = np.cumsum(rng.standard_normal((draws, len(looks))) * np.sqrt(inc), axis=1)
    z = sums / np.sqrt(looks)
    return float((np.abs(z) >= np.asarray(bounds)).any(axis=1).mean())


def test_one_look_is_the_fixed_sample_test_and_the_first_bound_spends_obrien_flemings_alpha():
    assert boundaries([1.0]) == pytest.approx([norm.isf(0.025)], abs=1e-5)
    b = boundaries([0.5, 1.0])
    assert b[0] == pytest.approx(norm.isf(obf_spending(0.5) / 2), abs=1e-5)
    assert 2.7 < b[0] < 2.85 and 1.95 < b[1] < 2.0  # O'Brien-Fleming: strict early, near 1.96 at the end
    assert obf_spending(1.0) == pytest.approx(0.05)


@pytest.mark.parametrize("looks", [(21, 42), (10, 20, 30, 40)])
def test_the_bounds_hold_the_type_one_error_at_alpha(looks):
    bounds = boundaries([n / looks[-1] for n in looks])
    assert _rejection_rate(looks, bounds) == pytest.approx(0.05, abs=0.003)
    assert _rejection_rate(looks, [1.96] * len(looks)) > 0.07  # looking twice at 1.96 inflates it: the check can fail


def test_a_final_look_moved_after_the_interim_spends_what_is_left():
    planned = boundaries([0.5, 1.0])
    moved = boundaries([21 / 100, 1.0], taken=planned[:1])
    assert moved[0] == planned[0]
    assert _rejection_rate((21, 100), moved) == pytest.approx(0.05, abs=0.003)


def test_conversions_and_the_final_size():
    assert z_to_t(t_to_z(2.3, 15), 15) == pytest.approx(2.3)
    assert abs(t_to_z(2.3, 15)) < 2.3  # a t on few degrees of freedom is weaker evidence than the same z
    assert final_pairs(2.21, 1.0, 42, 120) == 42  # the assumed sd: as planned
    assert final_pairs(1.0, 1.0, 42, 120) == 42  # a smaller sd never shortens the run
    assert 42 < final_pairs(3.0, 1.0, 42, 120) < 120 and final_pairs(9.0, 1.0, 42, 120) == 120
    r = robustness([1.0, 2.0, -0.5, 3.0])
    assert (r["positive"], r["negative"]) == (3, 1) and r["loo_min"] == pytest.approx(2.5 / 3) and r["loo_max"] == pytest.approx(2.0)


def _rows(cfg, n, shift, sd=2.0, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in cfg["seeds"][:n]:
        rows.append({"setting": "cross-dataset", "method": "edmips", "budget": 2.5, "seed": s, "target_top1": 78.0})
        rows.append({"setting": "cross-dataset", "method": "edmips+asga", "budget": 2.5, "seed": s,
                     "target_top1": 78.0 + shift + sd * rng.standard_normal()})
    return rows


def test_the_report_waits_for_a_look_continues_or_stops_by_the_rule():
    cfg = json.loads((REPO / "configs" / "claim2_cross_dataset.json").read_text())
    text = "\n".join(sequential_test(_rows(cfg, 20, 5.0), cfg, gates_ok=True))
    assert "cannot answer yet" in text and "20 of 21" in text  # a huge effect, but no look yet: no verdict
    text = "\n".join(sequential_test(_rows(cfg, 21, 0.0, sd=2.21), cfg, gates_ok=True))
    assert "continue" in text or "improves" in text or "worse" in text
    text = "\n".join(sequential_test(_rows(cfg, 21, 4.0, sd=1.0), cfg, gates_ok=True))
    assert "edmips+asga improves edmips (stopped early, at look 1)" in text
    text = "\n".join(sequential_test(_rows(cfg, 21, 4.0, sd=1.0), cfg, gates_ok=False))
    assert "cannot answer (a validity gate failed)" in text
    plan = sequential_plan(cfg, interim_sd=3.5)
    assert plan["looks"][0] == 21 and plan["looks"][-1] > 42  # a larger sd extends the run
