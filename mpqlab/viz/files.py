"""Writing plotly figures to files: HTML that shares one ``plotly.min.js`` per folder, and PNG / SVG through
kaleido, which needs a Chromium-family browser (Debian package ``chromium``; set ``BROWSER_PATH`` if it is not at
``/usr/bin/chromium``). Without one, :func:`save_figure` writes the HTML and says why the image is missing.
(:mod:`mpqlab.viz.figures` re-exports these.)"""
from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import plotly.graph_objects as go

from ..core.files import atomic_write_bytes, atomic_write_text


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
    from plotly.offline import get_plotlyjs  # deferred: slow import, figures only


    path = Path(folder) / PLOTLY_JS
    js = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(js.encode()):
        atomic_write_text(path, js)
    return path


@dataclass(frozen=True)
class SavedFigure:
    """What :func:`save_figure` wrote: ``written`` {format: path} and ``missing`` {format: why it was not written}.
    A reason is never where a path belongs: ``path(fmt)`` is a :class:`Path` or None."""

    written: dict = field(default_factory=dict)
    missing: dict = field(default_factory=dict)

    def path(self, fmt: str) -> Path | None:
        return self.written.get(fmt)

    def as_dict(self) -> dict:
        """{format: path string, or "not written: <why>"} (for JSON summaries)."""
        return {**{f: str(p) for f, p in self.written.items()}, **{f: f"not written: {r}" for f, r in
                                                                     self.missing.items()}}


EXPORT_TRIES = 3  # kaleido's page can fail to start under load (e.g. "kaleido_scopes is not defined"): retried
EXPORT_LOCK = "mpqlab-kaleido.lock"  # one static export at a time on this machine (in the temp folder)


@contextlib.contextmanager
def _export_lock():
    """Serialise static exports across processes: concurrent kaleido browsers on a busy machine time out."""
    with open(Path(tempfile.gettempdir()) / EXPORT_LOCK, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


EXPORT_HEIGHT = 560  # px of a static export, unless the figure asks for more (a tall heatmap, an explorer's controls)


def export_height(fig: go.Figure) -> int:
    """The static export's height: the figure's own layout height where it sets one above :data:`EXPORT_HEIGHT`, so
    that a figure sized for its rows (one per layer) is not squeezed until its labels drop out."""
    return max(EXPORT_HEIGHT, int(fig.layout.height or 0))


EXPORT_TIMEOUT = 300  # s: an export (or a browser start) through the persistent browser that takes longer is given up


class _ExportBrowser:
    """This process's one persistent kaleido browser: kaleido's own async API (``Kaleido.open``, ``calc_fig``,
    ``close``) on a private event-loop thread, every call waited on with a bound. (kaleido otherwise starts Chromium
    for every figure: ``benchmarks/static_export.py`` times both paths and checks that their PNG bytes agree.)"""

    def __init__(self):
        import kaleido  # deferred: static export only

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="mpqlab-export-browser", daemon=True).start()
        self.kaleido = kaleido.Kaleido(n=1)
        try:
            self._wait(self.kaleido.open())
        except BaseException:
            self.close()
            raise

    def _wait(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(EXPORT_TIMEOUT)

    def image(self, fig: go.Figure, fmt: str, width: int, height: int, scale: float) -> bytes:
        return self._wait(self.kaleido.calc_fig(fig.to_dict(), opts=dict(format=fmt, width=width, height=height,
                                                                          scale=scale)))

    def close(self) -> None:
        with contextlib.suppress(BaseException):
            asyncio.run_coroutine_threadsafe(self.kaleido.close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)


# this process's persistent browser (None: not started); given up after a failure or in a forked child, where the
# exports then start a browser each, as plotly's own ``to_image`` does
_BROWSER = {"browser": None, "given_up": False}


def _after_fork() -> None:
    """A forked child has a copy of the parent's browser object but not its thread: it exports without it."""
    _BROWSER.update(browser=None, given_up=True)


os.register_at_fork(after_in_child=_after_fork)


def stop_export_browser() -> None:
    """Close this process's persistent browser, if one runs (also at exit; the browser ends with its process)."""
    browser, _BROWSER["browser"] = _BROWSER["browser"], None
    if browser is not None:
        browser.close()


def image_bytes(fig: go.Figure, fmt: str, width: int, height: int, scale: float) -> bytes:
    """The figure as ``fmt`` bytes through the persistent browser (started on first use); once that has failed in
    this process, or in a forked child, through a browser of its own (plotly's ``to_image``)."""
    if not _BROWSER["given_up"]:
        try:
            if _BROWSER["browser"] is None:
                _BROWSER["browser"] = _ExportBrowser()
                atexit.register(stop_export_browser)
            return _BROWSER["browser"].image(fig, fmt, width, height, scale)
        except Exception:  # a browser that would not start or answer: every later export starts its own
            _BROWSER["given_up"] = True
            stop_export_browser()
            raise
    return fig.to_image(format=fmt, width=width, height=height, scale=scale)


def write_static(fig: go.Figure, path: Path, fmt: str, tries: int = EXPORT_TRIES) -> str | None:
    """Write a PNG / SVG through kaleido (:func:`image_bytes`), one export at a time on this machine, atomically,
    retried up to ``tries`` times with a growing pause. Returns None when written, else the last error (one line)."""
    err = None
    for attempt in range(tries):
        try:
            with _export_lock():
                data = image_bytes(fig, fmt, 900, export_height(fig), 1.5 if fmt == "png" else 1)
            if data:
                atomic_write_bytes(path, data)
                return None
            err = "kaleido returned no image"
        except Exception as e:  # kaleido / browser failure: retried (with a browser per export), then reported
            err = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        time.sleep(1.0 + 2.0 * attempt)
    return err


def static_png(fig: go.Figure) -> bytes | None:
    """The figure as PNG bytes (as :func:`save_figure` writes them), or None without a browser or when kaleido
    fails (the figure then shows only where plotly.js runs)."""
    browser = find_browser()
    if browser is None:
        return None
    os.environ.setdefault("BROWSER_PATH", browser)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "figure.png"
        return path.read_bytes() if write_static(fig, path, "png") is None else None


def save_figure(fig: go.Figure, stem: str | os.PathLike, formats: Sequence[str] = ("html", "png")) -> SavedFigure:
    """Write ``stem.html`` (loading ``plotly.min.js`` from its own folder, written there once: a folder of figures
    carries one plotly.js, not one per figure) and ``stem.png`` / ``stem.svg`` (:func:`write_static`).
    Returns a :class:`SavedFigure`: the paths written and, apart, the reason for each format that was not."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    written, missing = {}, {}
    for fmt in formats:
        path = stem.with_suffix(f".{fmt}")
        if fmt == "html":
            write_plotly_js(path.parent)
            atomic_write_text(path, fig.to_html(include_plotlyjs="directory", full_html=True))
            written[fmt] = path
            continue
        browser = find_browser()
        if browser is None:
            missing[fmt] = "no Chromium-family browser for kaleido (install Debian's chromium)"
            continue
        os.environ.setdefault("BROWSER_PATH", browser)
        err = write_static(fig, path, fmt)
        if err is None:
            written[fmt] = path
        else:
            missing[fmt] = f"kaleido failed {EXPORT_TRIES} times: {err}"
    return SavedFigure(written, missing)
