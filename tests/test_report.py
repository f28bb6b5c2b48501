import pytest

from mpqlab.experiments.report import comparisons, gates, markdown

CFG = {"name": "t", "model": "resnet20", "target": {"data": "cifar10"}, "methods": ["uniform", "edmips+asga",
       "edmips", "edmips@target"], "equivalence_margin": 0.5}
NOISE = [0.3, -0.2, 0.1, -0.4, 0.2, 0.0, -0.1, 0.35]  # per-seed noise shared by every method of a seed


def _rows(ref_gain, asga_gain, dec=0.9, changed=1, at_bound=0.1):
    rows = []
    for s, e in enumerate(NOISE):
        base = 80.0 + 3 * e  # seed effect, common to all methods of the seed: pairing removes it
        for m, gain in (("uniform", 0.0), ("edmips@target", ref_gain), ("edmips", asga_gain - 0.05 * (s % 3)),
                        ("edmips+asga", asga_gain)):
            rows.append({"setting": "reference" if m == "edmips@target" else "subset-control", "method": m,
                         "budget": 2.5, "seed": s, "target_top1": base + gain + 0.05 * ((s * 7 + len(m)) % 5),
                         "average_bits": 2.5, "search_cpu_time_s": 10.0 if m != "edmips@target" else 100.0,
                         "search_cost_ratio": 0.1, "decisiveness": dec if m != "uniform" else "",
                         "layers_changed_by_budget": changed if m != "uniform" else "",
                         "rho_at_bound_share": at_bound if m.endswith("asga") else "", "gap": 1.0,
                         "target_surrogate_gap": 0.1})
    return rows


def test_gates_pass_when_search_matters_and_comparisons_are_paired():
    rows = _rows(ref_gain=2.0, asga_gain=2.0)
    comps = comparisons(rows, CFG)
    ref_u = [c for c in comps if c["a"] == "edmips@target" and c["b"] == "uniform"]
    assert len(ref_u) == 1 and abs(ref_u[0]["mean"] - 2.0) < 0.2 and ref_u[0]["p_t"] < 1e-6  # the seed effect cancels
    assert all(g["passed"] for g in gates(rows, CFG, comps))
    text = markdown(rows, CFG)
    assert "All gates pass" in text and "cannot answer" not in text
    assert "proxy search (subset-control) against the target search (one proxy search costs" in text
    assert "No claim verdict here" in text and "**supported**" not in text  # one answer per claim: answers.py


def test_a_failed_gate_withholds_every_verdict():
    for rows in (_rows(ref_gain=0.2, asga_gain=0.2), _rows(2.0, 2.0, dec=0.3), _rows(2.0, 2.0, changed=12),
                 _rows(2.0, 2.0, at_bound=0.9)):
        text = markdown(rows, CFG)
        assert "cannot answer the paper's question" in text and "**FAIL**" in text
        assert "better |" not in text and "**supported**" not in text


def test_an_incomplete_grid_gives_no_verdicts_even_when_its_gates_pass():
    rows = _rows(ref_gain=2.0, asga_gain=2.0)
    assert "PARTIAL" not in markdown(rows, CFG, cells_expected=len(rows))
    text = markdown(rows, CFG, cells_expected=len(rows) + 4)
    assert text.splitlines()[4].startswith(f"**PARTIAL: {len(rows)} of {len(rows) + 4} cells finished.")
    assert "All gates pass" not in text and "**supported**" not in text and "better |" not in text
    assert "**The grid is incomplete" in text and "| — |" in text


def test_the_table_counts_each_methods_layers_at_the_lowest_bitwidth():
    rows = _rows(ref_gain=2.0, asga_gain=2.0)
    for r in rows:  # 4 searchable layers; the reference puts 2-bit weights on 3 of them, uniform on none
        r["policy_bits"] = {"edmips@target": "2/3 2/3 2/2 3/3", "uniform": "3/2 3/2 3/2 3/2"}.get(r["method"], "")
    text = markdown(rows, CFG)
    assert "| layers at lowest W / A bits |" in text.splitlines()[4]
    ref = next(l for l in text.splitlines() if l.startswith("| reference | 2.5 | edmips@target |"))
    uni = next(l for l in text.splitlines() if l.startswith("| subset-control | 2.5 | uniform |"))
    asga = next(l for l in text.splitlines() if l.startswith("| subset-control | 2.5 | edmips+asga |"))
    assert "| 3.0 / 1.0 |" in ref and "| 0.0 / 4.0 |" in uni and "| n/a |" in asga  # asga rows have no policy


