"""What a notebook calls from its kernel, and the notebooks' sources.

In a kernel: :func:`notebook_setup` (folders and ``show()``, which saves a figure and embeds it: its plotly JSON
and its PNG, nothing linked), :func:`controls` (an explorer: widgets in a live kernel, a kernel-free explorer
precomputed at a few values in a headless run), :func:`committed_grid`, :func:`keyed_path`. Outside it:
:func:`list_notebooks`, :func:`figure_prefix`, :func:`build_notebooks` (jupytext sources to ``.ipynb``). Running them
headless is :mod:`mpqlab.course.execution`; ``make book`` turns the executed copies into a static site
(:mod:`mpqlab.course.book`).
"""
from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import io
import itertools
import json
import os
import time
from pathlib import Path

from ..core.errors import MpqlabError
from ..core.files import atomic_write_text
from ..experiments.report import PARTIAL
from ..viz import figures as viz
from ..viz.explorer import explorer_figure
from ..viz.files import static_png

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
    d = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else dict(cfg)
    digest = hashlib.sha256(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return Path(folder) / f"{stem}-{digest}{suffix}"


def notebook_setup(data_root=None, figures_dir="../runs/figures", runs_dir="../runs/notebooks"):
    """The setup every notebook shares, after its papermill parameters: point ``MPQLAB_DATA`` at ``data_root``
    when given, create the runs folder, and return ``(RUNS, show)``: the runs folder, and ``show(fig, name)``, which
    saves a plotly figure as HTML + PNG in ``figures_dir`` (:func:`mpqlab.viz.figures.save_figure`; by default the scratch
    folder ``runs/figures``: only ``make figures`` writes the committed ``figures/``), displays it and returns the
    saved paths. (Run from a checkout, ``make setup`` installs mpqlab into the notebooks' kernel.)"""
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
    from IPython.display import display  # deferred: inside a notebook kernel only

    bundle = {"application/vnd.plotly.v1+json": json.loads(fig.to_json()),
              "text/plain": f"<plotly figure: {fig.layout.title.text or 'untitled'}>"}
    if png is not None:
        bundle["image/png"] = base64.b64encode(png).decode()
    display(bundle, raw=True)


def _png(fig) -> bytes | None:
    return static_png(fig)


SMOKE_VALUES = 2  # offline values per control that a smoke run (MPQLAB_SMOKE=1) precomputes, besides the default


def _offline_views(fn, values: dict, offline: dict) -> tuple[dict, tuple, list, dict]:
    """``fn`` at every combination of the ``offline`` values (other controls at ``values``, each default added):
    ({combination: result}, the default combination, [(name, values)], {combination: what ``fn`` printed})."""
    unknown = [k for k in offline if k not in values]
    if unknown:
        raise MpqlabError(f"offline values for {unknown}, which are not controls of this explorer ({list(values)})")
    if os.environ.get("MPQLAB_SMOKE") == "1":  # a smoke run checks the explorer, the full run precomputes it all
        offline = {k: list(v)[:SMOKE_VALUES] for k, v in offline.items()}
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
    import plotly.graph_objects as go  # deferred: slow import, figures only

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
    import jupytext  # deferred: notebook tooling only
    import nbformat  # deferred: notebook tooling only

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
    it. Live, a status beside the controls says "computing…" while ``fn`` runs and then how long it took; a view
    already seen this session (the same values) comes from a cache instead of being computed again. Returns the
    FigureWidget (or the widget box, or the headless result)."""
    from IPython.display import display  # deferred: inside a notebook kernel only

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
    import ipywidgets  # deferred: inside a notebook kernel only
    import plotly.graph_objects as go  # deferred: slow import, figures only

    text, status, cache = ipywidgets.Output(), ipywidgets.HTML(), {}  # cache: this session's views, by values

    def view():
        """``fn`` at the controls' values (printing what it printed), or the same view from this session's cache."""
        vals = values()
        try:
            key = tuple(sorted(vals.items()))
            hash(key)
        except TypeError:  # a control whose value cannot be a key: computed every time
            key = None
        if key in cache:
            result, printed = cache[key]
            print(printed, end="")
            status.value = "<small>the same view as before: from this session's cache</small>"
            return go.Figure(result) if isinstance(result, go.Figure) else result
        status.value = "<small>computing&hellip;</small>"
        t0, out = time.perf_counter(), io.StringIO()
        with contextlib.redirect_stdout(out):
            result = fn(**vals)
        print(out.getvalue(), end="")
        if key is not None:
            cache[key] = (go.Figure(result) if isinstance(result, go.Figure) else result, out.getvalue())
        status.value = f"<small>computed in {time.perf_counter() - t0:.1f} s</small>"
        return result

    with text:
        first = view()
    figure = go.FigureWidget(first) if isinstance(first, go.Figure) else None
    if figure is None and first is not None:
        with text:
            display(first)

    def replot(_change=None):
        text.clear_output(wait=True)
        with text:
            new = view()
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
    box = ipywidgets.VBox([ipywidgets.HBox(shown + [status]), text] + ([figure] if figure is not None else []))
    box.add_class("mpqlab-explorer")
    display(box)
    return figure if figure is not None else box


COMMITTED_FIGURES = REPO / "figures"  # written by full runs only (`make figures`)
EXECUTED_DIR = NOTEBOOK_DIR / "executed"  # the executed copies of the full runs that wrote COMMITTED_FIGURES
