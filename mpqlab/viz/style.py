"""The kit's look, in one place: every chart's template and margins, a minimum height, and each named trace in its
label's colour (:mod:`mpqlab.viz.palette`), so a model or method is the same colour in every chart."""
from __future__ import annotations

import plotly.graph_objects as go

from .palette import colour_traces

TEMPLATE = "plotly_white"  # plotly's white template: the background of every chart
MIN_HEIGHT = 400  # px: no chart of the kit is shorter (a shorter one squeezes its axis labels and legend)


def apply_style(fig: go.Figure, title: str, **kw) -> go.Figure:
    """The kit's look: its template and margins, at least ``MIN_HEIGHT`` tall, each named trace in its label's colour
    (:func:`mpqlab.viz.palette.color_of`: one colour per model or method in every chart)."""
    if kw.get("height") is not None:
        kw["height"] = max(MIN_HEIGHT, kw["height"])
    fig.update_layout(template=TEMPLATE, title=title, margin=dict(l=60, r=30, t=60, b=50), **kw)
    colour_traces(fig)
    return fig
