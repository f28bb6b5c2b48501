"""The views of the committed policy-landscape study: its explorers list their controls, the bits view puts each
policy beside the baseline at its seed and counts the layers that differ, and a grid cell links to its views."""
from urllib.parse import parse_qs

import pytest

from conftest import REPO
from mpqlab.experiments.studies import landscape_views as V
from mpqlab.experiments.studies.policy_landscapes import DECLARED, load
from mpqlab.viz.explorer import explorer_controls

STUDY = REPO / "results" / "policy_landscapes"


@pytest.fixture(scope="module")
def data():
    if not (STUDY / "config.json").is_file():
        pytest.fail("the committed study results/policy_landscapes is missing")
    return load(STUDY)


def test_the_bits_explorer_shows_each_policy_beside_the_baseline_at_its_seed(data):
    fig = V.bits_explorer(data)
    controls = explorer_controls(fig)
    assert controls["policy"] == list(DECLARED["policies"]) and controls["seed"] == [str(s) for s in DECLARED["seeds"]]
    labels, seeds = controls["policy"], controls["seed"]
    view = next(v for v in fig.layout.meta["views"] if v["key"] == [labels.index("EdMIPS+ASGA"), seeds.index("3")])
    title = fig.layout.sliders[0].steps[view["step"]].args[1]["title"]
    assert "seed 3: EdMIPS+ASGA beside EdMIPS" in (title["text"] if isinstance(title, dict) else title.text)
    # the sentence counts the layers whose (w, a) bits differ, recomputed here from the two policy files
    pol, base = (V.study_policy(data, lab, 3) for lab in ("EdMIPS+ASGA", "EdMIPS"))
    searchable = [n for n, r in pol["layers"].items() if r["searchable"]]
    differ = sum((pol["layers"][n]["w_bits"], pol["layers"][n]["a_bits"])
                 != (base["layers"][n]["w_bits"], base["layers"][n]["a_bits"]) for n in searchable)
    assert f"{differ} of {len(searchable)} searchable layers differ from EdMIPS's" in view["text"]
    assert len(fig.layout.sliders[0].steps) == len(labels) * len(seeds)


def test_a_grid_cell_links_to_its_landscapes_and_bits_and_an_unstudied_one_does_not():
    link = V.landscape_link("grid_v3", "subset-control", "edmips+asga", 3)
    page, _, query = link.partition("#")
    assert page == V.PAGE
    assert parse_qs(query) == {"direction": ["random"], "sample": ["train"], "metric": ["loss"], "seed": ["3"],
                               "policy": ["EdMIPS+ASGA"]}
    assert "policy=EdMIPS%2BASGA" in link  # '+' encoded: the page's URLSearchParams would read a bare '+' as a space
    assert "seed=0" in V.landscape_link("grid_v3", "all", "edmips@target")  # a forest-plot row: the first seed
    assert V.landscape_link("grid_v2", "subset-control", "edmips+asga", 3) == ""  # another grid
    assert V.landscape_link("grid_v3", "subset-control", "hawq", 3) == ""  # a policy the study did not slice
    assert V.landscape_link("grid_v3", "subset-control", "edmips", 11) == ""  # a seed it did not slice
    assert V.landscape_link("grid_v3", "subset-control", "edmips", "n/a") == ""
