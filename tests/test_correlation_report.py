"""The pre-declared within-seed correlation test (claim 3 within searched policies): its gate refuses an answer when
the factor set on purpose did not move the measured sharpness, and it can come out either way."""
import random

import pytest

from mpqlab.core.errors import MpqlabError
from mpqlab.experiments.config import GridConfig
from mpqlab.experiments.report.correlation import correlation_test, per_seed_spearman

LEVELS = ["edmips", "edmips+sam:rho=0.01", "edmips+sam:rho=0.05", "edmips+sam:rho=0.25"]
CFG = {"methods": LEVELS, "declared": {
    "question": "Do sharper searched policies transfer worse?", "alpha": 0.05,
    "correlation": {"levels": LEVELS, "measures": ["proxy_h", "proxy_trace"], "outcome": "target_top1",
                    "direction": "negative", "manipulation": "proxy_h"}}}


def _rows(h_slope: float, top1_per_h: float, noise: float = 0.05, seeds=range(8)):
    rng = random.Random(0)
    rows = []
    for s in seeds:
        for i, m in enumerate(LEVELS):
            h = 1.0 + h_slope * i + rng.gauss(0, noise)
            rows.append({"method": m, "seed": s, "budget": 2.5, "proxy_h": h, "proxy_trace": 100 * h + rng.gauss(0, 1),
                         "target_top1": 80 + top1_per_h * h + rng.gauss(0, noise)})
    return rows


def test_sharper_transfers_worse_when_the_data_say_so():
    text = "\n".join(correlation_test(_rows(h_slope=-0.3, top1_per_h=-2.0), CFG, True, True))  # sharper: lower top-1
    assert "Gate: mean within-seed Spearman(level, `proxy_h`) = -1.00" in text and "**PASS**" in text
    assert "Verdict by the declared rule: **`proxy_h`: as predicted; `proxy_trace`: as predicted**" in text


def test_the_opposite_sign_is_reported_against_the_prediction():
    text = "\n".join(correlation_test(_rows(h_slope=0.3, top1_per_h=2.0), CFG, True, True))
    assert "**`proxy_h`: against the prediction; `proxy_trace`: against the prediction**" in text


def test_no_answer_when_the_factor_does_not_move_the_measure_or_cells_are_missing():
    flat = "\n".join(correlation_test(_rows(h_slope=0.0, top1_per_h=-2.0, noise=0.5), CFG, True, True))
    assert "**FAIL**" in flat and "cannot answer (the factor did not move the measured sharpness)" in flat
    partial = "\n".join(correlation_test(_rows(h_slope=-0.3, top1_per_h=2.0), CFG, True, False))
    assert "cannot answer (not every planned cell has finished)" in partial


def test_per_seed_spearman_needs_every_level_of_a_seed():
    rows = _rows(-0.3, 2.0, seeds=range(3))
    rows = [r for r in rows if not (r["seed"] == 1 and r["method"] == LEVELS[2])]
    assert set(per_seed_spearman(rows, LEVELS, "proxy_h", "target_top1")) == {0, 2}


def test_a_correlation_plan_is_checked_when_the_config_is_read():
    import json

    from conftest import REPO

    d = json.loads((REPO / "configs" / "asga_powered.json").read_text())
    d["declared"] = dict(CFG["declared"], correlation=dict(CFG["declared"]["correlation"], levels=LEVELS[:2]))
    with pytest.raises(MpqlabError, match="needs 3 or more levels"):
        GridConfig.from_dict(d, "cfg.json")
    d["declared"]["correlation"]["levels"] = ["edmips", "edmips+asga", "gmpq"]
    with pytest.raises(MpqlabError, match=r"levels\[2\] names 'gmpq'"):
        GridConfig.from_dict(d, "cfg.json")
