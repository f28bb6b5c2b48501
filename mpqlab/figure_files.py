"""Writing plotly figures to files: HTML that shares one ``plotly.min.js`` per folder, and PNG / SVG through
kaleido, which needs a Chromium-family browser (Debian package ``chromium``; set ``BROWSER_PATH`` if it is not at
``/usr/bin/chromium``). Without one, :func:`save_figure` writes the HTML and says why the image is missing.
(:mod:`mpqlab.viz` re-exports these.)"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Sequence

import plotly.graph_objects as go

def find_browser() -> str | None:
    """The chromium / chrome executable static figure export can use, or None."""
    for cand in (os.environ.get("BROWSER_PATH"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("google-chrome"), shutil.which("chromium-browser")):
        if cand and Path(cand).exists():
            return cand
    return None


PLOTLY_JS = "plotly.min.js"  # one copy per folder of figures, shared by every HTML figure in it


def write_plotly_js(folder: str | os.PathLike) -> Path:
    """``folder/plotly.min.js``: the plotly.js that this plotly ships, written when missing or different."""
    from plotly.offline import get_plotlyjs

    from .io import atomic_write_text

    path = Path(folder) / PLOTLY_JS
    js = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(js.encode()):
        atomic_write_text(path, js)
    return path


def save_figure(fig: go.Figure, stem: str | os.PathLike, formats: Sequence[str] = ("html", "png")) -> dict:
    """Write ``stem.html`` (loading ``plotly.min.js`` from its own folder, written there once: a folder of figures
    carries one plotly.js, not one per figure) and ``stem.png`` / ``stem.svg``.
    Returns {format: path, or the reason it was not written}."""
    from .io import atomic_write_text

    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = {}
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "html":
            write_plotly_js(path.parent)
            atomic_write_text(path, fig.to_html(include_plotlyjs="directory", full_html=True))
            out[fmt] = str(path)
            continue
        browser = find_browser()
        if browser is None:
            out[fmt] = "not written: no Chromium-family browser for kaleido (install Debian's chromium)"
            continue
        os.environ.setdefault("BROWSER_PATH", browser)
        try:
            fig.write_image(str(path), format=fmt, width=900, height=560, scale=1.5 if fmt == "png" else 1)
            out[fmt] = str(path)
        except Exception as e:  # kaleido / browser failure: keep the HTML, say why
            out[fmt] = f"not written: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return out
