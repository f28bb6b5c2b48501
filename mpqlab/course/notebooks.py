"""Execute the notebooks headless with papermill; every figure lands in ``figures/`` (HTML + PNG).

``make_figures("figures")`` (``mpqlab figures`` / ``make figures``) runs each notebook in ``notebooks/`` with
``smoke=False`` and regenerates the committed figures and the executed copies in ``notebooks/executed/``: each
figure embedded (its plotly JSON and its PNG, nothing linked), each explorer precomputed at a few values behind a
slider; :func:`stale_executed` says which copies no longer match their source. ``smoke=True`` is what CI runs, with
executed copies in ``runs/notebooks-smoke/executed/``. Each notebook's searches and landscapes go to its own scratch
folder ``runs/notebooks/<notebook>/``, emptied before the run, so a rerun after a code change never resumes stale
state. ``figures/README.md`` lists which notebook made each figure; ``make book`` turns the executed copies into a
static site (:mod:`mpqlab.course.book`).
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..core.errors import MpqlabError
from ..core.files import atomic_write_text
from ..core.provenance import code_label, code_record

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"


def list_notebooks() -> list[str]:
    """The notebooks' names (``NN_*``), in order."""
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


# a notebook's figures are named ``<prefix>_*``: its two digits, unless two notebooks share them
FIGURE_PREFIXES = {"02_policy_landscapes": "02p"}  # notebook 02b: its figures sort beside 02's and stay apart


def figure_prefix(name: str) -> str:
    """The prefix of the figures notebook ``name`` writes (``02p`` for 02_policy_landscapes, else ``NN``)."""
    return FIGURE_PREFIXES.get(name, name[:2])


# the committed experiment grids the notebooks read, preferred first: grid v2 transferred to the best target
# checkpoint, the 300-epoch one (90.32 %), then to the 160-epoch one (89.50 %), then grid v2 on the 40-epoch one,
# then its one-seed pilot. The order is by checkpoint, not by outcome: the notebooks print each grid's gates.
COMMITTED_GRIDS = ("grid_v3", "grid_v2_e300", "grid_v2_e160", "grid_v2", "grid_v2_pilot")  # newest design first


def committed_grid(results_dir="../results", usable=None) -> Path | None:
    """The folder of the first grid of ``COMMITTED_GRIDS`` under ``results_dir`` whose ``results.csv`` exists, whose
    ``results.md`` does not say it is partial (a grid still running), and for which ``usable(folder)`` holds, when
    given; None when there is none (a checkout without results)."""
    from ..experiments.report import PARTIAL

    for name in COMMITTED_GRIDS:
        folder = Path(results_dir) / name
        md = folder / "results.md"
        partial = md.is_file() and PARTIAL in md.read_text()
        if (folder / "results.csv").is_file() and not partial and (usable is None or usable(folder)):
            return folder
    return None


def keyed_path(folder: str | os.PathLike, stem: str, cfg, suffix: str = ".json") -> Path:
    """``folder/<stem>-<8 hex digits of cfg>.json``: the output path of a run named by its settings, so that a
    notebook cell rerun with other settings (an exercise) gets its own run folder instead of meeting the old one's
    "other settings" refusal, and a rerun with the same settings reuses it. ``cfg``: a config dataclass or dict."""
    import dataclasses
    import hashlib
    import json

    d = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    digest = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return Path(folder) / f"{stem}-{digest}{suffix}"


def notebook_setup(data_root=None, figures_dir="../runs/figures", runs_dir="../runs/notebooks"):
    """The setup every notebook shares, after its papermill parameters: point ``MPQLAB_DATA`` at ``data_root``
    when given, create the runs folder, and return ``(RUNS, show)``: the runs folder, and ``show(fig, name)``, which
    saves a plotly figure as HTML + PNG in ``figures_dir`` (:func:`mpqlab.viz.figures.save_figure`; by default the scratch
    folder ``runs/figures``: only ``make figures`` writes the committed ``figures/``), displays it and returns the
    saved paths. (Run from a checkout, ``make setup`` installs mpqlab into the notebooks' kernel.)"""
    from ..viz import figures as viz

    if data_root:
        os.environ["MPQLAB_DATA"] = str(data_root)
    fig_dir, runs = Path(figures_dir), Path(runs_dir)
    runs.mkdir(parents=True, exist_ok=True)

    def show(fig, name: str):
        saved = viz.save_figure(fig, fig_dir / name)
        if os.environ.get("MPQLAB_HEADLESS") == "1":  # the executed copy embeds the figure and its PNG
            png = saved.path("png")
            display_figure(fig, png.read_bytes() if png is not None else None)
        else:
            fig.show()
        return saved

    return runs, show


