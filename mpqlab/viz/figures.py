"""Plotly figures from plain data (arrays, dicts, DataFrames, policy dicts). Every function returns a
``plotly.graph_objects.Figure`` and never shows it; :func:`save_figure` (from :mod:`mpqlab.viz.files`, re-exported
here) writes HTML and PNG / SVG.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ..quant.cost import bitops_shares
from ..search.methods import REFERENCE, is_uniform
from .files import PLOTLY_JS, find_browser, save_figure, write_plotly_js  # noqa: F401 (re-exported)
from .landscapes import landscape_contour, landscape_curves, landscape_surface  # noqa: F401 (re-exported)
from .palette import METHOD_COLORS, color_of  # noqa: F401 (re-exported)
from .palette import palette as _colors
from .style import TEMPLATE  # noqa: F401 (TEMPLATE re-exported)
from .style import apply_style as _layout


def quantizer_staircase(w, curves: Mapping[str, Sequence[float]], title: str = "The weight quantizer is a staircase",
                        points: tuple[Sequence[float], Sequence[float]] | None = None) -> go.Figure:
    """Quantizer outputs against the float weight ``w`` (``curves``: label -> q(w) on ``w``, drawn as lines: sample
    ``w`` finely so the jumps look vertical), the identity for reference, and optional ``points`` (w, q) marked (a
    worked example's values)."""
    w = np.asarray(w, dtype=float)
    fig = go.Figure(go.Scatter(x=w, y=w, mode="lines", name="w (no quantization)", line=dict(color="#999", dash="dot")))
    for label, q in curves.items():
        fig.add_trace(go.Scatter(x=w, y=np.asarray(q, dtype=float), mode="lines", name=label, line=dict(width=2.5)))
    if points is not None:
        fig.add_trace(go.Scatter(x=list(points[0]), y=list(points[1]), mode="markers", name="the worked example",
                                 marker=dict(size=7, color="#222222")))
    return _layout(fig, title, xaxis_title="float weight w", yaxis_title="quantized weight q(w)")


# ------------------------------------------------------------------------------------------------- Hessian

def layer_change(result: Mapping, title: str | None = None) -> go.Figure:
    """From :func:`mpqlab.analysis.landscape.layer_bits_change`: the 1-D slices before and after one layer's bits
    change, the layer's BitOPs, and its Hessian trace, side by side."""
    (wb, ab), (wa, aa) = result["bits_before"], result["bits_after"]
    names = [f"W{wb}A{ab} (as trained)", f"W{wa}A{aa}"]
    fig = make_subplots(rows=1, cols=3, column_widths=[0.5, 0.25, 0.25], horizontal_spacing=0.09,
                        subplot_titles=("loss along one direction", "the layer's GBitOPs", "the layer's Hessian trace"))
    for name, tag in zip(names, ("before", "after")):
        fig.add_trace(go.Scatter(x=list(result["ts"]), y=list(result[f"loss_{tag}"]), mode="lines+markers",
                                 name=name, legendgroup=tag), row=1, col=1)
    fig.add_trace(go.Bar(x=names, y=[result["layer_bitops_before"] / 1e9, result["layer_bitops_after"] / 1e9],
                         showlegend=False), row=1, col=2)
    fig.add_trace(go.Bar(x=names, y=[result["trace_before"], result["trace_after"]], showlegend=False), row=1, col=3)
    fig.update_xaxes(title_text="step a along the direction (filter-normalised units)", row=1, col=1)
    fig.update_yaxes(title_text="cross-entropy loss", row=1, col=1)
    fig.update_yaxes(title_text="GBitOPs", row=1, col=2)
    fig.update_yaxes(title_text="tr(H) of the layer's weights", row=1, col=3)
    return _layout(fig, title or f"{result['layer']}: W{wb}A{ab} -> W{wa}A{aa}", height=380)


def eigenvalue_bars(eigs: Mapping[str, Sequence[float]], title: str = "Top Hessian eigenvalues") -> go.Figure:
    """Top Hessian eigenvalues per model as grouped bars (plotly Figure)."""
    fig = go.Figure([go.Bar(x=[f"λ{i + 1}" for i in range(len(v))], y=list(v), name=k) for k, v in eigs.items()])
    return _layout(fig, title, barmode="group", yaxis_title="eigenvalue")


def spectral_density(densities: Mapping[str, tuple[Sequence[float], Sequence[float]]], log: bool = True,
                     title: str = "Hessian spectral density (SLQ)") -> go.Figure:
    """``{label: (grid, density)}``, e.g. from :func:`mpqlab.analysis.density.gaussian_density`. On the log axis
    (``log``) the density is drawn down to ``1e-6`` of its peak, and left as a gap below (a Gaussian-smoothed sum of
    a few nodes falls to 0 between them: no floor value is invented for it); ticks are powers of ten."""
    fig = go.Figure()
    for k, (g, d) in densities.items():
        d = np.asarray(d, dtype=float)
        floor = float(d.max()) * 1e-6 if log and len(d) and d.max() > 0 else -np.inf
        fig.add_trace(go.Scatter(x=list(g), y=[float(v) if v >= floor else None for v in d], mode="lines", name=k,
                                 connectgaps=False, line=dict(color=color_of(k))))
    fig = _layout(fig, title, xaxis_title="eigenvalue", yaxis_title="density" + (" (log; below 10⁻⁶ of its peak: "
                  "not drawn)" if log else ""), yaxis_type="log" if log else "linear")
    if log:
        fig.update_yaxes(exponentformat="power", dtick=1)
    return fig


def layer_trace_bars(traces: Mapping[str, Mapping[str, float]], title: str = "Per-layer Hessian trace",
                     per_parameter: bool = False) -> go.Figure:
    """Per-layer Hessian traces per model as grouped bars on a log axis; ``per_parameter``: the values are
    tr(H_ll) / n_l, the layer's mean curvature per weight (what HAWQ ranks layers by)."""
    return layer_bars(traces, title, "tr(H_ll) / n_l (per parameter)" if per_parameter else "tr(H_ll)", log=True)


# ------------------------------------------------------------------------------------------- conflict angles

def nan_running_mean(values: Sequence[float], window: int, min_count: int = 1) -> np.ndarray:
    """The mean of the defined (non-NaN) values in each trailing window of ``window`` steps; NaN where a window
    holds fewer than ``min_count``. A plain convolution would turn every window touching one NaN into NaN."""
    c = np.asarray(values, dtype=float)
    ok = ~np.isnan(c)
    sums = np.convolve(np.where(ok, c, 0.0), np.ones(window), mode="valid")
    counts = np.convolve(ok.astype(float), np.ones(window), mode="valid")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts >= max(min_count, 1), sums / np.maximum(counts, 1), np.nan)


