"""The numbers the write-up derives from committed files (mpqlab.experiments.report.derived), against hand computations."""
import math

import pytest

from mpqlab.experiments.report.derived import assumed_sd, finetune_gains, paired_sd, top_probability_at

HEADER = "setting,method,budget,seed,target_top1\n"


def _softmax(z, tau):
    e = [math.exp(v / tau) for v in z]
    return [v / sum(e) for v in e]


def test_top_probability_at_recovers_the_softmax_at_another_temperature():
    z = {"l1": ([1.0, 0.2, -0.5], [0.0, 0.3, 0.1]), "l2": ([2.0, 0.0, 0.0], [0.5, 0.5, -1.0])}
    at_01 = {k: {"w": _softmax(w, 0.1), "a": _softmax(a, 0.1)} for k, (w, a) in z.items()}
    tops = sorted(max(_softmax(p, 1.0)) for w, a in z.values() for p in (w, a))
    assert top_probability_at(at_01, tau_end=0.1, tau=1.0) == pytest.approx((tops[1] + tops[2]) / 2, rel=1e-9)
    own = sorted(max(p) for d in at_01.values() for p in d.values())  # at its own temperature: unchanged
    assert top_probability_at(at_01, tau_end=0.1, tau=0.1) == pytest.approx((own[1] + own[2]) / 2, rel=1e-9)


def test_paired_sd_gains_and_rms(tmp_path):
    short, long = tmp_path / "short", tmp_path / "long"
    short.mkdir(), long.mkdir()
    (short / "results.csv").write_text(HEADER + "".join(
        f"s,{m},2.5,{s},{v}\n" for m, vals in (("a", (80, 82, 81)), ("b", (79, 80, 82))) for s, v in enumerate(vals)))
    (long / "results.csv").write_text(HEADER + "s,a,2.5,0,83\ns,a,2.5,1,85\n")
    sd, n = paired_sd(short, "a", "b", setting="s")
    assert n == 3 and sd == pytest.approx(math.sqrt(((1 - 2 / 3) ** 2 + (2 - 2 / 3) ** 2 + (-1 - 2 / 3) ** 2) / 2))
    assert finetune_gains(short, long, setting="s") == {"a": pytest.approx(3.0)}  # seeds 0, 1 only: 84 - 81
    assert assumed_sd([3.0, 4.0]) == pytest.approx(math.sqrt(12.5))
    with pytest.raises(ValueError, match="fewer than 2 seeds"):
        paired_sd(long, "a", "b", setting="s")
