"""Notebook 06 says per paper figure whether it reproduces, from data: each verdict can come out every way."""
from mpqlab.experiments.report.reproduction import (
    CANNOT_TELL, DOES_NOT, REPRODUCES, fig1_verdict, fig4_verdict, table3_verdict, table4_verdict)


def _c(verdict, rho=-0.5, p=0.01):
    return {"verdict": verdict, "spearman": rho, "p_holm": p}


def test_fig1_reproduces_only_within_the_searched_policies_too():
    worse, none = _c("sharper transfers worse"), _c("no correlation shown", -0.17, 0.85)
    assert fig1_verdict(worse, worse, True)[0] == REPRODUCES
    word, why = fig1_verdict(worse, none, True)
    assert word == CANNOT_TELL and "rests on the random policies" in why and "-0.17" in why
    assert fig1_verdict(_c("sharper transfers better", 0.5), none, True)[0] == DOES_NOT
    assert fig1_verdict(worse, worse, False) == (CANNOT_TELL, "a validity gate of the grid failed or was not measured")


def test_fig4_needs_enough_seeds_to_decide():
    three = {"relative": {0: 1.0, 1: 1.1, 2: 0.9}, "fixed": {0: 1.2, 1: 1.3, 2: 1.1}}
    word, why = fig4_verdict(three)
    assert word == CANNOT_TELL and "cannot go below 0.25" in why
    lower = {"relative": {s: 1.0 + 0.01 * s for s in range(8)}, "fixed": {s: 1.2 + 0.01 * s for s in range(8)}}
    assert fig4_verdict(lower)[0] == REPRODUCES
    higher = {"relative": lower["fixed"], "fixed": lower["relative"]}
    assert fig4_verdict(higher)[0] == DOES_NOT


def test_tables_3_and_4():
    assert table3_verdict([{"sigma_max": 1.0}, {"sigma_max": 2.0}])[0] == CANNOT_TELL
    comp = {"mean": 0.62, "ci_low": -0.21, "ci_high": 1.45, "p_holm": 0.49, "n": 8, "verdict": "no difference shown"}
    assert table4_verdict(comp)[0] == CANNOT_TELL and "Holm p = 0.49" in table4_verdict(comp)[1]
    assert table4_verdict(dict(comp, verdict="better"))[0] == REPRODUCES
    assert table4_verdict(dict(comp, verdict="worse"))[0] == DOES_NOT
    assert table4_verdict(None)[0] == CANNOT_TELL
