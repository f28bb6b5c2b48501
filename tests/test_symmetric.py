"""Claim 1 like with like: selected proxy arms (@selected) and the reference's unchosen candidates transferred, so
a proxy search meets a target search at the same level of selection."""
import pytest

from mpqlab.core.errors import MpqlabError
from mpqlab.experiments.config import GridConfig
from mpqlab.search.methods import parse_method
from mpqlab.experiments.presets import smoke_config
from mpqlab.experiments.report.symmetric import unselected_pairs


def test_selected_methods_parse_and_need_a_selection_block():
    m = parse_method("edmips+asga@selected")
    assert (m.objective, m.rule, m.selected, m.on_target) == ("edmips", "asga", True, False)
    cfg = dict(smoke_config(), methods=["uniform", "edmips", "edmips@selected"])
    with pytest.raises(MpqlabError, match="an @selected method needs a selection block"):
        GridConfig.from_dict(cfg, "cfg.json")
    with pytest.raises(MpqlabError, match="unknown key.*in selection"):
        GridConfig.from_dict(dict(cfg, selection={"candidates": 2, "epochs": 3}), "cfg.json")
    assert GridConfig.from_dict(dict(cfg, selection={"candidates": 2})).selection == {"candidates": 2}


def test_unselected_arms_meet_the_mean_of_the_reference_candidates():
    rows = []
    for s in range(4):
        rows.append({"setting": "reference", "method": "edmips@target", "budget": 2.5, "seed": s, "target_top1": 82.0,
                     "candidates_mean_top1": 80.0 + 0.1 * s})
        rows.append({"setting": "x", "method": "edmips", "budget": 2.5, "seed": s, "target_top1": 79.0 + 0.1 * s + 0.01 * s * s})
        rows.append({"setting": "x", "method": "edmips@selected", "budget": 2.5, "seed": s, "target_top1": 81.0})
    pairs = unselected_pairs(rows)
    assert [(p["setting"], p["method"], len(p["diffs"])) for p in pairs] == [("x", "edmips", 4)]
    assert pairs[0]["diffs"][0] == pytest.approx(-1.0)


@pytest.mark.slow
def test_a_grid_with_selected_arms_and_transferred_candidates_runs(tmp_path):
    """End to end on synthetic data: the reference transfers its unchosen candidates, the @selected proxy arm is
    the best of its own candidates, and the report sets unselected against unselected."""
    from mpqlab.experiments.executors import run_grid
    from mpqlab.experiments.cell import grid_cells
    from mpqlab.core.files import read_json

    block = {"candidates": 2, "subset": 48, "validation_images": 32, "bn_batches": 1, "transfer_candidates": True}
    cfg = dict(smoke_config(), seeds=[0, 1], methods=["uniform", "edmips", "edmips@selected", "edmips@target"],
               reference=dict(block, max_batches=2), selection=block,
               comparisons=[["edmips@selected", "edmips@target"], ["edmips", "edmips@target"]])
    path = run_grid(cfg, tmp_path, show_progress=False)
    ref = next(c for c in grid_cells(cfg) if c.method == "edmips@target").folder(tmp_path)
    row = read_json(ref / "row.json")
    chosen = read_json(ref / "policy.json")["provenance"]["reference_selection"]["chosen"]
    assert (ref / f"candidate{1 - chosen}_transfer.json").is_file() and len(row["candidates_top1"].split()) == 2
    sel = next(c for c in grid_cells(cfg) if c.method == "edmips@selected").folder(tmp_path)
    prov = read_json(sel / "policy.json")["provenance"]
    assert prov["method"].startswith("edmips@selected (best of candidates by held-out proxy validation)")
    assert (sel / "candidate0.json").is_file() and (sel / "candidate1.json").is_file()
    srow = read_json(sel / "row.json")  # each proxy candidate measured on the proxy side, for claim 3 within seed
    assert len(srow["candidates_proxy_h"].split()) == 2 and len(srow["candidates_proxy_trace"].split()) == 2
    assert (sel / "candidate0_proxy.json").is_file() and len(srow["source_hash"]) == 12
    picked = read_json(sel / "policy.json")["provenance"]["reference_selection"]["chosen"]
    assert srow["proxy_h"] == round(read_json(sel / f"candidate{picked}_proxy.json")["proxy_h"], 5)  # measured once
    assert (tmp_path / "configs" / f"{srow['config_hash']}.json").is_file()  # the hash resolves to the config
    text = (tmp_path / "results.md").read_text()
    assert "## Claim 1, like with like" in text and "| proxy-subset | edmips | 2 |" in text
    assert "edmips@selected" in text and path.name == "results.csv"