def angle_series(series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str = "cos(g, g_p) over the search",
                 yaxis: str = "cosine", smooth: int = 1, full_range: bool = False) -> go.Figure:
    """``{label: (steps, cosines)}``, one colour per label. The per-step values are markers (a cosine can be
    undefined on some steps, NaN: a line would hide isolated points); ``smooth`` > 1 adds the running mean as a
    line where at least half of a window is defined (:func:`nan_running_mean`; no line where no window is).
    ``full_range``: the y axis spans
    [-1, 1] (for cosines that change sign); else it fits the data."""
    fig = go.Figure()
    for k, (s, c) in series.items():
        color = color_of(k)
        c = np.asarray(c, dtype=float)
        fig.add_trace(go.Scatter(x=list(s), y=list(c), mode="markers", name=f"{k} (per step)",
                                 marker=dict(size=5, color=color), opacity=0.45 if smooth > 1 else 1))
        if smooth > 1 and len(c) >= smooth:
            m = nan_running_mean(c, smooth, min_count=(smooth + 1) // 2)
            if np.isnan(m).all():  # too few defined steps for any window: no line, and no legend entry for one
                continue
            fig.add_trace(go.Scatter(x=list(s)[smooth - 1:], y=list(m), mode="lines", connectgaps=False,
                                     name=f"{k} (mean of {smooth})", line=dict(color=color, width=2)))
    fig = _layout(fig, title, xaxis_title="search step", yaxis_title=yaxis)
    if full_range:
        fig.update_yaxes(range=[-1.05, 1.05])
    return fig


def radius_sweep(rows: Sequence[Mapping], title: str = "The radius ρ: perturbed loss, surrogate gap, cos(g, g_p)"
                 ) -> go.Figure:
    """Rows ``{"ρ", "L(θ)", "L(θ+e)", "h", "cos(g, g_p)"}`` over radii: the two losses (left) and h with the cosine
    (right, two axes)."""
    rho = [r["ρ"] for r in rows]
    fig = make_subplots(rows=1, cols=2, specs=[[{}, {"secondary_y": True}]], horizontal_spacing=0.12,
                        subplot_titles=("loss at θ and at θ + e", "surrogate gap h and cos(g, g_p)"))
    for key in ("L(θ)", "L(θ+e)"):
        fig.add_trace(go.Scatter(x=rho, y=[r[key] for r in rows], mode="lines+markers", name=key), row=1, col=1)
    fig.add_trace(go.Scatter(x=rho, y=[r["h"] for r in rows], mode="lines+markers", name="h = L(θ+e) − L(θ)"),
                  row=1, col=2)
    fig.add_trace(go.Scatter(x=rho, y=[r["cos(g, g_p)"] for r in rows], mode="lines+markers", name="cos(g, g_p)",
                             line=dict(dash="dot")), row=1, col=2, secondary_y=True)
    fig.update_xaxes(title_text="radius ρ (weight-space norm)")
    fig.update_yaxes(title_text="cross-entropy loss (nats)", row=1, col=1)
    fig.update_yaxes(title_text="h (nats)", row=1, col=2, secondary_y=False)
    fig.update_yaxes(title_text="cos(g, g_p)", row=1, col=2, secondary_y=True)
    return _layout(fig, title, height=420)


def layer_bars(values: Mapping[str, Mapping[str, float]], title: str, yaxis: str, log: bool = False) -> go.Figure:
    """One value per layer per label as grouped bars, layers in forward order: ``{label: {layer: value}}``."""
    fig = go.Figure([go.Bar(x=list(t), y=list(t.values()), name=k) for k, t in values.items()])
    return _layout(fig, title, barmode="group", yaxis_title=yaxis, xaxis_title="layer", xaxis_tickangle=-45,
                   yaxis_type="log" if log else "linear")


# -------------------------------------------------------------------------------------------------- bitwidths

def _bits_of(pol: Mapping) -> dict:
    return {n: (r["w_bits"], r["a_bits"]) for n, r in pol["layers"].items()}


def bitwidth_heatmap(policies: Mapping[str, Mapping], title: str = "Bits per layer",
                     notes: Mapping[str, str] | None = None) -> go.Figure:
    """Layers (rows, forward order) x policies (columns) for weight bits and activation bits side by side, one
    shared colour scale, the bits written in each cell. ``policies``: label -> ``Policy.to_dict()``; ``notes``:
    label -> a second line under the column label (e.g. its BitOPs and top-1)."""
    labels = list(policies)
    layers = list(next(iter(policies.values()))["layers"]) if labels else []
    cols = [f"{k}<br>{notes[k]}" if notes and k in notes else k for k in labels]
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.03,
                        subplot_titles=("weight bits", "activation bits"))
    for c, key in enumerate(("w_bits", "a_bits"), start=1):
        z = [[policies[k]["layers"][n][key] for k in labels] for n in layers]
        fig.add_trace(go.Heatmap(z=z, x=cols, y=layers, zmin=2, zmax=8, colorscale="Viridis", text=z,
                                 texttemplate="%{text}", showscale=c == 2, colorbar=dict(title="bits"),
                                 hovertemplate="%{y}<br>%{x}<br>%{z} bits<extra></extra>"), row=1, col=c)
    fig.update_yaxes(autorange="reversed", title_text="layer (forward order)", row=1, col=1)
    return _layout(fig, title, height=max(360, 22 * len(layers) + 160))