def test_a_reports_section_is_read_back_up_to_the_next_heading():
    from mpqlab.experiments.report import section

    text = markdown(_rows(ref_gain=0.2, asga_gain=0.2), CFG)
    gates_text = section(text, "Validity gates")
    assert gates_text.startswith("- **FAIL** search matters") and "cannot answer" in gates_text
    assert "##" not in gates_text and "Pre-declared" not in gates_text
    assert section(text, "No such section") == ""


def test_holm_family_and_verdict_words():
    rows = _rows(ref_gain=2.0, asga_gain=2.0)
    comps = comparisons(rows, CFG)
    ps = sorted(c["p_t"] for c in comps)
    assert all(c["p_holm"] >= c["p_t"] for c in comps) and len(comps) == 5  # no edmips+sam cells
    assert min(c["p_holm"] for c in comps) == min(1.0, len(comps) * ps[0])
    better = [c for c in comps if c["a"] == "edmips+asga" and c["b"] == "edmips"][0]
    assert better["mean"] > 0 and better["verdict"] == "better"


def test_fig1_points_and_the_sharpness_claim():
    from mpqlab.experiments.report import fig1_correlations, fig1_points, sharpness_claim

    rows = _rows(ref_gain=2.0, asga_gain=2.0)
    seed_ref = {r["seed"]: r["target_top1"] for r in rows if r["method"] == "edmips@target"}
    for i, r in enumerate(rows):  # sharper (larger h) policies lose more against their seed's reference
        pen_proxy = seed_ref[r["seed"]] - r["target_top1"]
        r.update(proxy_h=0.01 * pen_proxy + 0.001 * (i % 3), proxy_sigma_max=5.0, proxy_trace=float(i))
    pts = fig1_points(rows)
    assert len(pts) == 16 and all(p["method"] in ("edmips", "edmips+asga") for p in pts)  # no reference, no uniform
    ref = {r["seed"]: r["target_top1"] for r in rows if r["method"] == "edmips@target"}
    p0 = pts[0]
    src = [r for r in rows if r["method"] == p0["method"] and r["seed"] == p0["seed"]][0]
    assert p0["penalty"] == src["target_top1"] - ref[p0["seed"]]
    corr = {c["measure"]: c for c in fig1_correlations(pts)}
    assert corr["proxy_h"]["spearman"] < -0.5 and corr["proxy_h"]["ci_high"] < 0
    assert sharpness_claim(corr["proxy_h"], True, min_points=15) == "supported"
    assert sharpness_claim(corr["proxy_h"], True).startswith("cannot tell")  # 16 < 30 policies
    assert sharpness_claim(corr["proxy_h"], False).startswith("cannot answer")


def test_ranking_check_names_the_pairs_a_longer_fine_tune_swaps():
    from mpqlab.experiments.report import ranking_check

    rows = _rows(ref_gain=2.0, asga_gain=1.0)
    same = [dict(r, target_top1=r["target_top1"] + 1.5) for r in rows]  # every method gains alike: same order
    assert all(c["tau"] == 1.0 and not c["swapped"] for c in ranking_check(same, rows))
    swapped = [dict(r, target_top1=r["target_top1"] + (3.0 if r["method"] == "uniform" else 0.0)) for r in rows]
    checks = ranking_check(swapped, rows)
    assert len(checks) == len(NOISE) + 1 and checks[-1]["seed"] is None  # every seed, then the seed means
    assert all(("edmips", "uniform") in c["swapped"] and ("edmips+asga", "uniform") in c["swapped"] for c in checks)
    assert all(c["pairs"] == 6 and c["tau"] < 1.0 for c in checks)
    text = markdown(swapped, dict(CFG, policies_from="elsewhere"), rows)
    assert "Ranking check: this grid against elsewhere" in text and f"Same order on 0 of {len(NOISE)} seeds" in text


