"""The kit's colours: one per method in every chart (notebooks, figures, reports), so a reader who learns that
EdMIPS+ASGA is red in one figure finds it red in the next."""
from __future__ import annotations

import re
import zlib


def palette() -> list[str]:
    """plotly's default qualitative colours (for groups that are not methods, e.g. radius rules)."""
    import plotly.express as px  # deferred: slow import, figures only

    return px.colors.qualitative.Plotly


# one colour per method in every chart of the kit (notebooks, figures, reports); the methods' families keep theirs
# when they carry settings (edmips+sam:rho=0.1) or a suffix (" · cross-dataset", " (proxy)")
METHOD_COLORS = {"edmips@target": "#636EFA", "edmips": "#00CC96", "edmips+asga": "#EF553B", "edmips+sam": "#AB63FA",
                 "edmips+gsam": "#FFA15A", "hawq": "#19D3F3", "gmpq": "#FF6692", "gmpq+asga": "#FF97FF",
                 "uniform": "#7F7F7F", "random": "#FECB52", "float": "#222222",
                 # the uniform models the course compares (notebooks 02 and 03)
                 "W8A8": "#2E91E5", "W4A4": "#1CA71C", "W2A2": "#B2828D"}
NEAR = 60  # a label's own colour keeps at least this RGB distance from every colour above


def color_of(label) -> str:
    """The colour of a method (or a label starting with one) in every chart; another label gets a colour fixed by
    its name, so it too is the same in every chart."""
    key = _family(label)
    if key in METHOD_COLORS:
        return METHOD_COLORS[key]
    import plotly.express as px  # deferred: slow import, figures only

    pal = [c for c in px.colors.qualitative.Dark24 if min(_distance(c, m) for m in METHOD_COLORS.values()) >= NEAR]
    return pal[zlib.crc32(str(label).encode()) % len(pal)]


def _distance(a: str, b: str) -> float:
    """Euclidean distance of two '#RRGGBB' colours in RGB (0-441)."""
    ra, rb = (tuple(int(c.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4)) for c in (a, b))
    return sum((x - y) ** 2 for x, y in zip(ra, rb)) ** 0.5


def _family(label) -> str:
    """The method (or model) a label starts with: its colour's key."""
    return re.split(r"[ :(·]", str(label).strip(), maxsplit=1)[0]


def colour_traces(fig) -> None:
    """Give every bar / line / marker trace that has a name and no colour of its own its label's colour
    (:func:`color_of`); a trace whose colour a different label in the same figure already took keeps plotly's (two
    labels drawn in one colour would read as one). Labels of one family ("edmips+asga", "edmips+asga (per step)")
    share theirs."""
    taken: dict[str, str] = {}
    for tr in fig.data:
        if tr.type not in ("bar", "scatter") or not tr.name:
            continue
        own = tr.marker.color if tr.type == "bar" else (tr.line.color or tr.marker.color)
        c = own if isinstance(own, str) else color_of(tr.name)
        if taken.setdefault(c, _family(tr.name)) != _family(tr.name) or own is not None:
            continue
        tr.update(marker_color=c) if tr.type == "bar" else tr.update(line_color=c, marker_color=c)
