"""The typed grid config: built from the JSON form, checked before any work, the one place a cell's search and
fine-tune configs come from."""
import json
import re

import pytest

from conftest import REPO
from mpqlab.core.errors import MpqlabError
from mpqlab.experiments.cell import load_config
from mpqlab.experiments.config import GridConfig
from mpqlab.search import SearchConfig
from mpqlab.training.transfer import TransferConfig


def _cfg(**over):
    d = json.loads((REPO / "configs" / "asga_powered.json").read_text())
    d.update(over)
    return d


def test_every_committed_config_builds_into_the_values_it_states():
    """Each typed field is read from the JSON, not defaulted: seeds, budgets, methods, the fine-tune, every setting
    and the shared search block reach the config, and a cell's search sees the block's values."""
    for path in sorted((REPO / "configs").glob("grid_*.json")) + [REPO / "configs" / "asga_powered.json"]:
        d = json.loads(path.read_text())
        cfg = load_config(path)  # policies_from / compare_with name committed results folders, present here
        assert cfg.seeds == tuple(d["seeds"]) and cfg.budgets == tuple(float(b) for b in d["budgets"]), path.name
        assert cfg.methods == tuple(d["methods"]) and cfg.target.data == d["target"]["data"], path.name
        assert cfg.target.finetune.epochs == d["target"].get("finetune_epochs", TransferConfig().epochs), path.name
        assert cfg.target.finetune.subset == d["target"].get("finetune_subset"), path.name
        assert cfg.report.gate_margin == d.get("gate_margin", 1.0), path.name
        assert cfg.report.comparisons == d.get("comparisons"), path.name
        assert {k: (v.proxy, v.proxy_init, v.proxy_subset) for k, v in cfg.settings.items()} == {
            k: (v["proxy"], v["proxy_init"], v.get("proxy_subset")) for k, v in d["settings"].items()}, path.name
        setting = next(iter(cfg.settings))
        s = cfg.search_config("edmips", setting, cfg.seeds[0], cfg.budgets[0])
        for key, value in (d.get("search") or {}).items():
            assert getattr(s, key) == value, (path.name, key)
        assert cfg.sharpness_images == d.get("sharpness_images", 512), path.name


def test_typed_fields_and_cell_configs():
    cfg = GridConfig.from_dict(_cfg())
    assert cfg.seeds == tuple(range(68)) and cfg.budgets == (2.5,) and cfg.method_seeds["uniform:W3A2"] == tuple(range(16))
    assert cfg.target.finetune == TransferConfig(epochs=1, lr=0.01, subset=5000)
    assert cfg.report.declared.primary == ["edmips+asga", "edmips"] and cfg.report.declared.assumed_sd == 1.44
    s = cfg.search_config("edmips+asga", "subset-control", 7, 2.5)
    assert isinstance(s, SearchConfig) and (s.objective, s.sharpness, s.seed, s.proxy_seed) == ("edmips", "asga", 7, 7)
    assert (s.data, s.subset, s.epochs, s.w_candidates) == ("cifar10-mini", 2000, 2, [2, 3, 4])
    assert cfg.transfer_config(7).seed == 7 and cfg.transfer_config(7).epochs == 1
    ref = cfg.proxy_of("reference", "edmips@target")
    assert (ref.proxy, ref.proxy_init) == ("cifar10", cfg.target.init)


@pytest.mark.parametrize("change, message", [
    ({"search": {"epochs": 0}}, "epochs"),
    ({"search": {"tau_end": -1.0}}, "tau"),
    ({"search": {"epoch": 2}}, "unknown key(s) epoch in search"),
    ({"budgets": [1.0]}, "budget"),
    ({"methods": ["edmips+nosuchrule"]}, "unknown method"),
    ({"target": {"data": "cifar10", "init": "x", "finetune_epochs": 0}}, "epochs"),
    ({"target": {"init": "x"}}, "target lacks 'data'"),
    ({"settings": {"s": {"proxy": "cifar10-mini"}}}, "settings.s needs"),
    ({"seeds": [-1]}, "seeds must be a non-empty list of whole numbers >= 0, got -1"),
    ({"seeds": [0.5]}, "seeds must be"),
    ({"seeds": []}, "seeds must be"),
    ({"budgets": ["4"]}, "budgets must be a non-empty list of positive numbers"),
    ({"search": {"epochs": "two"}}, "search: epochs must be a number, got 'two'"),
    ({"search": {"epochs": 1.5}}, "search: epochs must be a whole number"),
    ({"search": {"momentum": "high"}}, "search: momentum must be a number"),
    ({"search": {"bilevel": "yes"}}, "search: bilevel must be true or false"),
    ({"sharpness_images": -4}, "sharpness_images must be a positive whole number"),
    ({"target": {"data": "cifar10", "init": "x", "finetune_subset": -5}}, "target.subset must be"),
    ({"target": {"data": "cifar10", "init": "x", "batch_size": 0}}, "target.batch_size must be"),
    ({"target": {"data": "cifar10", "init": "x", "weight_decay": "none"}}, "target.weight_decay must be a number"),
    ({"target": {"data": "cifar10", "init": "x", "epochs": 1, "finetune_epochs": 2}}, "target sets epochs twice"),
    ({"target": {"data": "cifar10", "init": "x", "seed": 3}}, "unknown key(s) seed in target"),
    ({"gate_margin": "one"}, "gate_margin must be a number"),
    ({"equivalence_margin": 0}, "equivalence_margin must be in (0"),
    ({"comparisons": [["edmips", "gmpq"]]}, "comparisons[0] names 'gmpq', not one of the grid's methods"),
    ({"comparisons": [["edmips"]]}, "comparisons[0] must be a pair"),
    ({"declared": {"primary": ["edmips+asga", "edmips"], "effect": -1}}, "declared.effect must be in (0"),
    ({"declared": {"primary": ["edmips+asga", "edmips"], "alpha": 5}}, "declared.alpha must be in (0"),
    ({"declared": {"primary": ["edmips+asga", "edmips"], "power_": 0.8}}, "declared: unknown key(s) power_"),
    ({"declared": {"primary": ["edmips+asga", "edmips"], "sequential": {"looks": [42, 21]}}},
     "declared.sequential.looks must be increasing"),
    ({"declared": {"primary": ["edmips+asga", "edmips"], "sequential": {"looks": [21, 42], "spending": "pocock"}}},
     "spending must be one of obrien-fleming"),
])
def test_bad_values_are_refused_naming_them(change, message):
    with pytest.raises(MpqlabError, match=re.escape(message)):
        GridConfig.from_dict(_cfg(**change), "cfg.json")