def test_ranking_check_means_leave_out_a_seed_one_grid_has_not_finished():
    from mpqlab.experiments.report import ranking_check

    rows = _rows(ref_gain=2.0, asga_gain=1.0)
    seed0 = rows[0]["seed"]
    # this grid's uniform cell of seed0 is unfinished, and its other cells there are far off: a mean over
    # every seed would mix seed0 into all methods but uniform
    here = [dict(r, target_top1=r["target_top1"] - (50.0 if r["seed"] == seed0 else 0.0)) for r in rows
            if not (r["seed"] == seed0 and r["method"] == "uniform")]
    mean = [c for c in ranking_check(here, rows) if c["seed"] is None][0]
    assert mean["tau"] == 1.0 and not mean["swapped"]
    full = [r for r in rows if r["seed"] != seed0]
    assert mean["here"] == [c for c in ranking_check(full, full) if c["seed"] is None][0]["here"]


def test_cell_agreement_counts_equal_layers_and_pairs_top1_by_cell():
    from mpqlab.experiments.report import cell_agreement

    rows = _rows(ref_gain=2.0, asga_gain=1.0)
    for r in rows:
        r["policy_bits"] = "3/2 3/2 2/3 4/2"
    other = [dict(r, target_top1=r["target_top1"] - 0.5, policy_bits="3/2 2/2 2/3 4/2",
                  search_cpu_time_s=2 * r["search_cpu_time_s"]) for r in rows]
    agree = cell_agreement(rows, other[1:])  # one cell has no partner there
    assert len(agree["cells"]) == len(rows) - 1
    assert all(c["same"] == 3 and c["layers"] == 4 for c in agree["cells"])
    assert agree["test"]["mean"] == pytest.approx(0.5) and agree["test"]["n"] == len(rows) - 1
    text = markdown(rows, dict(CFG, compare_with="there"), other)
    assert "## Against there (the same cells there)" in text and "3 of 4" in text and "(0.50x)" in text
    assert "75 %) with the same bits" in text
    assert "ran under different code here and there" not in text  # neither side recorded a commit: both alike
    mixed = markdown([dict(r, code_commit="aaaaaaa") for r in rows], dict(CFG, compare_with="there"),
                     [dict(r, code_commit="bbbbbbb") for r in other])
    assert f"**{len(rows)} of {len(rows)} cells ran under different code here and there**" in mixed
    assert "| aaaaaaa / bbbbbbb |" in mixed


def test_reused_policies_take_the_cost_ratio_from_the_grid_where_both_were_searched():
    source = _rows(ref_gain=2.0, asga_gain=1.0)
    here = [dict(r, search_cost_ratio=0.4) for r in source]  # the reference timed again, elsewhere: another ratio
    text = markdown(here, dict(CFG, policies_from="elsewhere"), source)
    assert "Policies reused from elsewhere carry the search CPU time" in text
    assert "costs 0.10x one target search's CPU in elsewhere's run, where both were searched" in text
    assert "0.40x" in text  # the table keeps its own
    plain = markdown(here, CFG)
    assert "Policies reused" not in plain and "costs 0.40x one target search" in plain


def test_shared_null_cells_pair_with_every_settings_methods():
    rows = _rows(ref_gain=2.0, asga_gain=2.0)
    for r in rows:  # the uniform cells run once, in the shared setting; a second proxy setting has its own searches
        if r["method"] == "uniform":
            r["setting"] = "shared"
    rows += [dict(r, setting="cross-dataset", target_top1=r["target_top1"] - 1.0) for r in rows
             if r["setting"] == "subset-control"]
    comps = comparisons(rows, dict(CFG, shared_nulls=True))
    vs_u = {(c["setting"], c["a"]): c for c in comps if c["b"] == "uniform"}
    assert {("subset-control", "edmips+asga"), ("cross-dataset", "edmips+asga"), ("all", "edmips@target")} <= set(vs_u)
    assert abs(vs_u[("cross-dataset", "edmips+asga")]["mean"] - (vs_u[("subset-control", "edmips+asga")]["mean"] - 1)) < 1e-9
    assert all(c["n"] == len(NOISE) for c in comps)
    assert sum(1 for c in comps if c["a"] == "edmips@target" and c["b"] == "uniform") == 1  # counted once


def _declared_cfg(n_seeds):
    return dict(CFG, methods=["uniform", "edmips", "edmips+asga"], seeds=list(range(n_seeds)), budgets=[2.5],
                comparisons=[["edmips+asga", "edmips"], ["edmips", "uniform"]],
                declared={"question": "q", "primary": ["edmips+asga", "edmips"], "control": ["edmips", "uniform"],
                          "setting": "subset-control", "effect": 0.5, "assumed_sd": 1.0, "assumed_sd_source": "s"})


