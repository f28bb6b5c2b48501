"""Every exercise can be done where it is read: an exercise that names the controls it needs ("Controls: name =
value, …") finds them in its page's kernel-free explorers (their metadata lists every control and value), or,
when it says "in JupyterLab", in the notebook's live explorer. Checked on the committed executed notebooks, and
on a made-up page whose explorer lacks a value (the check must be able to fail)."""
import json

import plotly.graph_objects as go
import pytest

from mpqlab.course.exercises import exercise_needs, missing_controls
from mpqlab.course.notebooks import EXECUTED_DIR, NOTEBOOK_DIR, list_notebooks
from mpqlab.viz.explorer import explorer_figure


def test_exercise_needs_reads_the_controls_each_exercise_names():
    md = ("## Exercises\n\n1. *A.* Controls: direction = eigen, seed = 3. Read it.\n"
          "2. *B* (in JupyterLab). Controls: layer = layer1.0.conv1, span = 2; then layer = fc.\n"
          "3. No controls here.\n\n<details>4. not an exercise</details>")
    assert exercise_needs(md) == [
        {"number": 1, "live": False, "needs": [("direction", "eigen"), ("seed", "3")]},
        {"number": 2, "live": True, "needs": [("layer", "layer1.0.conv1"), ("span", "2"), ("layer", "fc")]}]


def test_an_exercise_that_uses_an_explorer_must_name_its_controls():
    from mpqlab.course.exercises import unnamed_controls

    md = ("## Exercises\n\n1. In the explorer, compare W8A8 and W2A2.\n   <details>the explorer shows</details>\n"
          "2. In the explorer, compare them. Controls: model = W8A8, then model = W2A2.\n"
          "3. Rerun the cell with epochs=3.\n\n## Questionnaire\n\n1. What does the slider do?\n")
    assert unnamed_controls(md) == [1]


def _page(values):
    views = {(v,): go.Figure(go.Scatter(x=[0], y=[v])) for v in values}
    fig = explorer_figure(views, [("seed", list(values))])
    return {"cells": [{"cell_type": "markdown", "source": "## Exercises\n\n1. Controls: seed = 3. Look.\n"},
                      {"cell_type": "code", "source": "",
                       "outputs": [{"data": {"application/vnd.plotly.v1+json": json.loads(fig.to_json())}}]}]}


def test_an_exercise_whose_value_the_page_lacks_is_found():
    assert missing_controls(_page([0, 1, 2, 3]), "") == []
    assert missing_controls(_page([0, 1, 2]), "") == ["exercise 1 needs seed = 3: the page's explorers offer "
                                                      "seed = ['0', '1', '2']"]


@pytest.mark.parametrize("name", list_notebooks())
def test_every_exercise_of_the_executed_notebooks_is_doable_where_it_is_read(name):
    path = EXECUTED_DIR / f"{name}.ipynb"
    if not path.is_file():
        pytest.fail(f"{name} has no executed copy")
    nb = json.loads(path.read_text())
    assert missing_controls(nb, (NOTEBOOK_DIR / f"{name}.py").read_text()) == []
