"""The typed grid config: built from the JSON form, checked before any work, the one place a cell's search and
fine-tune configs come from."""
import json

import pytest

from conftest import REPO
from mpqlab.errors import MpqlabError
from mpqlab.experiment import load_config
from mpqlab.grid_config import GridConfig
from mpqlab.search import SearchConfig
from mpqlab.transfer import TransferConfig


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
        assert cfg.target.finetune_subset == d["target"].get("finetune_subset"), path.name
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
    assert cfg.target.finetune == TransferConfig(epochs=1, lr=0.01) and cfg.target.finetune_subset == 5000
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
    ({"target": {"data": "cifar10", "init": "x", "finetune_subset": -5}}, "target.finetune_subset must be"),
])
def test_bad_values_are_refused_naming_them(change, message):
    with pytest.raises(MpqlabError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GridConfig.from_dict(_cfg(**change), "cfg.json")