@pytest.mark.parametrize("asga_gain,word", [(2.6, "edmips+asga improves edmips"),
                                            (1.9, "edmips+asga does not improve edmips by 0.5 points or more")])
def test_a_declared_primary_test_gives_a_verdict_either_way(asga_gain, word):
    rows = [r for r in _rows(ref_gain=2.0, asga_gain=asga_gain) if r["method"] != "edmips@target"]
    for r in rows:  # edmips sits 2 points above uniform: the declared positive control separates
        if r["method"] == "edmips":
            r["target_top1"] += 2.0 - asga_gain
    text = markdown(rows, _declared_cfg(len(NOISE)))
    assert "**PASS** the test separates" in text and f"Verdict: **{word}" in text
    assert "34 seeds give 80% power at 0.5 points" in text and "Power reached" in text


def test_a_declared_test_short_of_its_planned_seeds_withholds_the_verdict():
    rows = [r for r in _rows(ref_gain=2.0, asga_gain=2.0) if r["method"] != "edmips@target"]
    text = markdown(rows, _declared_cfg(48))
    assert "cannot answer (8 of 48 planned seeds finished)" in text


def test_equivalence_verdict_by_two_one_sided_tests():
    from mpqlab.experiments.report import equivalence_verdict

    assert "**equivalent** within ±0.5" in equivalence_verdict([0.1, -0.1, 0.05, -0.05, 0.0, 0.08], 0.5)
    assert "they differ" in equivalence_verdict([-0.58, -1.04, -0.42, -1.33], 0.5)  # grid_v2_asga_k5's cells
    assert "not shown" in equivalence_verdict([1.5, -1.4, 0.9, -1.2], 0.5)


def test_fig1_note_carries_both_correlations_and_the_gates():
    from mpqlab.experiments.report import fig1_note, gate_marks

    pts = [{"method": m, "setting": "s", "seed": i, "budget": 2.5, "penalty": float(i + (m == "random") * 5),
            "proxy_h": float(i), "proxy_sigma_max": 1.0, "proxy_trace": 1.0}
           for i in range(6) for m in ("edmips", "random")]
    text = markdown(_rows(ref_gain=2.0, asga_gain=2.0), CFG)
    marks = gate_marks(text)
    assert [m for m, _ in marks] == ["PASS", "PASS", "PASS"] and marks[0][1] == "search matters"
    note = fig1_note(pts, marks)
    assert "all plotted" in note and "n = 12" in note and "searched policies only: +1.00" in note and "n = 6" in note
    assert "(verdicts allowed)" in note
    failed = gate_marks(markdown(_rows(ref_gain=0.2, asga_gain=0.2), CFG))
    assert "this figure tests nothing" in fig1_note(pts, failed)


def test_a_pair_of_shared_cells_is_compared_once():
    rows = _rows(ref_gain=2.0, asga_gain=2.0)
    for r in rows:
        if r["method"] == "uniform":
            r["setting"] = "shared"
    rows += [dict(r, setting="shared", method="random", target_top1=r["target_top1"] - 10) for r in rows
             if r["method"] == "uniform"]
    rows += [dict(r, setting="cross-dataset") for r in rows if r["setting"] == "subset-control"]
    cfg = dict(CFG, shared_nulls=True, comparisons=[["random", "uniform"], ["edmips", "uniform"]])
    comps = comparisons(rows, cfg)
    assert [(c["setting"], c["a"]) for c in comps if c["a"] == "random"] == [("all", "random")]
    assert {c["setting"] for c in comps if c["a"] == "edmips"} == {"subset-control", "cross-dataset"}


def test_a_partly_retaken_target_h_is_never_averaged_with_the_prefix_cells():
    """Part of a grid re-taken with the sampler: the target h column averages those cells only and says how many."""
    rows = _rows(ref_gain=2.0, asga_gain=1.0)
    for i, r in enumerate(rows):
        retaken = i % 2 == 0
        r.update(target_h_sample="stratified 512" if retaken else "first 512 test images",
                 target_surrogate_gap=0.2 if retaken else 1.5)
    text = markdown(rows, CFG)
    assert "for " + str(sum(1 for i in range(len(rows)) if i % 2 == 0)) + f" of {len(rows)} cells so far" in text
    assert "never the two kinds together" in text and "| 0.2000 ± 0.0000 (n = " in text and "1.5000" not in text