def display_figure(fig, png: bytes | None = None) -> None:
    """Display a plotly figure as one output holding its plotly JSON (interactive wherever plotly.js runs: JupyterLab,
    the ``make book`` site) and, when given, its PNG (what static viewers such as code hosts show): nothing linked,
    everything embedded in the notebook."""
    import base64
    import json

    from IPython.display import display

    bundle = {"application/vnd.plotly.v1+json": json.loads(fig.to_json()),
              "text/plain": f"<plotly figure: {fig.layout.title.text or 'untitled'}>"}
    if png is not None:
        bundle["image/png"] = base64.b64encode(png).decode()
    display(bundle, raw=True)


def _png(fig) -> bytes | None:
    from ..viz.files import static_png

    return static_png(fig)


def _offline_views(fn, values: dict, offline: dict) -> tuple[dict, tuple, list, dict]:
    """``fn`` at every combination of the ``offline`` values (other controls at ``values``, each default added):
    ({combination: result}, the default combination, [(name, values)], {combination: what ``fn`` printed})."""
    import contextlib
    import io
    import itertools

    unknown = [k for k in offline if k not in values]
    if unknown:
        raise MpqlabError(f"offline values for {unknown}, which are not controls of this explorer ({list(values)})")
    names = list(offline)
    lists = []
    for k in names:
        vals = list(offline[k])
        if values[k] not in vals:
            vals.insert(0, values[k])
        lists.append(vals)
    default = tuple(values[k] for k in names)
    views, texts = {}, {}
    for combo in itertools.product(*lists):
        text = io.StringIO()
        with contextlib.redirect_stdout(text):
            views[combo] = fn(**{**values, **dict(zip(names, combo))})
        texts[combo] = text.getvalue().strip()
    return views, default, list(zip(names, lists)), texts


def _show_offline(fn, values: dict, offline: dict):
    """The headless form of an explorer with ``offline`` values: a kernel-free explorer (one control or several,
    :func:`mpqlab.viz.explorer.explorer_figure`, axes fixed across views), with its default view's PNG; the default
    view's sentences are printed under a label, every view's travel with it in the figure."""
    import plotly.graph_objects as go

    from ..viz.explorer import explorer_figure

    views, default, controls_, texts = _offline_views(fn, values, offline)
    if not all(isinstance(r, go.Figure) for r in views.values()):
        raise MpqlabError("offline values need an explorer whose function returns a plotly Figure")
    fig = explorer_figure(views, controls_, texts=texts, active=default)
    if texts[default]:
        label = ", ".join(f"{n} = {v}" for (n, _), v in zip(controls_, default))
        print(f"[{label}] " + texts[default].replace("\n", "\n    "))
    display_figure(fig, _png(views[default]))
    return fig


def build_notebooks(check: bool = False) -> list[str]:
    """Write ``notebooks/NN_*.ipynb`` from their jupytext percent-format sources ``notebooks/NN_*.py`` (the source
    of truth: review, lint and edit those). Cell ids are stable, so an unchanged source writes an unchanged
    notebook. With ``check``, write nothing and raise naming every notebook that differs from its source.
    Returns the notebooks' names."""
    import jupytext
    import nbformat

    names, stale = [], []
    for src in sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.py")):
        nb = jupytext.read(src, fmt="py:percent")
        nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
        for i, c in enumerate(nb.cells):
            c.id = f"{src.stem[:2]}-cell-{i:02d}"
            if c.cell_type == "code":
                c.outputs, c.execution_count = [], None
            c.metadata = {k: v for k, v in c.metadata.items() if k == "tags"}
        text = nbformat.writes(nb) + "\n"
        out = src.with_suffix(".ipynb")
        if check:
            if not out.is_file() or out.read_text() != text:
                stale.append(out.name)
        else:
            atomic_write_text(out, text)
        names.append(src.stem)
    if stale:
        raise MpqlabError(f"notebooks differ from their sources: {', '.join(stale)}; run `mpqlab notebooks`")
    return names


