import numpy as np
import pytest

from mpqlab.quant.cost import bitops
from mpqlab.core.errors import MpqlabError
from mpqlab.quant.policy import Policy
from mpqlab.search import SearchConfig, read_metrics, read_softmaxes, run
from mpqlab.search.budget import final_policy
from mpqlab.search.hawq import solve_ilp


def test_ilp_picks_the_known_optimum():
    # three layers, candidates (2, 4, 8) bits; cost = MACs * b^2 with MACs 10, 20, 5
    sens = np.array([[9.0, 2.0, 0.1], [4.0, 1.0, 0.5], [50.0, 3.5, 0.0]])
    cost = np.array([[40, 160, 640], [80, 320, 1280], [20, 80, 320]], dtype=float)
    # budget 560: brute force over 27 choices
    best = min(((sens[0, a] + sens[1, b] + sens[2, c], (a, b, c)) for a in range(3) for b in range(3) for c in range(3)
                if cost[0, a] + cost[1, b] + cost[2, c] <= 560))[1]
    # by hand: (4, 2, 8) bits costs 160 + 80 + 320 = 560 with sensitivity 6.0; (4, 4, 4) costs 560 with 6.5
    assert tuple(solve_ilp(sens, cost, 560)) == best == (1, 0, 2)
    assert tuple(solve_ilp(sens, cost, 10_000)) == (2, 2, 2)
    with pytest.raises(MpqlabError):
        solve_ilp(sens, cost, 10)


def test_final_policy_is_the_argmax_when_it_fits_else_the_most_probable_one_that_does():
    table = {"first": {"macs": 10}, "a": {"macs": 100}, "b": {"macs": 100}}
    soft = {"a": {"w": [0.1, 0.2, 0.7], "a": [0.15, 0.2, 0.65]}, "b": {"w": [0.3, 0.3, 0.4], "a": [0.1, 0.1, 0.8]}}
    fixed = 10 * 64
    budget = fixed + 100 * 16 + 100 * 16  # uniform W4A4 over a and b
    fits = {"first": (8, 8), "a": (4, 4), "b": (4, 4)}
    for repair in ("fewest", "most_probable"):
        assert final_policy(fits, soft, table, budget, [2, 4, 8], [2, 4, 8], repair=repair) == (fits, [])
    argmax = {"first": (8, 8), "a": (8, 8), "b": (8, 8)}
    new, changes = final_policy(argmax, soft, table, budget, [2, 4, 8], [2, 4, 8], repair="most_probable")
    assert 0.98 * budget <= bitops(table, new) <= budget and new["first"] == (8, 8)
    # by hand: products w*a summing to 32 (= 16 + 16); a at W8A2 (0.7 * 0.15) with b at W2A8 (0.3 * 0.8) has
    # likelihood 0.0252, more than W2A8/W2A8 (0.0156), W8A2/W8A2 (0.0042) or W4A4/W4A4 (0.0012)
    best = max((((wa, aa), (wb, ab)) for wa in (2, 4, 8) for aa in (2, 4, 8) for wb in (2, 4, 8) for ab in (2, 4, 8)
                if 0.98 * 32 <= wa * aa + wb * ab <= 32),
               key=lambda p: soft["a"]["w"][[2, 4, 8].index(p[0][0])] * soft["a"]["a"][[2, 4, 8].index(p[0][1])]
               * soft["b"]["w"][[2, 4, 8].index(p[1][0])] * soft["b"]["a"][[2, 4, 8].index(p[1][1])])
    assert (new["a"], new["b"]) == best == ((8, 2), (2, 8)) and len(changes) == 2


def test_fewest_repair_changes_the_fewest_layers_then_keeps_the_most_probable():
    """Four layers of equal MACs, argmax W8A8 W4A4 W4A4 W4A4 against a budget of uniform W4A4 (w * a summing to
    64). 'a' must move. By hand: the most probable repair takes 'a' to W8A4 (0.16) and two near-flat layers
    down to W4A2 or W2A4 (0.108 each): likelihood 2.4e-4 against 8.7e-5 for moving 'a' alone to W8A2: 3
    layers; the fewest repair changes 'a' only."""
    table = {n: {"macs": 100} for n in "abcd"}
    flat = {"w": [0.3, 0.36, 0.34], "a": [0.3, 0.36, 0.34]}  # near-flat: the most probable choice is W4A4
    soft = {"a": {"w": [0.05, 0.15, 0.8], "a": [0.05, 0.2, 0.75]}, "b": flat, "c": flat, "d": flat}
    argmax = {"a": (8, 8), "b": (4, 4), "c": (4, 4), "d": (4, 4)}
    budget = 4 * 100 * 16
    new, changes = final_policy(argmax, soft, table, budget, [2, 4, 8], [2, 4, 8], repair="fewest")
    assert 0.98 * budget <= bitops(table, new) <= budget
    assert len(changes) == 1 and changes[0].startswith("a:")
    # brute force over 'a' alone: products w * a <= 16 with the others kept, within [0.98 B, B] -> exactly 16;
    # the most probable such pair for 'a' is W8A2 (0.8 * 0.05 = 0.04) over W2A8 (0.0375) and W4A4 (0.03)
    assert new["a"] == (8, 2)
    mp, mp_changes = final_policy(argmax, soft, table, budget, [2, 4, 8], [2, 4, 8], repair="most_probable")
    assert len(mp_changes) == 3 and mp["a"] == (8, 4)
    with pytest.raises(MpqlabError, match="repair"):
        final_policy(argmax, soft, table, budget, [2, 4, 8], [2, 4, 8], repair="nearest")