def test_target_block_takes_transfer_configs_names():
    """The ``target`` block sets any TransferConfig field by its own name (batch size, weight decay, calibration
    batches too), and a cell's fine-tune is built from them."""
    d = _cfg(target={"data": "cifar10", "init": "x", "epochs": 2, "lr": 0.02, "batch_size": 64, "weight_decay": 1e-4,
                     "calib_batches": 8, "subset": 3000, "calib_order": "dataset"})
    t = GridConfig.from_dict(d).transfer_config(5)
    assert (t.epochs, t.lr, t.batch_size, t.weight_decay, t.calib_batches, t.subset, t.calib_order, t.seed) == (
        2, 0.02, 64, 1e-4, 8, 3000, "dataset", 5)


def test_every_search_field_has_help_and_a_command_line_option():
    """One config surface: each SearchConfig field is a knob with help, and ``mpqlab search`` takes it (the shared
    --model / --data / --root / --device included); a grid's search block takes every field but the per-cell ones."""
    import dataclasses

    from mpqlab.cli import build_parser
    from mpqlab.experiments.config import PER_CELL, check_fields

    search = build_parser()._subparsers._group_actions[0].choices["search"]
    flags = {s for a in search._actions for s in a.option_strings}
    for f in dataclasses.fields(SearchConfig):
        assert f.metadata.get("help"), f.name
        assert "--" + f.name.replace("_", "-") in flags, f.name
        if f.name not in PER_CELL:
            check_fields(_cfg(search={f.name: None}))  # known to the grid's search block
    args = build_parser().parse_args(["search", "--model", "resnet20", "--data", "cifar10-mini", "--out", "p.json",
                                      "--no-per-layer-telemetry", "--momentum", "0.5", "--hawq-probes", "3"])
    from mpqlab.cli import _given
    cfg = SearchConfig(**_given(args, SearchConfig))
    assert (cfg.per_layer_telemetry, cfg.momentum, cfg.hawq_probes, cfg.model) == (False, 0.5, 3, "resnet20")


def test_a_method_carries_its_own_search_settings():
    """``edmips+sam:rho=0.2``: the same rule at several radii in one grid, each its own folder; the settings are
    checked like the search block's, before any cell."""
    from mpqlab.experiments.cell import cell_name

    d = _cfg(methods=["uniform:W3A2", "edmips", "edmips+asga", "edmips+sam:rho=0.2", "edmips+asga:rho=0.1,rho_max=0.5"])
    cfg = GridConfig.from_dict(d)
    s = cfg.search_config("edmips+asga:rho=0.1,rho_max=0.5", "subset-control", 2, 2.5)
    assert (s.objective, s.sharpness, s.rho, s.rho_max, s.epochs) == ("edmips", "asga", 0.1, 0.5, 2)
    assert cfg.search_config("edmips+sam:rho=0.2", "subset-control", 2, 2.5).rho == 0.2
    assert cell_name("edmips+sam:rho=0.2") == "edmips_sam_rho0.2"
    for bad, message in (("edmips+sam:rho=-1", "method edmips+sam:rho=-1: rho must be in [0, 10]"),
                         ("edmips+sam:seed=3", "sets seed, which the grid sets per cell"),
                         ("edmips+sam:rhoo=1", "rhoo is not a SearchConfig field"),
                         ("edmips+sam:rho", "write its settings as name=value")):
        with pytest.raises(MpqlabError, match=re.escape(message)):
            GridConfig.from_dict(_cfg(methods=["uniform:W3A2", "edmips", "edmips+asga", bad]), "cfg.json")
