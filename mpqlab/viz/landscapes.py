"""Figures of searched policies' landscapes, from plain data: 1-D slices of several policies (a band where a
direction is one of several random ones), a 2-D plane, and the per-seed width ratios behind a verdict. Colours
follow :mod:`mpqlab.viz.palette`, so a policy is the same colour here as in every other chart."""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from .palette import color_of
from .style import apply_style

HEIGHT = 520  # every chart here is at least 400 px tall


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


DRAWN_DIGITS = 5  # significant digits of a drawn slice value: far below a pixel (full floats print 17)


def drawn(values) -> list | None:
    """``values`` as a list of floats with :data:`DRAWN_DIGITS` significant digits (None stays None)."""
    if values is None:
        return None
    return [float(f"{float(v):.{DRAWN_DIGITS}g}") for v in np.asarray(values, float).ravel()]


def policy_slices(curves: Mapping[str, dict], title: str, x_title: str, y_title: str, log_y: bool = False,
                  methods: Mapping[str, str] | None = None, dashed=()) -> go.Figure:
    """One line per policy: ``curves[label] = {"x", "y"}`` and optionally ``"lo"``, ``"hi"`` (a band drawn around
    the line, e.g. the range over random directions). ``methods`` maps a label to its method name for its colour;
    labels in ``dashed`` are drawn dashed (a second run of the same method). The drawn values keep
    :data:`DRAWN_DIGITS` significant digits (an explorer holds hundreds of views; anything computed from a slice
    is computed from its full arrays, not from the figure)."""
    fig = go.Figure()
    for label, c in curves.items():
        color = color_of((methods or {}).get(label, label))
        c = {k: drawn(v) for k, v in c.items()}
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
          colorbar: str = "log10 loss", ts2: np.ndarray | None = None, path: np.ndarray | None = None,
          path_labels: Sequence | None = None) -> go.Figure:
    """Contours of a 2-D slice ``z[i, j]`` at (ts[i], ts2[j]) (``ts2`` defaults to ``ts``; log10 of z when ``log``),
    the trained point marked; ``path`` ((n, 2) coordinates in the same units, e.g. a search's saved states
    projected on its trajectory plane) drawn over it, each point labelled by ``path_labels`` (e.g. its step)."""
    ts2 = ts if ts2 is None else ts2
    values = np.log10(np.maximum(np.asarray(z, float), 1e-12)) if log else np.asarray(z, float)
    fig = go.Figure(go.Contour(x=list(ts), y=list(ts2), z=values.T.tolist(), colorscale="Viridis",
                               colorbar={"title": {"text": colorbar}}, contours={"coloring": "heatmap"}))
    if path is not None:
        path = np.asarray(path, float)
        fig.add_trace(go.Scatter(x=path[:, 0], y=path[:, 1], mode="lines+markers", name="the search's path",
                                 showlegend=False,
                                 line={"color": "white", "width": 2}, marker={"size": 6, "color": "white"},
                                 text=[f"step {s}" for s in path_labels] if path_labels is not None else None,
                                 hovertemplate="%{text}<extra></extra>" if path_labels is not None else None))
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


# ----------------------------------------------------------------- one model's slices and planes (notebook 02)

def _log10(loss) -> np.ndarray:
    return np.log10(np.maximum(np.asarray(loss, dtype=float), 1e-12))


def landscape_surface(ts1, ts2, loss, title: str = "Loss landscape (2-D slice)", log: bool = False) -> go.Figure:
    """3-D surface of ``loss[i, j]`` at ``ts1[i]`` (direction 1) and ``ts2[j]`` (direction 2); ``log``: height and
    colour are log10(loss), so a basin whose loss spans decades is not one colour."""
    z, label = (_log10(loss), "log10 loss") if log else (np.asarray(loss), "loss (nats)")
    ts1, ts2 = np.asarray(ts1), np.asarray(ts2)
    fig = go.Figure(go.Surface(x=ts2, y=ts1, z=z, colorscale="Viridis", colorbar=dict(title=label, len=0.7)))
    i, j = int(np.argmin(np.abs(ts1))), int(np.argmin(np.abs(ts2)))  # the trained point: the grid's origin
    fig.add_trace(go.Scatter3d(x=[ts2[j]], y=[ts1[i]], z=[z[i][j]], mode="markers", marker=dict(color="red", size=6),
                               name="trained point (red)"))
    fig = apply_style(fig, title, scene=dict(xaxis_title="dir. 2", yaxis_title="dir. 1", zaxis_title=label,
                                         camera=dict(eye=dict(x=1.6, y=1.6, z=1.1))), showlegend=True,
                  legend=dict(x=0, y=1, xanchor="left", yanchor="top"))
    fig.update_layout(margin=dict(l=10, r=10, t=60, b=30))  # a 3-D scene needs no room for 2-D axis titles
    fig.add_annotation(text="directions 1 and 2: random, filter-normalised", xref="paper", yref="paper", x=0, y=0,
                       showarrow=False, font={"size": 11})
    return fig


def landscape_contour(ts1, ts2, loss, title: str = "Loss landscape (contours)", log: bool = False) -> go.Figure:
    """A 2-D loss slice as a contour plot (plotly Figure); ``log``: contours of log10(loss)."""
    z, label = (_log10(loss), "log10 loss") if log else (np.asarray(loss), "loss (nats)")
    fig = go.Figure(go.Contour(x=np.asarray(ts2), y=np.asarray(ts1), z=z, colorscale="Viridis",
                               contours=dict(showlabels=True), colorbar=dict(title=label)))
    fig.add_trace(go.Scatter(x=[0], y=[0], mode="markers", marker=dict(color="red", size=9), name="trained point"))
    return apply_style(fig, title, xaxis_title="direction 2 (filter-normalised units)",
                   yaxis_title="direction 1 (filter-normalised units)")


def landscape_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str = "1-D loss slices",
                     yaxis: str = "cross-entropy loss (nats)", log_y: bool = False) -> go.Figure:
    """One line per policy / model: ``{label: (ts, values)}``; ``log_y``: a log loss axis."""
    fig = go.Figure([go.Scatter(x=list(a), y=list(v), mode="lines+markers", name=k) for k, (a, v) in curves.items()])
    return apply_style(fig, title, xaxis_title="step along the direction (filter-normalised units)", yaxis_title=yaxis,
                   yaxis_type="log" if log_y else "linear")
