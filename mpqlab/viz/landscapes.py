"""Figures of searched policies' landscapes, from plain data: 1-D slices of several policies (a band where a
direction is one of several random ones), a 2-D plane, and the per-seed width ratios behind a verdict. Colours
follow :mod:`mpqlab.viz.palette`, so a policy is the same colour here as in every other chart."""
from __future__ import annotations

from typing import Mapping

import numpy as np
import plotly.graph_objects as go

from .palette import color_of

HEIGHT = 520  # every chart here is at least 400 px tall


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def policy_slices(curves: Mapping[str, dict], title: str, x_title: str, y_title: str, log_y: bool = False,
                  methods: Mapping[str, str] | None = None, dashed=()) -> go.Figure:
    """One line per policy: ``curves[label] = {"x", "y"}`` and optionally ``"lo"``, ``"hi"`` (a band drawn around
    the line, e.g. the range over random directions). ``methods`` maps a label to its method name for its colour;
    labels in ``dashed`` are drawn dashed (a second run of the same method)."""
    fig = go.Figure()
    for label, c in curves.items():
        color = color_of((methods or {}).get(label, label))
        if c.get("lo") is not None:
            x = list(c["x"]) + list(c["x"])[::-1]
            y = list(c["hi"]) + list(c["lo"])[::-1]
            fig.add_trace(go.Scatter(x=x, y=y, fill="toself", fillcolor=_rgba(color, 0.15), line={"width": 0},
                                     hoverinfo="skip", showlegend=False, legendgroup=label))
        fig.add_trace(go.Scatter(x=list(c["x"]), y=list(c["y"]), name=label, legendgroup=label, mode="lines+markers",
                                 line={"color": color, "dash": "dash" if label in dashed else "solid"},
                                 marker={"size": 5}))
    fig.update_layout(title={"text": title}, height=HEIGHT, xaxis_title=x_title, yaxis_title=y_title,
                      legend={"orientation": "v"})
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def plane(ts: np.ndarray, z: np.ndarray, title: str, axis_titles=("a / span", "b / span"), log: bool = True,
          colorbar: str = "log10 loss") -> go.Figure:
    """Contours of a 2-D slice ``z[i, j]`` at (ts[i], ts[j]) (log10 of it when ``log``), the trained point marked."""
    values = np.log10(np.maximum(np.asarray(z, float), 1e-12)) if log else np.asarray(z, float)
    fig = go.Figure(go.Contour(x=list(ts), y=list(ts), z=values.T.tolist(), colorscale="Viridis",
                               colorbar={"title": {"text": colorbar}}, contours={"coloring": "heatmap"}))
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", marker={"symbol": "x", "size": 10, "color": "white"},
                             name="trained point", showlegend=False))
    fig.update_layout(title={"text": title}, height=HEIGHT, xaxis_title=axis_titles[0], yaxis_title=axis_titles[1])
    return fig


def width_ratios(ratios: Mapping[str, Mapping[int, float]], title: str, methods: Mapping[str, str] | None = None
                 ) -> go.Figure:
    """Per contrast (label -> {seed: width ratio}), one point per seed on a log axis, a line at 1 (no difference)."""
    fig = go.Figure()
    for label, by_seed in ratios.items():
        seeds = sorted(by_seed)
        fig.add_trace(go.Scatter(x=[by_seed[s] for s in seeds], y=[label] * len(seeds), mode="markers",
                                 text=[f"seed {s}" for s in seeds], name=label,
                                 marker={"size": 10, "color": color_of((methods or {}).get(label, label))}))
    fig.add_vline(x=1.0, line={"dash": "dot", "color": "#444"})
    fig.update_xaxes(type="log", title="width ratio along the random band (> 1: flatter)")
    fig.update_layout(title={"text": title}, height=max(400, 160 + 70 * len(ratios)), showlegend=False)
    return fig
