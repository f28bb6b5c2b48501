"""claim1_class_shift's two declared tests, as the report applies them: the group-sequential equivalence test
(repeated 90 % intervals within +-0.5, stopping either way) and claim 3 across the candidate searches of one seed
(gated on the candidates' sharpness differing within seed). Each can come out either way, and each waits for its
data; the provenance a new row carries names the source and the config that made it."""
import json
import random
from pathlib import Path

import numpy as np
import pytest

from mpqlab.core.errors import MpqlabError
from mpqlab.experiments.config import GridConfig
from mpqlab.core.provenance import code_version, config_hash, source_hash
from mpqlab.experiments.report.correlation import correlation_test, spread_gate
from mpqlab.experiments.report.sequential import sequential_test

REPO = Path(__file__).resolve().parents[1]
CFG = json.loads((REPO / "configs" / "claim1_class_shift.json").read_text())
A, B = CFG["declared"]["primary"]


def _pairs(n, shift, sd, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in CFG["seeds"][:n]:
        rows.append({"setting": "reference", "method": B, "budget": 2.5, "seed": s, "target_top1": 80.0})
        rows.append({"setting": "class-shift", "method": A, "budget": 2.5, "seed": s,
                     "target_top1": 80.0 + shift + sd * rng.standard_normal()})
    return rows


def test_equivalence_waits_for_a_look_then_stops_either_way():
    text = "\n".join(sequential_test(_pairs(19, 0.0, 0.1), CFG, gates_ok=True))
    assert "cannot answer yet" in text and "19 of 20" in text
    text = "\n".join(sequential_test(_pairs(20, 0.0, 0.1), CFG, gates_ok=True))  # tight around 0: equivalent
    assert "**equivalent (stopped at look 1)**" in text
    text = "\n".join(sequential_test(_pairs(20, -3.0, 0.5), CFG, gates_ok=True))  # far below the margin
    assert f"not equivalent ({A} worse by more than 0.5) (stopped at look 1)" in text
    text = "\n".join(sequential_test(_pairs(20, 0.0, 3.0), CFG, gates_ok=True))  # too noisy for look 1
    assert "continue: look 1 decided nothing; next look at 40 pairs" in text
    text = "\n".join(sequential_test(_pairs(64, 0.4, 3.0), CFG, gates_ok=True))
    assert "not shown equivalent (the final look)" in text
    text = "\n".join(sequential_test(_pairs(20, 0.0, 0.1), CFG, gates_ok=False))
    assert "cannot answer (a validity gate failed)" in text


def _candidates(h_spread, top1_per_h, seeds=range(42, 54), noise=0.05):
    rng = random.Random(1)
    rows = []
    for s in seeds:
        h = [1.0 + h_spread * rng.uniform(-1, 1) for _ in range(4)]
        top1 = [80 + top1_per_h * v + rng.gauss(0, noise) for v in h]
        rows.append({"setting": "class-shift", "method": A, "budget": 2.5, "seed": s,
                     "candidates_proxy_h": " ".join(f"{k}:{v:.5f}" for k, v in enumerate(h)),
                     "candidates_proxy_trace": " ".join(f"{k}:{100 * v:.2f}" for k, v in enumerate(h)),
                     "candidates_top1": " ".join(f"{k}:{v:.3f}" for k, v in enumerate(top1))})
    return rows


def test_claim3_across_candidates_is_gated_and_goes_either_way():
    worse = "\n".join(correlation_test(_candidates(0.3, -5.0), CFG, True, True))
    assert "Gate: median" in worse and "**PASS**" in worse and "`proxy_h`: as predicted" in worse
    better = "\n".join(correlation_test(_candidates(0.3, +5.0), CFG, True, True))
    assert "`proxy_h`: against the prediction" in better
    flat = "\n".join(correlation_test(_candidates(0.01, -5.0), CFG, True, True))  # h barely differs: no answer
    assert "**FAIL**" in flat and "cannot answer (the candidates' sharpness does not differ within seed)" in flat
    assert spread_gate(_candidates(0.3, 0.0), A, "class-shift", "proxy_h")["n"] == 12
    partial = "\n".join(correlation_test(_candidates(0.3, -5.0), CFG, True, False))
    assert "cannot answer (not every planned cell has finished)" in partial


def test_a_candidates_test_must_name_a_selected_arm():
    d = json.loads(json.dumps(CFG))
    d["declared"]["correlation"]["arm"] = "edmips@target"
    with pytest.raises(MpqlabError, match="declared.correlation.arm"):
        GridConfig.from_dict(d)


def test_rows_name_the_source_and_the_config():
    assert code_version()["source_hash"] == source_hash() and len(source_hash()) == 12
    other = dict(CFG, seeds=CFG["seeds"][:3])
    assert config_hash(CFG) == config_hash(json.loads(json.dumps(CFG))) != config_hash(other)
    from mpqlab.experiments.cell import COLUMNS
    assert {"source_hash", "config_hash", "candidates_proxy_h", "candidates_proxy_trace"} <= set(COLUMNS)
