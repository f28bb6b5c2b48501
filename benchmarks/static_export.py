"""How long one static PNG export takes: through this process's persistent kaleido browser (what
``mpqlab.viz.files.save_figure`` does) against a browser started for the export (kaleido's one-shot path, plotly's
``to_image``, what it did before), interleaved repeats on the wall clock; and whether both give the same bytes.

    python benchmarks/static_export.py [repeats]
"""
import sys

import plotly.graph_objects as go
from _common import interleaved, ratio_spread, spread, table

from mpqlab.core.provenance import code_label, code_record
from mpqlab.viz import files

repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 5
browser = files.find_browser()
if browser is None:
    sys.exit("no Chromium-family browser: install Debian's chromium (static export needs one)")
files.os.environ.setdefault("BROWSER_PATH", browser)
fig = go.Figure(go.Scatter(x=list(range(50)), y=[i * i for i in range(50)]), layout_title_text="one export")
size = dict(width=900, height=files.EXPORT_HEIGHT, scale=1.5)
persistent = lambda: files.image_bytes(fig, "png", **size)  # noqa: E731
oneshot = lambda: fig.to_image(format="png", **size)  # noqa: E731
assert persistent() == oneshot(), "the two paths gave different PNG bytes"
t = interleaved({"persistent browser": persistent, "a browser per export": oneshot}, repeats=repeats, warmup=1)
print(f"code {code_label(code_record())}; {repeats} interleaved repeats, wall clock; same PNG bytes: yes")
table([[k, spread(v)] for k, v in t.items()], ["export path", "median (IQR)"])
print("per-export / persistent:", ratio_spread(t["a browser per export"], t["persistent browser"]))
