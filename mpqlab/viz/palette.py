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
                 "uniform": "#7F7F7F", "random": "#FECB52", "float": "#222222"}


def color_of(label) -> str:
    """The colour of a method (or a label starting with one) in every chart; another label gets a colour fixed by
    its name, so it too is the same in every chart."""
    key = re.split(r"[ :(·]", str(label).strip(), maxsplit=1)[0]
    if key in METHOD_COLORS:
        return METHOD_COLORS[key]
    import plotly.express as px  # deferred: slow import, figures only

    pal = [c for c in px.colors.qualitative.Dark24 if c.upper() not in METHOD_COLORS.values()]
    return pal[zlib.crc32(str(label).encode()) % len(pal)]
