"""Claim 1's cost said one search against one search: target search arms on growing target subsets
(``edmips@target:subset=N``) run from the target checkpoint on N target images, and the declared cost test can
come out either way (supported, not supported on accuracy, not supported on cost, cannot tell)."""
import json
from pathlib import Path

import pytest

from mpqlab.experiments.config import GridConfig
from mpqlab.experiments.report.cost import cost_test

REPO = Path(__file__).resolve().parents[1]
CFG = json.loads((REPO / "configs" / "claim1_cost.json").read_text())


def _rows(diff, proxy_cpu, noise=0.1):
    rows = []
    for i, s in enumerate(CFG["seeds"]):
        wobble = noise * (i - 1.5)
        rows.append({"setting": "class-shift", "method": "edmips+asga", "budget": 2.5, "seed": s, "proxy_size": 2000,
                     "target_top1": 80.0 + diff + wobble, "search_cpu_time_s": proxy_cpu})
        for n, cpu in ((2000, 17.0), (10000, 85.0), (50000, 420.0)):
            rows.append({"setting": "class-shift", "method": f"edmips@target:subset={n}", "budget": 2.5, "seed": s,
                         "proxy_size": n, "target_top1": 80.0, "search_cpu_time_s": cpu})
    return rows


def test_the_cost_test_goes_every_way():
    text = "\n".join(cost_test(_rows(0.0, 35.0), CFG, True, True))
    assert "**supported: not worse than the full target search by more than 0.5 points, at 0.08x its CPU**" in text
    assert "| edmips@target:subset=2000 | 4 |" in text and "2.06x" in text  # one proxy search vs one target search
    assert "**not supported: worse than the full target search" in "\n".join(cost_test(_rows(-3.0, 35.0), CFG, True,
                                                                                      True))
    assert "not cheaper" in "\n".join(cost_test(_rows(0.0, 900.0), CFG, True, True))
    assert "cannot tell" in "\n".join(cost_test(_rows(0.0, 35.0, noise=3.0), CFG, True, True))
    assert "cannot answer (a validity gate failed)" in "\n".join(cost_test(_rows(0.0, 35.0), CFG, False, True))


def test_a_sized_target_arm_searches_the_target_on_its_subset():
    cfg = GridConfig.from_dict(CFG)
    s = cfg.search_config("edmips@target:subset=10000", "class-shift", 3, 2.5)
    assert (s.data, s.subset, s.checkpoint) == ("cifar10", 10000, CFG["target"]["init"])
    p = cfg.search_config("edmips+asga", "class-shift", 3, 2.5)
    assert (p.data, p.subset) == ("cifar10-mini-animals5", 2000)
    with pytest.raises(Exception, match="sets subset"):
        GridConfig.from_dict(dict(CFG, methods=CFG["methods"] + ["edmips+asga:subset=10"])).search_config(
            "edmips+asga:subset=10", "class-shift", 0, 2.5)
