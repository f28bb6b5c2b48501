"""Floor 7, how results are shown: plotly figures from plain data (``figures``; each function returns a
``go.Figure``), one colour per method and model (``palette``) and one look (``style``: template, margins, a minimum height), kernel-free explorers of precomputed views
(``slider``), and figure files (``files``: HTML sharing one plotly.min.js, PNG / SVG through Chromium).

Every name of ``figures`` and ``files`` is importable from here: ``from mpqlab.viz.figures import bits_heatmap``."""
from .figures import *  # noqa: F401,F403
from .files import PLOTLY_JS, SavedFigure, find_browser, save_figure, write_plotly_js  # noqa: F401
