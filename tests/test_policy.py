import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mpqlab.core.errors import MpqlabError
from mpqlab.models import create_model
from mpqlab.quant.policy import Policy


@pytest.fixture(scope="module")
def r20_policy():
    return Policy.uniform(create_model("resnet20"), 4, 4)


def test_roundtrip_and_totals(tmp_path, r20_policy):
    r20_policy.save(tmp_path / "p.json")
    d = json.loads((tmp_path / "p.json").read_text())
    assert d["schema"] == "mpqlab.policy" and d["version"] == 1 and d["totals"]["average_bits"] == 4.0
    assert d["layers"]["conv1"]["w_bits"] == 8 and not d["layers"]["conv1"]["searchable"]
    assert "mpqlab_version" in d["provenance"]
    p = Policy.load(tmp_path / "p.json")
    assert p.bits() == r20_policy.bits() and p.totals() == r20_policy.totals()


def test_validate_names_renamed_missing_and_reshaped_layers(r20_policy):
    d = r20_policy.to_dict()
    renamed = json.loads(json.dumps(d))
    renamed["layers"]["layer1.0.convX"] = renamed["layers"].pop("layer1.0.conv1")
    with pytest.raises(MpqlabError) as e:
        Policy.from_dict(renamed).validate(create_model("resnet20"))
    assert "layer1.0.convX" in str(e.value) and "layer1.0.conv1" in str(e.value)
    with pytest.raises(MpqlabError, match="layers in the model but not in the policy: layer1.3.conv1"):
        r20_policy.validate(create_model("resnet32"))  # extra layers in the model are named
    shaped = json.loads(json.dumps(d))
    shaped["layers"]["layer2.1.conv2"]["out_channels"] = 16
    with pytest.raises(MpqlabError, match="layer2.1.conv2: out_channels is 32 in the model, 16 in the policy"):
        Policy.from_dict(shaped).validate(create_model("resnet20"))


def test_cifar_stem_policy_fits_the_imagenet_model_with_notes():
    p = Policy.uniform(create_model("resnet18_cifar"), 4, 4)
    notes = p.validate(create_model("resnet18"), (3, 64, 64))
    assert any("conv1" in n and "kernel_size" in n for n in notes)


@pytest.mark.parametrize("mutate,msg", [
    (lambda d: d.update(version=2), "version 2 is not supported"),
    (lambda d: d.update(schema="other"), "not an mpqlab policy"),
    (lambda d: d.pop("layers"), "missing field 'layers'"),
    (lambda d: d["layers"]["layer1.0.conv1"].update(w_bits=5), "w_bits=5 is not among the candidates"),
    (lambda d: d["layers"]["layer1.0.conv1"].update(a_bits="4"), "a_bits must be int"),
    (lambda d: d["layers"]["fc"].update(kind="lstm"), "kind must be"),
    (lambda d: d.update(w_candidates=[1, 2]), "w_candidates entry"),
])
def test_malformed_policies_are_named(r20_policy, mutate, msg):
    d = json.loads(json.dumps(r20_policy.to_dict()))
    mutate(d)
    with pytest.raises(MpqlabError, match=msg):
        Policy.from_dict(d)


def test_bad_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(MpqlabError, match="not valid JSON"):
        Policy.load(tmp_path / "x.json")
    with pytest.raises(MpqlabError, match="does not exist"):
        Policy.load(tmp_path / "missing.json")


json_values = st.recursive(st.none() | st.booleans() | st.integers(-3, 40) | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fuzzed_policy_files_load_or_raise_mpqlab_error(r20_policy, data):
    d = json.loads(json.dumps(r20_policy.to_dict()))
    for _ in range(data.draw(st.integers(1, 4))):
        path = [d]
        node = d
        while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
            key = data.draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
            path.append(key)
            node = node[key]
        target = d
        for k in path[1:-1]:
            target = target[k]
        if len(path) > 1:
            if data.draw(st.booleans()) and isinstance(target, dict):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = data.draw(json_values)
        else:
            d = data.draw(json_values) if data.draw(st.booleans()) else d
    try:
        p = Policy.from_dict(d)
    except MpqlabError:
        return
    p.totals()  # a policy that loads is usable
    p.bits()


def test_with_layer_bits_edits_one_searchable_layer_and_refuses_fixed_or_unknown_ones():
    import pytest

    from mpqlab.core.errors import MpqlabError
    from mpqlab.models import create_model
    from mpqlab.quant.policy import Policy

    p = Policy.uniform(create_model("resnet20"), 4, 4)
    q = p.with_layer_bits("layer1.0.conv1", 2, 3)
    assert q.layers["layer1.0.conv1"]["w_bits"] == 2 and q.layers["layer1.0.conv1"]["a_bits"] == 3
    assert p.layers["layer1.0.conv1"]["w_bits"] == 4  # a copy
    assert q.totals()["bitops"] < p.totals()["bitops"] and q.provenance["edited"] == ["layer1.0.conv1: W2A3"]
    with pytest.raises(MpqlabError, match="fixed at 8 bits"):
        p.with_layer_bits("conv1", 2, 2)
    with pytest.raises(MpqlabError, match="no layer 'nope'"):
        p.with_layer_bits("nope", 2, 2)
    with pytest.raises(MpqlabError):
        p.with_layer_bits("layer1.0.conv1", 5, 2)  # 5 is not a candidate


def test_a_policy_from_another_label_set_transfers_with_a_note():
    """A policy searched on a five-class proxy applies to the ten-class target: the fixed classifier's outputs may
    differ (noted, bits kept); a searchable layer's shape may not."""
    five = Policy.uniform(create_model("resnet20", num_classes=5), 3, 2, w_candidates=[2, 3, 4], a_candidates=[2, 3, 4])
    notes = five.validate(create_model("resnet20", num_classes=10), (3, 32, 32))
    assert notes == ["fixed layer fc: 5 outputs in the policy, 10 in the model (classifier head for another label "
                     "set; bits 8/8 kept)"]
    with pytest.raises(MpqlabError, match="does not fit the model: layers in the model but not in the policy"):
        five.validate(create_model("resnet32", num_classes=10), (3, 32, 32))
