"""Every notebook runs headless through papermill in smoke mode and writes its figures (CI)."""

import os

import nbformat
import papermill
import pytest

from conftest import REPO
from mpqlab.course.execution import make_figures
from mpqlab.course.notebooks import figure_prefix, list_notebooks



@pytest.mark.slow  # papermill runs; one test per notebook, so that pytest-xdist spreads them over its workers
@pytest.mark.parametrize("name", list_notebooks())
def test_notebook_executes_in_smoke_mode_and_writes_its_figures(name, tmp_path):
    out, runs = tmp_path / "figures", tmp_path / "runs"
    res = make_figures(out, smoke=True, runs_dir=runs, only=[name])
    assert set(res["notebooks"]) == {name}
    nb = nbformat.read(runs / "executed" / f"{name}.ipynb", as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, name
    assert list(out.glob(f"{figure_prefix(name)}_*.html")), f"{name} wrote no figure"
    pngs = list(out.glob(f"{figure_prefix(name)}_*.png"))
    assert pngs and all(p.stat().st_size > 5000 for p in pngs)
    assert f"notebooks/{name}.ipynb" in (out / "README.md").read_text()
    shown = [o["data"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
             if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert shown, f"{name}: the executed copy embeds no figure"
    assert all("image/png" in d for d in shown), f"{name}: a figure embedded without its PNG"


def test_every_notebook_is_run_by_the_smoke_test():
    """The smoke test is parametrised by list_notebooks(), which reads the .ipynb files: every jupytext source
    must have its notebook there, or the smoke test would silently skip it."""
    sources = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.py"))
    assert list_notebooks() == sources and len(sources) == 8


@pytest.mark.slow  # one papermill run
def test_rerunning_one_notebook_keeps_the_others_in_the_figures_readme(tmp_path):
    out, runs = tmp_path / "figures", tmp_path / "runs"
    out.mkdir()
    others = [f"- `notebooks/{n}.ipynb` (smoke run, 1.0 s): `{n[:2]}_x.html`" for n in list_notebooks()]
    (out / "README.md").write_text("# figures\n\n" + "\n".join(others) + "\n")
    res = make_figures(out, smoke=True, runs_dir=runs, only=["01_search_and_transfer"])
    after = (out / "README.md").read_text().splitlines()
    assert set(res["notebooks"]) == {"01_search_and_transfer"}
    assert [l for l in after if l.startswith("- ") and "01_" not in l] == [l for l in others if "01_" not in l]
    mine = [l for l in after if "notebooks/01_search_and_transfer.ipynb" in l]
    assert len(mine) == 1 and "01_effects.html" in mine[0] and mine[0] not in others
    # the entry names the code that ran and the kernels' threads (a full run's numbers depend on both)
    from mpqlab.core.provenance import code_label, code_record
    assert f"code {code_label(code_record())};" in mine[0]
    assert f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '1')}" in mine[0]


def test_notebooks_are_thin_and_parameterised():
    import re

    for name in list_notebooks():
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        assert nb.cells[0].cell_type == "markdown" and "**Question.**" in nb.cells[0].source
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and "smoke" in params[0].source and "data_root" in params[0].source
        # one assignment per line, so that papermill sees every parameter (a tuple assignment made it warn
        # "Passed unknown parameter" on every injected value) and lists it with its comment
        inferred = papermill.inspect_notebook(str(REPO / "notebooks" / f"{name}.ipynb"))
        # the four every notebook takes; a notebook that reads committed studies also names their folders
        assert set(inferred) - {"study_dir", "target_dir"} == {"smoke", "data_root", "figures_dir", "runs_dir"}, name
        assert all(p["help"] for p in inferred.values()), f"{name}: a parameter without its comment"
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert sum("notebook_setup(data_root, figures_dir, runs_dir)" in c for c in code) == 1, name
        for src in code:
            assert not re.search(r"^\s*class ", src, re.M), f"{name} defines a class: it belongs in the library"
            assert not re.search(r"except( Exception|\s*:)", src), f"{name} swallows every error"
            for fn in re.findall(r"^def (\w+)\(", src, re.M):  # only widget callbacks, handed to controls()
                assert f"controls({fn}," in src, f"{name} defines {fn}() for something other than a control"


def test_committed_notebooks_match_their_jupytext_sources():
    from mpqlab.course.notebooks import build_notebooks

    assert build_notebooks(check=True) == list_notebooks()


def test_the_source_check_sees_a_stale_notebook(tmp_path, monkeypatch):
    import shutil

    from mpqlab.course import notebooks
    from mpqlab.core.errors import MpqlabError

    for p in (REPO / "notebooks").glob("00_quickstart.*"):
        shutil.copy(p, tmp_path / p.name)
    monkeypatch.setattr(notebooks, "NOTEBOOK_DIR", tmp_path)
    assert notebooks.build_notebooks(check=True) == ["00_quickstart"]
    src = tmp_path / "00_quickstart.py"
    src.write_text(src.read_text().replace("**Question.**", "**Question?**"))
    with pytest.raises(MpqlabError, match="00_quickstart.ipynb"):
        notebooks.build_notebooks(check=True)
    notebooks.build_notebooks()
    assert "**Question?**" in (tmp_path / "00_quickstart.ipynb").read_text()


@pytest.mark.slow  # the smoke grid, run twice
def test_a_grid_writes_the_documented_columns(tmp_path, monkeypatch):
    import csv
    import math

    from mpqlab.experiments.executors import run_grid
    from mpqlab.experiments.cell import COLUMNS
    from mpqlab.experiments.presets import smoke_config

    monkeypatch.setenv("MPQLAB_COMPILE", "0")  # a few batches: compiling the quantizer kernels would not pay
    path = run_grid(smoke_config(), tmp_path, show_progress=False)
    rows = list(csv.DictReader(path.open()))
    assert list(rows[0]) == COLUMNS and len(rows) == 4
    assert {r["method"] for r in rows} == {"uniform", "random", "edmips+asga", "edmips@target"}
    assert all(0 <= float(r["target_top1"]) <= 100 for r in rows)
    searched = [r for r in rows if r["method"] in ("edmips+asga", "edmips@target")]
    assert all(0 < float(r["decisiveness"]) <= 1 and r["layers_changed_by_budget"] != "" for r in searched)
    assert all(math.isfinite(float(r[k])) for r in rows for k in ("proxy_h", "proxy_sigma_max", "proxy_trace"))
    md = (tmp_path / "results.md").read_text()
    assert "| setting | budget | method |" in md and "## Validity gates" in md
    assert "cannot answer" in md  # one seed: the search-matters gate cannot pass
    again = run_grid(smoke_config(), tmp_path, show_progress=False)  # finished cells are skipped
    assert list(csv.DictReader(again.open())) == rows


def test_an_explorer_re_plots_its_figure_widget_in_place(monkeypatch):
    """Outside a headless run, a control's change replaces the FigureWidget's traces and layout (the same widget
    on the page) and calls the function with the new values; the headless path calls it once."""
    import ipywidgets as W
    import plotly.graph_objects as go

    from mpqlab.course.notebooks import controls

    calls = []

    def bars(n=2):
        calls.append(n)
        return go.Figure(go.Bar(x=list(range(n)), y=[n] * n), layout={"title": {"text": f"n={n}"}})

    monkeypatch.delenv("MPQLAB_HEADLESS", raising=False)
    displayed = []  # what controls() displays: its box of controls, status, text area and figure
    monkeypatch.setattr("IPython.display.display", lambda *objs, **kw: displayed.extend(objs))
    pick = W.Dropdown(options=[2, 3, 5], value=2)
    fig = controls(bars, n=pick)
    assert isinstance(fig, go.FigureWidget) and fig.data[0].x == (0, 1)
    pick.value = 5
    assert calls == [2, 5] and len(fig.data) == 1 and fig.data[0].x == (0, 1, 2, 3, 4)
    assert fig.layout.title.text == "n=5"
    box = next(o for o in displayed if isinstance(o, W.VBox) and fig in o.children)
    status = next(w for w in box.children[0].children if isinstance(w, W.HTML))
    assert status.value.startswith("<small>computed in ")
    pick.value = 2  # a view seen before comes from the session's cache: not computed again, drawn the same
    assert calls == [2, 5] and fig.data[0].x == (0, 1) and fig.layout.title.text == "n=2" and "cache" in status.value
    monkeypatch.setenv("MPQLAB_HEADLESS", "1")
    assert isinstance(controls(bars, n=W.Dropdown(options=[3], value=3)), go.Figure) and calls[-1] == 3
    del calls[:]  # headless with offline values: one view per value (the default first), behind a slider
    stepped = controls(bars, offline={"n": [2, 5]}, n=W.Dropdown(options=[2, 3, 5], value=3))
    assert calls == [3, 2, 5] and [s.label for s in stepped.layout.sliders[0].steps] == ["3", "2", "5"]
    assert [t.visible for t in stepped.data] == [True, False, False] and stepped.layout.title.text == "n=3"
    monkeypatch.delenv("MPQLAB_HEADLESS")
    words = []  # a function that returns no Figure runs once at first and once per change, into the text area
    pick = W.Dropdown(options=["a", "b"], value="a")
    box = controls(lambda w: words.append(w), w=pick)
    pick.value = "b"
    assert words == ["a", "b"] and isinstance(box, W.VBox) and "mpqlab-explorer" in box._dom_classes


def test_committed_grid_prefers_the_newest_usable_grid(tmp_path):
    from mpqlab.course.notebooks import COMMITTED_GRIDS, committed_grid

    assert committed_grid(tmp_path) is None
    for name in COMMITTED_GRIDS[1:]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.csv").write_text("method\n")
    assert committed_grid(tmp_path) == tmp_path / COMMITTED_GRIDS[1]
    (tmp_path / COMMITTED_GRIDS[0]).mkdir()  # started, no results yet: not read
    assert committed_grid(tmp_path) == tmp_path / COMMITTED_GRIDS[1]
    (tmp_path / COMMITTED_GRIDS[0] / "results.csv").write_text("method\n")
    assert committed_grid(tmp_path) == tmp_path / COMMITTED_GRIDS[0]
    assert committed_grid(tmp_path, usable=lambda f: f.name != COMMITTED_GRIDS[0]) == tmp_path / COMMITTED_GRIDS[1]
    (tmp_path / COMMITTED_GRIDS[0] / "results.md").write_text("# g\n\n**PARTIAL: 3 of 56 cells finished.**\n")
    assert committed_grid(tmp_path) == tmp_path / COMMITTED_GRIDS[1]  # still running: not read


def test_interactive_and_smoke_runs_never_write_the_committed_figures(tmp_path, monkeypatch):
    """Run All in Jupyter (the parameters cell's defaults) saves to runs/figures, and a smoke run of
    `mpqlab figures` is refused the committed folder before any notebook runs."""
    import mpqlab.course.execution as nbmod
    from mpqlab.cli import main
    from mpqlab.core.errors import MpqlabError

    for name in list_notebooks():
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assert '"../runs/figures"' in params.source and '"../figures"' not in params.source, name
    before = {p: p.stat().st_mtime for p in (REPO / "figures").iterdir()}
    with pytest.raises(MpqlabError, match="smoke run does not write the committed figures"):
        make_figures(REPO / "figures", smoke=True, runs_dir=tmp_path / "runs", only=["01_search_and_transfer"])
    ran = []
    monkeypatch.setattr(nbmod, "_execute", lambda names, out, *a: ran.append(out))
    monkeypatch.chdir(REPO)
    main(["figures", "--smoke", "--only", "01_search_and_transfer"])
    assert ran and ran[0] == (REPO / "runs" / "figures-smoke").resolve()
    assert {p: p.stat().st_mtime for p in (REPO / "figures").iterdir()} == before


def test_committed_executed_copies_are_from_the_current_sources(tmp_path):
    """notebooks/executed/ holds the full runs that wrote figures/: their code must be the notebooks' current code,
    or the numbers a reader sees there are not what the notebook prints."""
    from mpqlab.course.execution import stale_executed
    from mpqlab.course.notebooks import EXECUTED_DIR

    assert stale_executed() == [], "rerun `make figures` (it rewrites notebooks/executed/ and figures/)"
    name = list_notebooks()[0]  # and the check can fail: one edited code cell makes a copy stale
    nb = nbformat.read(EXECUTED_DIR / f"{name}.ipynb", as_version=4)
    next(c for c in nb.cells if c.cell_type == "code").source += "\n# edited"
    nbformat.write(nb, str(tmp_path / f"{name}.ipynb"))
    for other in list_notebooks()[1:]:
        (tmp_path / f"{other}.ipynb").write_bytes((EXECUTED_DIR / f"{other}.ipynb").read_bytes())
    assert stale_executed(tmp_path) == [name]


# The exercises that change a search's settings, as a reader does them: after the notebook has run, the search cell
# is edited and run again in the same kernel, followed by the cells after it. (notebook, old text, new text, the
# SearchConfig field the edit sets and its new value, the searches the notebook runs itself, and how many of them
# already have that value: 04's solution cell runs exercise 2's weak search once, as its answer)
EXERCISE_RERUNS = [
    ("04_gradient_conflict", "batch_size=64)", "batch_size=64, cost_weight=0.5)", "cost_weight", 0.5, 4, 1),  # ex. 2
    ("05_bitwidth_policies", "epochs=1 if smoke else 2", "epochs=2", "epochs", 2, 3, 0),  # exercise 3: a longer search
]


@pytest.mark.slow  # papermill runs of a notebook with the rerun appended
@pytest.mark.parametrize("name, old, new, field, value, searches, already", EXERCISE_RERUNS,
                         ids=[r[0] for r in EXERCISE_RERUNS])
def test_exercise_reruns_work_in_the_live_kernel(name, old, new, field, value, searches, already, tmp_path,
                                                 monkeypatch):
    import papermill as pm

    monkeypatch.setenv("MPQLAB_HEADLESS", "1")  # as make_figures runs them: explorers show their default once
    nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    edited = next(i for i in code if old in nb.cells[i].source)
    reran = [nbformat.v4.new_code_cell(nb.cells[edited].source.replace(old, new))]
    reran += [nbformat.v4.new_code_cell(nb.cells[i].source) for i in code if edited < i and "controls(" not in
              nb.cells[i].source][:3]  # the cells that read the search's output (explorers left out)
    nb.cells += reran
    src = tmp_path / f"{name}.ipynb"
    nbformat.write(nb, str(src))
    out = tmp_path / "executed.ipynb"
    pm.execute_notebook(str(src), str(out), parameters={"smoke": True, "figures_dir": str(tmp_path / "figures"),
                                                        "runs_dir": str(tmp_path / "runs")},
                        cwd=str(REPO / "notebooks"), progress_bar=False, execution_timeout=600, kernel_name="python3")
    done = nbformat.read(out, as_version=4)
    errors = [o for c in done.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors, errors
    # the notebook's own searches, then the edited cell's three with the new settings
    assert len(list((tmp_path / "runs").glob("*.run"))) == searches + 3
    import json

    configs = [json.loads(p.read_text())["provenance"]["config"] for p in (tmp_path / "runs").glob("*.json")
               if p.with_suffix(".run").is_dir()]
    assert len(configs) == searches + 3
    assert sum(c[field] == value for c in configs) == already + 3, [c[field] for c in configs]  # the edit reached 3


def test_a_prose_edit_reaches_the_executed_copy_and_a_code_edit_does_not(tmp_path, monkeypatch):
    """refresh_markdown copies the source's Markdown into an executed copy whose code is current, never into one
    whose code changed (that one needs a re-run); stale_markdown names what still differs."""
    import nbformat

    from mpqlab.course import prose as N

    src_dir, ex_dir = tmp_path / "nb", tmp_path / "ex"
    src_dir.mkdir()
    ex_dir.mkdir()
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("old words"), nbformat.v4.new_code_cell("1 + 1")])
    nbformat.write(nb, str(src_dir / "09_x.ipynb"))
    executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("smoke = False", metadata={"tags": ["injected-parameters"]}),
                                               nbformat.v4.new_markdown_cell("old words"), nbformat.v4.new_code_cell("1 + 1")])
    executed.cells[2].outputs = [nbformat.v4.new_output("execute_result", {"text/plain": "2"}, execution_count=1)]
    nbformat.write(executed, str(ex_dir / "09_x.ipynb"))
    monkeypatch.setattr(N, "NOTEBOOK_DIR", src_dir)
    monkeypatch.setattr(N, "list_notebooks", lambda: ["09_x"])
    assert N.stale_markdown(ex_dir) == []
    nb.cells[0].source = "new words"
    nbformat.write(nb, str(src_dir / "09_x.ipynb"))
    assert N.stale_markdown(ex_dir) == ["09_x"]
    assert N.refresh_markdown(ex_dir) == ["09_x"] and N.stale_markdown(ex_dir) == []
    got = nbformat.read(str(ex_dir / "09_x.ipynb"), as_version=4)
    assert got.cells[1].source == "new words" and got.cells[2].outputs[0]["data"]["text/plain"] == "2"
    nb.cells[0].source, nb.cells[1].source = "newer", "1 + 2"  # code changed too: left for a re-run
    nbformat.write(nb, str(src_dir / "09_x.ipynb"))
    assert N.refresh_markdown(ex_dir) == [] and N.stale_markdown(ex_dir) == ["09_x"]


