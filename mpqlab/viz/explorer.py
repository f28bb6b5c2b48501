"""A kernel-free explorer with several controls: every combination of the controls' values precomputed as a view,
switched in the browser with no kernel and no network.

:func:`explorer_figure` stacks the views into one plotly figure. Every view's traces are in it; a view is shown by
setting which traces are visible and the view's title, annotations, shapes and sentences. Two ways to switch:

- plotly alone (JupyterLab, an exported HTML file): one slider whose steps are the combinations, labelled
  ``value · value · …``, works wherever plotly.js draws the figure;
- the course site (:mod:`mpqlab.course.book`) reads the figure's metadata and draws one dropdown (or slider) per
  control above it, which pick the combination; the combined slider is hidden there.

The figure's ``layout.meta`` lists the controls and their values and, per view, its key (one value index per
control), its traces and its sentences, so a page, a test or a reader finds what the explorer offers without
running it. Axes hold still: with ``fixed_axes`` every 2-D axis (and every heatmap's colour scale) spans the
union of all views' data, so moving a control changes the data and never the frame; a view whose own figure
set an axis range keeps it only when ``fixed_axes`` is off.
"""
from __future__ import annotations

import itertools
import math
import textwrap
from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from ..core.errors import MpqlabError
from .slider import SLIDER_SPACE, STEPPED_META, _view_layout

EXPLORER_META = "mpqlab-explorer"  # meta["kind"] of a multi-control explorer
LINE_PX = 17  # pixels per line of a view's sentences
TITLE_LIFT = 26  # px the sentences rise above a view whose subplots have titles over the plot
WRAP = 120  # characters per line of a view's sentences


def _axis_of(trace, letter: str) -> str:
    ref = getattr(trace, f"{letter}axis", None) or letter
    return f"{letter}axis{ref[1:]}"


def _numbers(values) -> np.ndarray:
    if values is None:
        return np.array([])
    try:
        arr = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):  # categories (layer names): the axis is not numeric
        return np.array([np.nan, np.inf])  # marker: not numeric
    return arr[np.isfinite(arr)]


def _fixed_ranges(figs: Sequence[go.Figure]) -> dict:
    """For every numeric 2-D axis of the figures, the range that holds every view's data (log axes in log10), and
    for heatmap / contour traces the common colour range: {"xaxis": [lo, hi], …, "_z": [lo, hi]}."""
    found: dict[str, list] = {}
    log: dict[str, bool] = {}
    for fig in figs:
        layout = fig.layout.to_plotly_json()
        for trace in fig.data:
            if trace.type in ("surface", "scatter3d", "mesh3d", "pie", "table"):
                continue
            for letter in ("x", "y"):
                axis = _axis_of(trace, letter)
                log[axis] = log.get(axis) or layout.get(axis, {}).get("type") == "log"
                vals = _numbers(getattr(trace, letter, None))
                if np.isinf(vals).any():
                    found[axis] = None  # categorical: left to plotly
                    continue
                if letter == "y" and getattr(trace, "error_y", None) is not None and trace.error_y.array is not None:
                    e = _numbers(trace.error_y.array)
                    if len(e) == len(vals):
                        vals = np.concatenate([vals - e, vals + e])
                if found.get(axis, []) is not None and len(vals):
                    found.setdefault(axis, []).append(vals)
            if trace.type in ("heatmap", "contour") and trace.z is not None:
                found.setdefault("_z", []).append(_numbers(trace.z))
    out = {}
    for axis, parts in found.items():
        if not parts:
            continue
        vals = np.concatenate(parts)
        if log.get(axis):
            vals = np.log10(vals[vals > 0])
        if not len(vals):
            continue
        lo, hi = float(vals.min()), float(vals.max())
        pad = 0.04 * (hi - lo) if hi > lo else (abs(lo) * 0.05 or 1.0)
        out[axis] = [lo, hi] if axis == "_z" else [lo - pad, hi + pad]
    return out


def _wrap(text: str) -> list[str]:
    lines = []
    for para in (text or "").strip().splitlines():
        lines += textwrap.wrap(para, WRAP) or [""]
    return lines