def controls(fn, apply: bool = False, offline: dict | None = None, **widgets):
    """An explorer: the controls ``widgets`` over what ``fn(**values)`` shows. In Jupyter, a Figure that ``fn``
    returns is shown once as a ``FigureWidget`` and re-plotted in place at every change (what ``fn`` prints goes to a
    text area above it; anything else it returns is displayed there). ``apply=True`` (an ``fn`` that takes seconds):
    changes wait for an "Apply" button; sliders re-plot when released, never on every tick. Headless
    (``MPQLAB_HEADLESS=1``, set by :func:`make_figures`; a live widget there only adds comm traffic, under which
    the client was seen to lose a cell's reply) it calls ``fn`` once and says so; with ``offline`` ({control:
    [values]}) it computes every combination of those values (the other controls at their defaults) and shows one
    kernel-free explorer (:func:`mpqlab.viz.explorer.explorer_figure`), so the executed notebook and the site keep
    it. Returns the FigureWidget (or the widget box, or the headless result)."""
    from IPython.display import display

    def values():
        return {k: getattr(w, "value", w) for k, w in widgets.items()}

    if os.environ.get("MPQLAB_HEADLESS") == "1":
        if not offline:
            print("(headless run: the controls appear when the notebook runs in Jupyter; this is the default choice)")
            result = fn(**values())
            if type(result).__name__ == "Figure":  # a plotly Figure, with its PNG as every figure of an executed copy
                display_figure(result, _png(result))
            elif result is not None:
                display(result)
            return result
        print("(headless run: the live controls appear in Jupyter; here the explorer is precomputed at the values "
              "below, and the slider above the figure switches between them without a kernel)")
        return _show_offline(fn, values(), offline)
    import ipywidgets
    import plotly.graph_objects as go

    text = ipywidgets.Output()
    with text:
        first = fn(**values())
    figure = go.FigureWidget(first) if isinstance(first, go.Figure) else None
    if figure is None and first is not None:
        with text:
            display(first)

    def replot(_change=None):
        text.clear_output(wait=True)
        with text:
            new = fn(**values())
            if figure is None:
                if new is not None:
                    display(new)
                return
        figure.data = ()
        figure.add_traces(list(new.data))
        figure.update_layout(new.layout.to_plotly_json(), overwrite=True)

    shown = [w for w in widgets.values() if isinstance(w, ipywidgets.Widget)]
    for w in shown:  # a slider re-plots when released, not on every tick it passes
        if hasattr(w, "continuous_update"):
            w.continuous_update = False
    if apply:
        button = ipywidgets.Button(description="Apply")
        button.on_click(replot)
        shown = shown + [button]
    else:
        for w in shown:
            w.observe(replot, names="value")
    box = ipywidgets.VBox([ipywidgets.HBox(shown), text] + ([figure] if figure is not None else []))
    box.add_class("mpqlab-explorer")
    display(box)
    return figure if figure is not None else box


def _readme_entries(path: Path) -> dict:
    """The per-notebook lines of an existing figures README (kept when only some notebooks are rerun)."""
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("- `notebooks/") and ".ipynb`" in line:
            found[line.split("notebooks/", 1)[1].split(".ipynb", 1)[0]] = line
    return found


COMMITTED_FIGURES = REPO / "figures"  # written by full runs only (`make figures`)
EXECUTED_DIR = NOTEBOOK_DIR / "executed"  # the executed copies of the full runs that wrote COMMITTED_FIGURES