def test_every_executed_copy_shows_its_sources_prose():
    from mpqlab.course.prose import stale_markdown

    assert stale_markdown() == [], "run `mpqlab notebooks` (prose) or `mpqlab figures --only NAME` (code changed)"


def test_no_prose_states_an_outcome_its_printed_output_contradicts():
    """A sentence that says a search decided (or did not), a claim is (not) supported or a gate passed (failed) must
    agree with what the notebook printed: an outcome is printed from the run, never typed for another one."""
    from mpqlab.course.notebooks import EXECUTED_DIR
    from mpqlab.course.prose import contradicted_outcomes

    found = {n: contradicted_outcomes(EXECUTED_DIR / f"{n}.ipynb") for n in list_notebooks()}
    assert not any(found.values()), {n: b for n, b in found.items() if b}


def test_the_outcome_check_sees_prose_written_for_another_run(tmp_path):
    from mpqlab.course.prose import contradicted_outcomes

    def notebook(prose, printed):
        nb = nbformat.v4.new_notebook()
        code = nbformat.v4.new_code_cell("print(status)")
        code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
        nb.cells = [code, nbformat.v4.new_markdown_cell(prose)]
        path = tmp_path / f"nb{len(list(tmp_path.iterdir()))}.ipynb"
        nbformat.write(nb, str(path))
        return contradicted_outcomes(path)

    assert notebook("The search has not decided: read its policy as a demo.", "The search decided (0.96).")
    assert notebook("The search decided.", "The search did not decide (0.41).")
    assert notebook("Claim 1 is supported here.", "claim 1: not supported (+0.3 [-1, 2])")
    assert notebook("Every gate passed.", "**FAIL** search matters")
    # agreeing, asking or conditioning prose is fine
    assert not notebook("The search decided, so its policy is its own.", "The search decided (0.96).")
    assert not notebook("Check whether the search decided.", "The search did not decide (0.41).")
    assert not notebook("If the search has not decided, rerun it with more steps.", "The search decided.")
    assert not notebook("Is the claim supported?", "claim 1: not supported")


def test_every_reference_links_to_its_source_or_says_why_not():
    """Each notebook ends with references; every item links to its paper (arXiv, DOI, JSTOR), or is a book or the
    ASGA paper itself, said so."""
    import re

    for name in list_notebooks():
        text = (REPO / "notebooks" / f"{name}.py").read_text()
        assert "# ## References" in text, f"{name} has no references"
        section = text.split("# ## References", 1)[1].split("\n# %%", 1)[0]
        items = re.split(r"\n# - ", section)[1:]
        assert items, f"{name}: an empty reference list"
        for item in items:
            assert "](https://" in item or "(book" in item or "ASGA paper" in item, f"{name}: {item[:80]}"
