"""One registry of objectives, rules and grid methods: the CLI, SearchConfig and the experiment harness read it."""
import re

import pytest

from mpqlab.core.errors import MpqlabError
from mpqlab.search.methods import (
    OBJECTIVES, RULES, is_null, list_methods, list_objectives, list_rules, objective_spec, parse_method,
    register_objective)


def test_methods_parse_into_objective_rule_and_target():
    m = parse_method("edmips+asga")
    assert (m.objective, m.rule, m.on_target) == ("edmips", "asga", False)
    assert (parse_method("edmips@target").objective, parse_method("edmips@target").on_target) == ("edmips", True)
    assert parse_method("hawq").rule == "none" and parse_method("uniform:W3A2").objective is None
    assert all(is_null(m) for m in ("uniform", "random", "uniform:W3A2")) and not is_null("edmips")
    for bad, says in (("edmips+adam", "unknown method 'edmips+adam'"), ("fancy", "unknown method 'fancy'"),
                      ("hawq+asga", "not a gradient search"), ("uniform:3/2", "uniform:W<bits>A<bits>")):
        with pytest.raises(MpqlabError, match=re.escape(says)):
            parse_method(bad)
    assert all(parse_method(m) for m in list_methods() if "<" not in m)
    assert "edmips+asga" in list_methods() and "hawq+sam" not in list_methods()


def test_the_cli_and_the_search_config_read_the_registry():
    from mpqlab.cli import build_parser
    from mpqlab.search import SearchConfig

    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices["search"]
    choices = {a.dest: list(a.choices) for a in sub._actions if a.choices}
    assert choices["objective"] == list_objectives() and choices["sharpness"] == list_rules()
    with pytest.raises(MpqlabError, match="unknown objective 'nope'; use one of edmips, gmpq, hawq"):
        SearchConfig(objective="nope").check()
    with pytest.raises(MpqlabError, match="hawq is not a gradient search"):
        SearchConfig(objective="hawq", sharpness="asga").check()


def test_non_gradient_objectives_are_dispatched_through_the_registry():
    from mpqlab.search.hawq import hawq_search

    assert objective_spec("hawq").search_function() is hawq_search
    assert objective_spec("edmips").search_function() is None
    assert set(RULES) >= {"none", "sam", "gsam", "asga"}
    with pytest.raises(MpqlabError, match="objective 'edmips' is registered already"):
        register_objective("edmips")(type("Again", (), {}))


def test_unknown_names_are_refused_with_the_known_ones():
    from mpqlab.optim import RADII

    for reg, kind in ((OBJECTIVES, "objective"), (RULES, "sharpness rule"), (RADII, "radius schedule")):
        with pytest.raises(MpqlabError, match=f"unknown {kind} 'nope'; use one of {re.escape(', '.join(reg))}"):
            reg.lookup("nope")


def test_search_options_are_generated_from_the_config_dataclass():
    from mpqlab.cli import build_parser
    from mpqlab.core.knobs import default_of, options_of
    from mpqlab.search import SearchConfig

    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices["search"]
    flags = {a.dest: a for a in sub._actions}
    for f in options_of(SearchConfig):
        assert f.name in flags
        if f.metadata.get("common"):  # --model / --data / --root / --device: the shared options, their own help
            continue
        assert flags[f.name].default is None  # unset: the dataclass's default applies
        assert f.metadata["help"].split(";")[0] in flags[f.name].help
    assert "(default: 0.05)" in flags["rho"].help and "rho_0" in flags["rho"].help
    assert flags["ascent_every"].type.lo == 1 and default_of(dict((f.name, f) for f in options_of(SearchConfig))[
        "w_candidates"]) == [2, 3, 4, 6, 8]
    args = build_parser().parse_args(["search", "--model", "resnet20", "--data", "synthetic", "--out", "p.json",
                                      "--rho", "0.2", "--w-candidates", "2,4", "--freeze-bn"])
    assert (args.rho, args.w_candidates, args.freeze_bn, args.budget) == (0.2, [2, 4], True, None)