def _cfg(**kw):
    base = dict(model="resnet20", data="synthetic", objective="edmips", sharpness="asga", budget=3.0, epochs=2,
                batch_size=32, max_batches=2, per_layer_telemetry=True, w_candidates=[2, 4, 8], a_candidates=[2, 4, 8])
    base.update(kw)
    return SearchConfig(**base)


@pytest.mark.parametrize("objective,sharpness", [("edmips", "asga"), ("gmpq", "sam"), ("edmips", "gsam"),
                                                 ("edmips", "none"), ("hawq", "none")])
def test_search_on_synthetic_data_gives_a_valid_policy_within_budget(tmp_path, objective, sharpness):
    cfg = _cfg(objective=objective, sharpness=sharpness, hawq_batches=1, hawq_probes=4)
    pol = run(cfg, tmp_path / "p.json", show_progress=False)
    loaded = Policy.load(tmp_path / "p.json")
    t = loaded.totals()
    budget = pol.provenance["budget_bitops"]
    assert 0.98 * budget <= t["bitops"] <= budget
    from mpqlab.models import create_model

    loaded.validate(create_model("resnet20", num_classes=10))
    assert loaded.provenance["method"] == cfg.method and loaded.provenance["config"]["seed"] == 0
    if objective != "hawq":
        df = read_metrics(tmp_path / "p.run")
        assert len(df) == 4 and {"loss", "expected_bitops", "cos_alpha_task_cost", "step_time_s"} <= set(df.columns)
        if sharpness != "none":
            assert df["cos_g_gp"].between(-1, 1).all() and any(c.startswith("cos_layer/") for c in df.columns)
        sm = read_softmaxes(tmp_path / "p.run")
        assert set(sm["epoch"]) == {1, 2} and np.allclose(sm.groupby(["epoch", "layer", "kind"])["prob"].sum(), 1)


def test_search_resumes_after_an_interruption_with_the_same_result(tmp_path):
    cfg = _cfg(epochs=3)
    full = run(cfg, tmp_path / "full.json", show_progress=False)
    assert run(cfg, tmp_path / "cut.json", show_progress=False, stop_after_epochs=1) is None
    assert not (tmp_path / "cut.json").exists()
    resumed = run(cfg, tmp_path / "cut.json", show_progress=False)
    assert resumed.bits() == full.bits()
    a = read_metrics(tmp_path / "full.run")
    b = read_metrics(tmp_path / "cut.run")
    assert len(a) == len(b) and np.allclose(a["loss"], b["loss"], atol=1e-5)
    with pytest.raises(MpqlabError, match="other settings"):
        run(_cfg(epochs=3, seed=1), tmp_path / "cut.json", show_progress=False)


def test_bad_search_settings_are_named():
    for kw, msg in [({"objective": "x"}, "unknown objective"), ({"sharpness": "y"}, "unknown sharpness"),
                    ({"objective": "hawq", "sharpness": "asga"}, "not a gradient search"), ({"budget": 0}, "budget")]:
        with pytest.raises(MpqlabError, match=msg):
            _cfg(**kw).check()