def compare_cells(cells: Mapping[str, Mapping], title: str = "Two policies of the experiment grid") -> go.Figure:
    """:func:`bitwidth_heatmap` of grid cells (``{label: {"row": csv row, "policy": policy dict}}``, as from
    :func:`mpqlab.experiments.merge.finished_cells`), each column labelled with its BitOPs and target top-1 (a cell
    without a ``row`` gets its policy's BitOPs only)."""
    notes = {k: f"{float(c['row']['bitops']) / 1e9:.3f} GBitOPs, top-1 {float(c['row']['target_top1']):.2f} %"
             if c.get("row") else f"{c['policy']['totals']['bitops'] / 1e9:.3f} GBitOPs" for k, c in cells.items()}
    return bitwidth_heatmap({k: c["policy"] for k, c in cells.items()}, title=title, notes=notes)


def bitops_share(policies: Mapping[str, Mapping], title: str = "Share of each layer in the policy's BitOPs") -> go.Figure:
    """Per layer, its share (%) of the policy's BitOPs (:func:`mpqlab.quant.cost.bitops_shares`), one line per policy."""
    fig = go.Figure()
    for k, pol in policies.items():
        share = bitops_shares(pol["layers"], _bits_of(pol))
        fig.add_trace(go.Scatter(x=list(share), y=list(share.values()), mode="lines+markers", name=k))
    return _layout(fig, title, height=320, xaxis_tickangle=-45, xaxis_title="layer (forward order)",
                   yaxis_title="share of BitOPs (%)", yaxis_rangemode="tozero")


