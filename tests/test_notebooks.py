"""Every notebook runs headless through papermill in smoke mode and writes its figures (CI)."""

import nbformat
import pytest

from conftest import REPO
from mpqlab.notebooks import list_notebooks, make_figures



@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("figures")
    runs = tmp_path_factory.mktemp("runs")
    return make_figures(out, smoke=True, runs_dir=runs), out, runs


@pytest.mark.slow  # papermill runs / the quick grid
def test_all_notebooks_execute_in_smoke_mode_and_write_figures(smoke_run):
    res, out, runs = smoke_run
    assert set(res["notebooks"]) == set(list_notebooks()) and len(list_notebooks()) == 7
    for name in list_notebooks():
        nb = nbformat.read(runs / "executed" / f"{name}.ipynb", as_version=4)
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
        assert not errors, name
        assert list(out.glob(f"{name[:2]}_*.html")), f"{name} wrote no figure"
    pngs = list(out.glob("*.png"))
    assert pngs and all(p.stat().st_size > 5000 for p in pngs)
    readme = (out / "README.md").read_text()
    assert all(f"notebooks/{n}.ipynb" in readme for n in list_notebooks())


@pytest.mark.slow  # papermill runs / the quick grid
def test_rerunning_one_notebook_keeps_the_others_in_the_figures_readme(smoke_run):
    _, out, runs = smoke_run
    before = (out / "README.md").read_text().splitlines()
    res = make_figures(out, smoke=True, runs_dir=runs, only=["05_bitwidth_policies"])
    after = (out / "README.md").read_text().splitlines()
    assert set(res["notebooks"]) == {"05_bitwidth_policies"}
    assert [l for l in after if "05_" not in l] == [l for l in before if "05_" not in l]
    assert sum("notebooks/05_bitwidth_policies.ipynb" in l for l in after) == 1


def test_notebooks_are_thin_and_parameterised():
    import re

    for name in list_notebooks():
        nb = nbformat.read(REPO / "notebooks" / f"{name}.ipynb", as_version=4)
        assert nb.cells[0].cell_type == "markdown" and "**Question.**" in nb.cells[0].source
        params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(params) == 1 and "smoke" in params[0].source and "data_root" in params[0].source
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert sum("notebook_setup(data_root, figures_dir, runs_dir)" in c for c in code) == 1, name
        for src in code:
            assert not re.search(r"^\s*class ", src, re.M), f"{name} defines a class: it belongs in the library"
            assert not re.search(r"except( Exception|\s*:)", src), f"{name} swallows every error"
            for fn in re.findall(r"^def (\w+)\(", src, re.M):  # only widget callbacks, handed to controls()
                assert f"controls({fn}," in src, f"{name} defines {fn}() for something other than a control"


def test_committed_notebooks_match_their_jupytext_sources():
    from mpqlab.notebooks import build_notebooks

    assert build_notebooks(check=True) == list_notebooks()


def test_the_source_check_sees_a_stale_notebook(tmp_path, monkeypatch):
    import shutil

    from mpqlab import notebooks
    from mpqlab.errors import MpqlabError

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


@pytest.mark.slow  # papermill runs / the quick grid
def test_a_grid_writes_the_documented_columns(tmp_path, monkeypatch):
    import csv
    import math

    from mpqlab.experiment import COLUMNS, smoke_config
    from mpqlab.grid import run_grid

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