def test_temperature_schedule_and_warmup():
    from mpqlab.search.loop import temperature, warmup_steps

    cfg = SearchConfig(tau_start=1.0, tau_end=0.1, warmup_fraction=0.2)
    assert warmup_steps(cfg, 50) == 10
    assert temperature(cfg, 0, 50) == temperature(cfg, 10, 50) == 1.0
    assert temperature(cfg, 49, 50) == pytest.approx(0.1)
    assert temperature(cfg, 10 + 39 // 2, 50) == pytest.approx(0.1 ** ((39 // 2) / 39))
    assert temperature(SearchConfig(tau_end=1.0), 7, 10) == 1.0


def test_budget_outside_the_candidates_range_is_refused_before_any_work():
    with pytest.raises(MpqlabError, match=r"outside the range .*\[2, 4\]"):
        _cfg(budget=1.5, w_candidates=[2, 3, 4], a_candidates=[2, 3, 4]).check()
    with pytest.raises(MpqlabError, match="outside the range"):
        _cfg(budget=99).check()
    with pytest.raises(MpqlabError, match="budget"):
        _cfg(budget=float("nan")).check()


def test_null_baselines_are_budget_matched():
    from mpqlab.quant.cost import budget_bitops, layer_table
    from mpqlab.experiments.null_policies import null_policy
    from mpqlab.models import create_model, first_last_layers
    from mpqlab.search.budget import uniform_bits

    assert uniform_bits(2.5, [2, 3, 4], [2, 3, 4]) == (3, 2)
    assert uniform_bits(4, [2, 3, 4, 6, 8], [2, 3, 4, 6, 8]) == (4, 4)
    assert uniform_bits(3, [2, 3, 4], [2, 3, 4]) == (3, 3)
    search = {"w_candidates": [2, 3, 4], "a_candidates": [2, 3, 4]}
    model = create_model("resnet20")
    table = layer_table(model, (3, 32, 32))
    budget = budget_bitops(table, 2.5, {n: (8, 8) for n in first_last_layers(model)})
    uni = null_policy("resnet20", search, "uniform", 2.5, 0, 10, (3, 32, 32))
    assert {(l["w_bits"], l["a_bits"]) for l in uni.layers.values() if l["searchable"]} == {(3, 2)}
    explicit = null_policy("resnet20", search, "uniform:W2A3", 2.5, 0, 10, (3, 32, 32))
    assert {(l["w_bits"], l["a_bits"]) for l in explicit.layers.values() if l["searchable"]} == {(2, 3)}
    with pytest.raises(MpqlabError, match="does not fit"):
        null_policy("resnet20", search, "uniform:W3A3", 2.5, 0, 10, (3, 32, 32))
    draws = [null_policy("resnet20", search, "random", 2.5, s, 10, (3, 32, 32)) for s in (0, 1, 0)]
    for p in draws:
        assert 0.98 * budget <= p.totals()["bitops"] <= budget
    bits = [[(l["w_bits"], l["a_bits"]) for l in p.layers.values()] for p in draws]
    assert bits[0] == bits[2] and bits[0] != bits[1]
    assert len(set(bits[1])) > 3  # mixed, not a disguised uniform policy


def test_amortised_asga_search_takes_the_ascent_pass_every_k_steps(tmp_path):
    pol = run(_cfg(ascent_every=2, epochs=1, max_batches=4), tmp_path / "p.json", show_progress=False)
    df = read_metrics(tmp_path / "p.run")
    assert list(df.loss_p.isna()) == [False, True, False, True]
    assert df.rho.notna().all() and pol.provenance["config"]["ascent_every"] == 2
    with pytest.raises(MpqlabError, match="ascent_every"):
        _cfg(ascent_every=0).check()


@pytest.mark.slow  # four searches on cifar10-mini
def test_radius_study_runs_reuses_and_summarises(tmp_path, monkeypatch):
    from dataclasses import replace

    from mpqlab.experiments.studies.radius import BASE, bands, radius_study

    monkeypatch.setenv("MPQLAB_COMPILE", "0")
    small = replace(BASE, batch_size=32)  # the grid's proxy search on smaller batches: a run check
    df = radius_study(tmp_path, seeds=(0, 1), radii=("fixed", "relative"), base=small, max_batches=2)
    assert set(df.radius) == {"fixed", "relative"} and set(df.seed) == {0, 1} and len(df) == 16  # 4 steps each
    fixed = df[df.radius == "fixed"]
    assert (fixed.rho_schedule == 0.05).all()  # the schedule's radius; rho is the one the step used, ||e||
    assert ((fixed.rho > 0) & (fixed.rho <= 0.05 * (1 + 1e-6))).all()
    again = radius_study(tmp_path, seeds=(0, 1), radii=("fixed", "relative"), base=small,
                         max_batches=2)  # reused, not rerun
    assert again.equals(df)
    b = bands(df, "rho")
    assert len(b) == 8 and (b["low"] <= b["median"]).all() and (b["median"] <= b["high"]).all()


def test_frozen_weight_search_moves_only_the_bit_logits():
    import torch

    from mpqlab.data import create_dataset, make_loader
    from mpqlab.models import create_model
    from mpqlab.search.loop import Search

    cfg = _cfg(freeze_weights=True, freeze_bn=True, sharpness="none")
    cfg.check()
    data = create_dataset(cfg.data, "train")
    torch.manual_seed(0)
    search = Search(cfg, create_model("resnet20", num_classes=data.num_classes), tuple(data.input_size),
                    next(iter(make_loader(data, 32, train=False)))[0])
    search.net.eval()  # freeze_bn: BatchNorm on its running statistics, as the loop sets it
    frozen = {n: p.detach().clone() for n, p in search.net.named_weight_parameters()
              + search.net.named_quantizer_parameters()}
    buffers = {n: b.clone() for n, b in search.net.named_buffers()}
    logits = [p.detach().clone() for p in search.bit_logits]
    x, y = next(iter(make_loader(data, 32, train=True)))
    for _ in range(3):
        search.step(x, y)
    now = dict(search.net.named_weight_parameters() + search.net.named_quantizer_parameters())
    assert all(torch.equal(frozen[n], now[n]) for n in frozen)
    assert all(torch.equal(buffers[n], b) for n, b in search.net.named_buffers() if "running" in n)
    assert any(not torch.equal(a, p) for a, p in zip(logits, search.bit_logits))
    with pytest.raises(MpqlabError, match="freeze_weights"):
        _cfg(freeze_weights=True, sharpness="asga").check()