def softmax_heatmap(df, kind: str = "w", layer: str | None = None, title: str | None = None,
                    order: Sequence[str] | None = None) -> go.Figure:
    """From :func:`mpqlab.search.read_softmaxes`: expected bits per layer and epoch (``layer=None``), or one
    layer's probability of each candidate per epoch. ``order``: the layers' forward order (e.g. the policy's
    ``layers``), so that rows line up with :func:`bitwidth_heatmap`'s; epochs are whole-number ticks."""
    d = df[df["kind"] == kind]
    if layer is None:  # the same orientation and scale as bitwidth_heatmap: layers top to bottom, Viridis 2..8 bits
        e = (d.assign(eb=d["prob"] * d["bits"]).groupby(["layer", "epoch"], sort=False)["eb"].sum().unstack("epoch"))
        if order is not None:
            e = e.reindex([n for n in order if n in e.index])
        z, y, x, ctitle = e.values, list(e.index), list(e.columns), "expected bits"
        title = title or f"Expected {'weight' if kind == 'w' else 'activation'} bits over the search"
        fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale="Viridis", zmin=2, zmax=8, colorbar=dict(title=ctitle)))
        fig.update_yaxes(autorange="reversed", title_text="layer (forward order)")
    else:  # probabilities on a fixed 0..1 scale, candidates from low (top) to high bits
        e = d[d["layer"] == layer].pivot(index="bits", columns="epoch", values="prob")
        z, y, x, ctitle = e.values, [str(b) for b in e.index], list(e.columns), "probability"
        title = title or f"{layer}: softmax over {'weight' if kind == 'w' else 'activation'} bits"
        fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale="Blues", zmin=0, zmax=1, colorbar=dict(title=ctitle)))
        fig.update_yaxes(autorange="reversed", title_text="candidate bits")
    fig.update_xaxes(tickmode="linear", tick0=1, dtick=1)  # epochs are whole numbers
    return _layout(fig, title, xaxis_title="search epoch (after each epoch)")


# ---------------------------------------------------------------------------------------------- result tables