def explorer_figure(views: Mapping[tuple, go.Figure], controls: Sequence[tuple[str, Sequence]],
                    texts: Mapping[tuple, str] | None = None, active: tuple | None = None,
                    fixed_axes: bool = True, kinds: Mapping[str, str] | None = None, free: Sequence[str] = ()
                    ) -> go.Figure:
    """One figure holding ``views`` ({key: Figure}, a key one value per control, every combination present) of the
    ``controls`` ([(name, values)], in key order), with ``texts`` ({key: sentences}) shown with their view.
    ``active``: the key shown first (default: the first combination). ``kinds``: {control: "dropdown" | "slider"}
    for the course site (default: slider for numbers, dropdown otherwise). Raises on a missing combination, a view
    for a value no control has, or an ``active`` that is no view."""
    names = [str(n) for n, _ in controls]
    values = [list(v) for _, v in controls]
    if not names or any(not v for v in values):
        raise MpqlabError("an explorer needs at least one control, each with at least one value")
    keys = list(itertools.product(*values))
    missing = [k for k in keys if k not in views]
    if missing:
        raise MpqlabError(f"the explorer has no view for {len(missing)} combination(s) of {names}, e.g. {missing[0]}")
    extra = [k for k in views if k not in keys]
    if extra:
        raise MpqlabError(f"views for values no control offers, e.g. {extra[0]} (controls {dict(zip(names, values))})")
    active = tuple(active) if active is not None else keys[0]
    if active not in views:
        raise MpqlabError(f"active={active} is not one of the explorer's combinations")
    texts = texts or {}
    figs = [views[k] for k in keys]
    unknown = [c for c in free if c not in names]
    if unknown:
        raise MpqlabError(f"free={unknown} names no control of the explorer ({names})")
    group_of = [tuple(k[names.index(c)] for c in free) for k in keys]
    ranges_by_group = {g: _fixed_ranges([f for f, h in zip(figs, group_of) if h == g]) if fixed_axes else {}
                       for g in set(group_of)}
    n_lines = max([len(_wrap(texts.get(k, ""))) for k in keys] + [0])
    # a view with annotations above its plot (subplot titles) keeps them clear of the sentences: one line higher
    titled = any(a.yref == "paper" and a.y is not None and a.y >= 1 for f in figs for a in f.layout.annotations)
    lift = TITLE_LIFT if titled and n_lines else 0
    text_px = LINE_PX * n_lines + (10 if n_lines else 0) + lift
    first = views[active]
    out = go.Figure(layout=first.layout)
    owner = []
    own = []
    for v, fig in enumerate(figs):
        ranges = ranges_by_group[group_of[v]]
        for trace in fig.data:
            t = go.Figure(trace).data[0]
            if "_z" in ranges and t.type in ("heatmap", "contour"):
                t.update(zmin=ranges["_z"][0], zmax=ranges["_z"][1], zauto=False)
            out.add_trace(t)
            owner.append(v)
            own.append(True if trace.visible is None else trace.visible)

    def view_layout(v: int) -> dict:
        ranges = ranges_by_group[group_of[v]]
        part = _view_layout(figs[v])  # title, annotations, shapes and axes, as a one-control stepped view's
        for axis, rng in ranges.items():
            if axis != "_z":
                part[axis] = {**part.get(axis, {}), "range": rng, "autorange": False}
        lines = _wrap(texts.get(keys[v], ""))
        if lines:
            part["annotations"] = list(part["annotations"]) + [{
                "text": "<br>".join(lines), "xref": "paper", "yref": "paper", "x": 0, "y": 1, "xanchor": "left",
                "yanchor": "bottom", "yshift": 6 + lift, "showarrow": False, "align": "left", "font": {"size": 12},
                "name": "mpqlab-view-text"}]
        return part

    layouts = [view_layout(v) for v in range(len(figs))]
    visibles = [[own[i] if owner[i] == v else False for i in range(len(out.data))] for v in range(len(figs))]
    a = keys.index(active)
    for trace, shown in zip(out.data, visibles[a]):
        trace.visible = shown
    out.update_layout(layouts[a])
    steps = [{"label": " · ".join(_label(x) for x in k), "method": "update", "args": [{"visible": visibles[v]}, layouts[v]]}
             for v, k in enumerate(keys)]
    top = int(first.layout.margin.t if first.layout.margin.t is not None else 100) + SLIDER_SPACE + text_px
    kinds = dict(kinds or {})
    meta = {"kind": EXPLORER_META, "fixed_axes": bool(fixed_axes), "free": list(free),
            "controls": [{"name": n, "values": [_label(x) for x in vals],
                          "widget": kinds.get(n) or ("slider" if all(isinstance(x, (int, float)) and not
                                                                     isinstance(x, bool) for x in vals) else "dropdown")}
                         for n, vals in zip(names, values)],
            "views": [{"key": [values[c].index(x) for c, x in enumerate(k)], "step": v,
                       "traces": [i for i in range(len(out.data)) if owner[i] == v],
                       "text": texts.get(k, "")} for v, k in enumerate(keys)],
            "active": a}
    out.update_layout(
        sliders=[{"active": a, "steps": steps, "currentvalue": {"prefix": " · ".join(names) + " = "},
                  "x": 0.0, "len": 1.0, "y": 1.0, "yanchor": "bottom", "pad": {"b": 30 + text_px, "t": 0}}],
        margin={"t": top}, meta=meta)
    if first.layout.height:
        out.update_layout(height=first.layout.height + SLIDER_SPACE + text_px)
    return out


def _label(x) -> str:
    if isinstance(x, float):
        return f"{x:g}" if math.isfinite(x) else str(x)
    return str(x)


def is_explorer(meta) -> bool:
    """True for the metadata of a kernel-free explorer: this module's, or a one-control stepped figure's."""
    return meta == STEPPED_META or (isinstance(meta, dict) and meta.get("kind") in (EXPLORER_META, STEPPED_META))


def explorer_controls(fig_or_meta) -> dict:
    """{control name: [value labels]} of an explorer (a figure, its layout JSON or its meta); {} for a figure that
    is not one."""
    meta = fig_or_meta
    if isinstance(fig_or_meta, go.Figure):
        meta = fig_or_meta.layout.meta
    elif isinstance(fig_or_meta, dict) and "meta" in fig_or_meta:
        meta = fig_or_meta["meta"]
    if isinstance(meta, dict) and meta.get("controls"):
        return {c["name"]: list(c["values"]) for c in meta["controls"]}
    return {}