def code_cells(path: str | os.PathLike) -> list[str]:
    """The sources of a notebook's code cells, without the cell papermill injects with the parameters."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def stale_executed(executed_dir: str | os.PathLike = EXECUTED_DIR) -> list[str]:
    """The notebooks whose executed copy in ``executed_dir`` is missing or whose code differs from the notebook's
    current source (so its outputs are not what the source prints): empty when every copy is current."""
    folder = Path(executed_dir)
    return [n for n in list_notebooks() if not (folder / f"{n}.ipynb").is_file()
            or code_cells(folder / f"{n}.ipynb") != code_cells(NOTEBOOK_DIR / f"{n}.ipynb")]


def _tidy_executed(path: Path) -> None:
    """An executed copy as committed: paths relative to the notebooks folder or, in outputs, to the repository (no
    machine's absolute paths) and no stderr streams (library warnings and log lines; every number a notebook reports goes to stdout)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        if "injected-parameters" in c.metadata.get("tags", []):
            c.source = c.source.replace(str(REPO), "..")
        if c.cell_type == "code":
            c.outputs = [o for o in c.outputs if not (o.output_type == "stream" and o.name == "stderr")]
            for o in c.outputs:  # printed paths: relative to the repository
                if o.output_type == "stream":
                    o.text = o.text.replace(f"{REPO}/", "")
                for kind, value in o.get("data", {}).items():
                    if kind.startswith("text/") and isinstance(value, str):
                        o["data"][kind] = value.replace(f"{REPO}/", "")
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in meta:
            meta[key] = os.path.relpath(meta[key], NOTEBOOK_DIR)
    for key, value in meta.get("parameters", {}).items():
        if isinstance(value, str) and value.startswith(str(REPO)):
            meta["parameters"][key] = os.path.relpath(value, NOTEBOOK_DIR)
    meta.pop("environment_variables", None)
    atomic_write_text(path, nbformat.writes(nb) + "\n")


def make_figures(out: str | os.PathLike = COMMITTED_FIGURES, smoke: bool = False, only: list[str] | None = None,
                 runs_dir: str | os.PathLike | None = None, timeout: int | None = None, retries: int = 0) -> dict:
    """Run the notebooks; ``timeout`` bounds each cell (default 300 s in smoke mode, 1800 s otherwise), so that a
    hung or oversubscribed kernel fails the run instead of waiting for ever. A notebook whose cell times out is run
    again from the start ``retries`` times (none by default: a slow cell is reported, not hidden)."""
    out = Path(out).resolve()
    if smoke and out == COMMITTED_FIGURES.resolve():
        raise MpqlabError(f"a smoke run does not write the committed figures in {out}: they are data; give another "
                          "--out (default runs/figures-smoke)")
    runs = Path(runs_dir or REPO / "runs" / ("notebooks-smoke" if smoke else "notebooks")).resolve()
    names = only or list_notebooks()
    unknown = [n for n in names if n not in list_notebooks()]
    if unknown:
        raise MpqlabError(f"unknown notebooks {unknown}; known: {list_notebooks()}")
    out.mkdir(parents=True, exist_ok=True)
    executed = EXECUTED_DIR if (not smoke and out == COMMITTED_FIGURES.resolve()) else runs / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    timeout = timeout or (300 if smoke else 1800)
    try:
        os.getcwd()
    except FileNotFoundError:  # papermill resolves its paths against the working directory, which must exist
        os.chdir(REPO)
    made, times = {}, {}
    saved_env = {k: os.environ.get(k) for k in ("MPQLAB_HEADLESS", "MPQLAB_COMPILE", "OMP_NUM_THREADS")}
    os.environ["MPQLAB_HEADLESS"] = "1"  # the kernels inherit it: explorers precomputed, figures embedded with a PNG
    if smoke:  # tiny runs: compiling the quantizer kernels costs more than it saves
        os.environ.setdefault("MPQLAB_COMPILE", "0")
        # and one intra-op thread: tiny eager ops gain nothing from a second, and on a loaded machine every op's
        # thread barrier waits for a descheduled thread (notebook 03's Hessians: 18 s alone, 150 s beside a grid)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    threads = _kernel_threads()
    try:
        _execute(names, out, runs, executed, smoke, timeout, retries, made, times)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    entries = _readme_entries(out / "README.md") if only else {}
    code = code_label(code_record())  # read after the runs: a source edited meanwhile is marked +dirty
    for name, files in made.items():
        entries[name] = (f"- `notebooks/{name}.ipynb` ({'smoke' if smoke else 'full'} run, {times[name]} s; code "
                         f"{code}; {threads}): " + ", ".join(f"`{f}`" for f in files))
    lines = ["# figures", "", "Every file here is written by `mpqlab figures` (`make figures`), which executes the",
             "notebooks with papermill. Which notebook made which figure, how long its run took, the code it ran",
             "(commit, `+dirty` for uncommitted source) and the kernels' intra-op threads. A full run's numbers depend",
             "on the thread count (the notebooks train their own models): rerun with the same `OMP_NUM_THREADS` to",
             "compare like with like.", ""]
    lines += [entries[k] for k in sorted(entries)]
    atomic_write_text(out / "README.md", "\n".join(lines) + "\n")
    return {"figures": str(out), "notebooks": times, "files": sum(len(v) for v in made.values())}


def _kernel_threads() -> str:
    """The intra-op threads the papermill kernels start with: ``OMP_NUM_THREADS`` when set, else torch's default
    (one per core)."""
    n = os.environ.get("OMP_NUM_THREADS")
    return f"OMP_NUM_THREADS={n}" if n else f"OMP_NUM_THREADS unset, {os.cpu_count()} cores"


def _execute(names, out, runs, executed, smoke, timeout, retries, made, times):
    import papermill as pm

    for name in names:
        before = {p: p.stat().st_mtime for p in out.glob(f"{figure_prefix(name)}_*")}
        t0 = time.time()
        for attempt in range(retries + 1):
            scratch = runs / name  # every run starts from an empty scratch folder: nothing stale is resumed
            shutil.rmtree(scratch, ignore_errors=True)
            try:
                pm.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(executed / f"{name}.ipynb"),
                                    parameters={"smoke": smoke, "figures_dir": str(out), "runs_dir": str(scratch)},
                                    cwd=str(NOTEBOOK_DIR), progress_bar=False, execution_timeout=timeout,
                                    kernel_name="python3")
                break
            except Exception as e:  # only a timed-out cell is retried; a real error in a cell is reported
                if "timed out" not in str(e).lower() and "timeout" not in type(e).__name__.lower() \
                        or attempt == retries:
                    raise
                print(f"{name}: a cell timed out after {timeout} s; running the notebook again", flush=True)
        _tidy_executed(executed / f"{name}.ipynb")
        times[name] = round(time.time() - t0, 1)
        made[name] = sorted(p.name for p in out.glob(f"{figure_prefix(name)}_*") if before.get(p) != p.stat().st_mtime)