def pareto(df, x: str = "bitops", y: str = "top1", color: str = "method", symbol: str | None = None,
           title: str = "Accuracy vs BitOPs", labels: bool | None = None, xaxis: str | None = None,
           yaxis: str | None = None) -> go.Figure:
    """Mean and standard deviation over seeds per ``color`` group (and ``symbol`` group: e.g. method and
    setting), and the Pareto front of the means. Points carry text labels when there are few of them
    (``labels=None``: at most 8 groups). ``xaxis`` / ``yaxis``: axis titles with units (default: the columns)."""
    keys = [color] + ([symbol] if symbol else [])
    g = df.groupby(keys).agg(xm=(x, "mean"), ym=(y, "mean"), ys=(y, "std"), n=(y, "size")).reset_index()
    g["ys"] = g["ys"].fillna(0.0)
    labels = len(g) <= 8 if labels is None else labels
    kinds = sorted(g[symbol].astype(str).unique()) if symbol else []
    colors = {k: color_of(k) for k in g[color].astype(str).unique()}
    fig = go.Figure()
    for _, r in g.iterrows():
        name = str(r[color]) + (f" · {r[symbol]}" if symbol else "")
        fig.add_trace(go.Scatter(x=[r.xm], y=[r.ym], error_y=dict(type="data", array=[r.ys]),
                                 mode="markers+text" if labels else "markers", text=[name] if labels else None,
                                 textposition="top center", name=name, legendgroup=str(r[color]),
                                 marker=dict(size=11, color=colors[str(r[color])],
                                             symbol=_SYMBOLS[kinds.index(str(r[symbol])) % len(_SYMBOLS)]
                                             if symbol else "circle")))
    front, best = [], -np.inf
    for _, r in g.sort_values("xm").iterrows():
        if r.ym > best:
            front.append((r.xm, r.ym))
            best = r.ym
    if front:
        fig.add_trace(go.Scatter(x=[p[0] for p in front], y=[p[1] for p in front], mode="lines",
                                 line=dict(dash="dot", color="grey"), name="Pareto front"))
    return _layout(fig, title, xaxis_title=xaxis or x, yaxis_title=yaxis or y)


_SYMBOLS = ["circle", "diamond", "square", "triangle-up", "x", "cross", "star"]  # marker per group of a 2nd column


def sharpness_vs_generalization(df, sharpness: str = "target_surrogate_gap", gap: str = "gap", color: str = "method",
                                symbol: str | None = None, title: str = "Sharpness vs generalization",
                                xaxis: str | None = None, yaxis: str | None = None, note: str | None = None,
                                highlight: str | None = None, link: str | None = None) -> go.Figure:
    """The paper's Figure 1: one point per run, a sharpness measure vs the accuracy change proxy -> target.
    ``link``: a column of page links (empty for none); on the course site a click on a point opens its link.
    ``color`` and the optional ``symbol`` name columns of ``df`` (e.g. method and setting); ``note`` (lines joined
    by ``<br>``, e.g. :func:`mpqlab.experiments.report.fig1_note`) is printed in a box on the figure, below the plot;
    ``highlight``: one value of ``color`` drawn solid and larger, the others faded."""
    fig = go.Figure()
    kinds = sorted(df[symbol].astype(str).unique()) if symbol else [None]
    for k, d in df.groupby(color):
        for j, s in enumerate(kinds):
            part = d if s is None else d[d[symbol].astype(str) == s]
            if len(part) == 0:
                continue
            links = list(part[link].fillna("")) if link else None
            fig.add_trace(go.Scatter(x=part[sharpness], y=part[gap], mode="markers", customdata=links,
                                     hovertemplate=None if not links else
                                     "%{x:.4g}, %{y:.3g}<br>click: open its landscapes (course site)<extra></extra>",
                                     name=str(k) if s is None else f"{k} · {s}", legendgroup=str(k),
                                     opacity=1.0 if highlight is None or str(k) == highlight else 0.2,
                                     marker=dict(size=13 if highlight is not None and str(k) == highlight else 10,
                                                 symbol=_SYMBOLS[j % len(_SYMBOLS)],
                                                 color=color_of(k))))
    fig = _layout(fig, title, xaxis_title=xaxis or sharpness, yaxis_title=yaxis or gap)
    if note:
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0, y=-0.2, xanchor="left", yanchor="top",
                           showarrow=False, align="left", font={"size": 11}, bordercolor="#888", borderwidth=1,
                           bgcolor="rgba(255,255,255,0.9)")
        fig.update_layout(margin={"b": 170})
    return fig