def test_the_answer_is_selected_against_selected_and_no_verdict_is_printed_before_the_grid_can_give_one():
    from mpqlab.experiments.report.symmetric import selected_pairs, symmetric_lines

    rows = []
    for s in range(4):
        rows.append({"setting": "reference", "method": "edmips@target", "budget": 2.5, "seed": s, "target_top1": 82.0,
                     "candidates_mean_top1": 80.0 + 0.1 * s})
        rows.append({"setting": "x", "method": "edmips", "budget": 2.5, "seed": s, "target_top1": 70.0 + 3 * s})
        rows.append({"setting": "x", "method": "edmips@selected", "budget": 2.5, "seed": s,
                     "target_top1": 82.0 + 0.01 * (-1) ** s})
    pairs = selected_pairs(rows)
    assert [(p["setting"], p["method"], len(p["diffs"])) for p in pairs] == [("x", "edmips@selected", 4)]
    assert pairs[0]["diffs"][1] == pytest.approx(-0.01)
    cfg = smoke_config()
    text = "\n".join(symmetric_lines(rows, cfg))
    assert "| selected vs selected (the answer) | x | edmips@selected | 4 | +0.00 |" in text
    assert "**equivalent**" in text.split("selected vs selected (the answer)")[1].split("\n")[0]
    held = "\n".join(symmetric_lines(rows, cfg, verdicts=False))
    assert "No verdicts" in held and "equivalent" not in held.replace("Equivalence", "")
    assert all(line.endswith("| — | — |") for line in held.splitlines() if line.startswith("| selected vs")
               or line.startswith("| unselected vs"))
    # the unselected arm sits far below the candidates' mean (-5.65 points on average): not non-inferior
    (unsel,) = [l for l in text.splitlines() if l.startswith("| unselected vs")]
    assert unsel.endswith("| not shown |")
    assert text.split("selected vs selected (the answer)")[1].split("\n")[0].endswith("| yes |")


def test_claim_1_is_answered_by_the_declared_equivalence_of_selected_against_selected():
    from mpqlab.experiments.report.verdicts import claims, comparisons

    def rows_with(offsets):
        rows = []
        for s, off in enumerate(offsets):
            rows.append({"setting": "reference", "method": "edmips@target", "budget": 2.5, "seed": s,
                         "target_top1": 80.0 + s})
            rows.append({"setting": "x", "method": "edmips+asga@selected", "budget": 2.5, "seed": s,
                         "target_top1": 80.0 + s + off})
        return rows

    cfg = dict(smoke_config(), comparisons=[["edmips+asga@selected", "edmips@target"]])
    def word(offsets):
        rows = rows_with(offsets)
        (c,) = [c for c in claims(comparisons(rows, cfg), rows, cfg, True) if "both selected alike" in c["claim"]]
        return c["verdict"]

    assert word([0.05, -0.05, 0.1, -0.1, 0.0, 0.02]) == "supported"  # 90 % CI well inside ±0.5
    assert word([-2.0, -2.1, -1.9, -2.05, -1.95, -2.0]) == "not supported"  # clearly worse
    assert word([1.5, -1.5, 1.0, -1.2, 0.3, -0.4]) == "cannot tell"  # too noisy to say either
    # clearly better: not equivalent by the declared rule, and the claim line names the direction
    rows = rows_with([1.5, 1.6, 1.4, 1.55, 1.45, 1.5])
    (c,) = [c for c in claims(comparisons(rows, cfg), rows, cfg, True) if "both selected alike" in c["claim"]]
    assert c["verdict"] == "not supported" and "the proxy arm is higher" in c["evidence"]
    rows = rows_with([-2.0, -2.1, -1.9, -2.05, -1.95, -2.0])
    (c,) = [c for c in claims(comparisons(rows, cfg), rows, cfg, True) if "both selected alike" in c["claim"]]
    assert "the proxy arm is lower" in c["evidence"]
