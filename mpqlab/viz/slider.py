"""A kernel-free explorer: several precomputed views of one figure behind a plotly slider.

A live explorer (:func:`mpqlab.course.notebooks.controls`) re-plots when a person moves a control, which needs a running
kernel. For a static page (the executed notebooks, ``make book``) the explorer is computed at a few values of its
controls instead, and :func:`stepped_figure` stacks those views into one figure: every view's traces are in it, and
the slider's steps switch which view's traces are visible (with its title, annotations, shapes and axes), all in the
browser. Visibility steps rather than animation frames because views differ in how many traces they have and of
which kind (a frame replaces traces by index: a view with one trace fewer would keep a stale one).
"""
from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

LAYOUT_KEYS = ("title", "annotations", "shapes")  # layout parts a step switches besides the axes
STEPPED_META = "mpqlab-stepped"  # layout.meta tag: the browser test and the book find stepped figures by it


def _axes(layout: dict) -> dict:
    """The axis containers (xaxis, yaxis2, …, scene, polar) of a layout as plotly JSON."""
    return {k: v for k, v in layout.items() if k.startswith(("xaxis", "yaxis", "scene", "polar", "coloraxis"))}


# The slider sits above the plot, under the title: below it, it would collide with rotated tick labels (layer names),
# whose height plotly decides only when it draws. Pixels added to the top margin (and to the height, when set):
SLIDER_SPACE = 110
TITLE = {"yref": "container", "y": 0.985, "yanchor": "top"}  # the title pinned to the top, above the slider


def _view_layout(fig: go.Figure) -> dict:
    layout = fig.layout.to_plotly_json()
    part = {k: layout.get(k, [] if k != "title" else {"text": ""}) for k in LAYOUT_KEYS}
    part["title"] = {**part["title"], **TITLE}
    part.update(_axes(layout))
    return part


def stepped_figure(views: Sequence[tuple[str, go.Figure]], control: str, active: int = 0) -> go.Figure:
    """One figure showing ``views`` (label, figure) one at a time under a slider named ``control``; the view at
    ``active`` is shown first. Every view keeps its own traces, legend entries, title, annotations, shapes and axes.
    Raises ValueError on no views or an ``active`` out of range."""
    if not views:
        raise ValueError("stepped_figure needs at least one view")
    if not 0 <= active < len(views):
        raise ValueError(f"active={active} is not the index of one of the {len(views)} views")
    first = views[active][1]
    out = go.Figure(layout=first.layout)
    owner, own = [], []  # owner[i]: the view trace i belongs to; own[i]: its visibility in that view
    for v, (_, fig) in enumerate(views):
        for trace in fig.data:
            out.add_trace(trace)
            owner.append(v)
            own.append(True if trace.visible is None else trace.visible)  # False / "legendonly" kept
    steps = []
    for v, (label, fig) in enumerate(views):
        visible = [own[i] if owner[i] == v else False for i in range(len(out.data))]
        steps.append({"label": str(label), "method": "update", "args": [{"visible": visible}, _view_layout(fig)]})
    for trace, shown in zip(out.data, steps[active]["args"][0]["visible"]):
        trace.visible = shown
    top = int(first.layout.margin.t if first.layout.margin.t is not None else 100) + SLIDER_SPACE
    out.update_layout(
        sliders=[{"active": active, "steps": steps, "currentvalue": {"prefix": f"{control} = "},
                  "x": 0.0, "len": 1.0, "y": 1.0, "yanchor": "bottom", "pad": {"b": 30, "t": 0}}],
        margin={"t": top}, title=TITLE, meta=STEPPED_META)
    if first.layout.height:
        out.update_layout(height=first.layout.height + SLIDER_SPACE)
    return out


def view_labels(fig: go.Figure) -> list[str]:
    """The labels of a stepped figure's slider steps ([] for any other figure)."""
    if fig.layout.meta != STEPPED_META or not fig.layout.sliders:
        return []
    return [s.label for s in fig.layout.sliders[0].steps]