def effects_forest(comps: Sequence[Mapping], title: str = "Paired effects", margin: float | None = None,
                   note: str | None = None, gate_pairs: Sequence[tuple[str, str]] | None = None,
                   links: Sequence[str] | None = None) -> go.Figure:
    """A forest plot of paired comparisons (:func:`mpqlab.experiments.report.comparisons`' rows: ``a``, ``b``, ``setting``,
    ``mean``, ``ci_low``, ``ci_high``, ``n``): one row per comparison, the mean difference A − B in points with its
    95 % interval, a line at 0. With ``margin``, the gate's threshold is marked on the gate rows only (``gate_pairs``;
    default: the reference against a uniform baseline). A row far outside the others (e.g. random policies, −16
    points, beside effects of ±1) would squash them: the axis spans the others and such a row is drawn at the edge,
    its value and interval written beside it. ``links``: one course-site link per row ("" for none); on the site a
    click on a row's point opens it (e.g. the row's first policy's landscapes and bits)."""
    comps = list(comps)
    labels = [f"{c['a']} − {c['b']} ({c['setting']}, n={c['n']})" for c in comps]
    reach = [max(abs(c["ci_low"]), abs(c["ci_high"])) for c in comps]
    limit = 2.5 * float(np.median(reach)) + (margin or 0.0) if comps else 1.0
    far = [r > limit for r in reach]
    edge = lambda v: float(np.clip(v, -limit, limit))  # noqa: E731
    fig = go.Figure(go.Scatter(
        x=[edge(c["mean"]) for c in comps], y=labels, mode="markers", marker=dict(size=9, color="#333"),
        name="mean difference", customdata=list(links) if links else None,
        hovertemplate=None if not links else "%{x:+.2f}<br>click: open A's landscapes and bits (course site)"
                                             "<extra></extra>",
        error_x=dict(type="data", symmetric=False, array=[edge(c["ci_high"]) - edge(c["mean"]) for c in comps],
                     arrayminus=[edge(c["mean"]) - edge(c["ci_low"]) for c in comps])))
    for c, lab, f in zip(comps, labels, far):
        if f:
            fig.add_annotation(x=edge(c["mean"]), y=lab, text=f"{c['mean']:+.2f} [{c['ci_low']:+.2f}, "
                               f"{c['ci_high']:+.2f}] (off scale)", showarrow=False, yshift=14, font={"size": 10})
    fig.add_vline(x=0, line=dict(color="#444", width=1))
    if margin is not None:
        gates = set(map(tuple, gate_pairs)) if gate_pairs is not None else None
        for i, c in enumerate(comps):
            if (c["a"], c["b"]) in gates if gates is not None else (c["a"] == REFERENCE and is_uniform(c["b"])):
                fig.add_shape(type="line", x0=margin, x1=margin, y0=i - 0.4, y1=i + 0.4,
                              line=dict(color="#c44", width=2, dash="dash"))
                fig.add_annotation(x=margin, y=labels[i], text=f"gate: +{margin:g}", showarrow=False, xanchor="left",
                                   xshift=4, yshift=-12, font={"size": 10, "color": "#c44"})
    fig = _layout(fig, title, xaxis_title="A − B, target top-1 (points; 95 % CI, paired by seed)",
                  yaxis=dict(autorange="reversed"), height=140 + 34 * len(comps), showlegend=False)
    fig.update_xaxes(range=[-limit * 1.08, limit * 1.08])
    if note:
        fig.add_annotation(text=note, xref="paper", yref="paper", x=0, y=-0.12, xanchor="left", yanchor="top",
                           showarrow=False, align="left", font={"size": 11})
        fig.update_layout(margin={"b": 120})
    return fig


def band_series(df, group: str = "radius", x: str = "step", title: str = "", yaxis: str = "") -> go.Figure:
    """Median lines with shaded bands: ``df`` has columns ``group``, ``x``, median, low, high (one row per group
    and x), as :func:`mpqlab.experiments.studies.radius.bands` returns."""
    fig = go.Figure()
    for color, (name, d) in zip(_colors(), df.groupby(group, sort=False)):
        d = d.sort_values(x)
        xs = list(d[x])
        fig.add_trace(go.Scatter(x=xs + xs[::-1], y=list(d["high"]) + list(d["low"])[::-1], fill="toself",
                                 fillcolor=color, opacity=0.2, line={"width": 0}, hoverinfo="skip",
                                 showlegend=False, name=f"{name} band"))
        fig.add_trace(go.Scatter(x=xs, y=list(d["median"]), mode="lines", name=str(name), line={"color": color}))
    return _layout(fig, title, xaxis_title=x, yaxis_title=yaxis)
