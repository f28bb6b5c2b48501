"""``make book``: the executed notebooks as a static site that works offline, without a kernel.

Built with nbconvert (already installed with JupyterLab; no second toolchain, no Node, no network): one HTML page
per executed notebook in ``notebooks/executed/`` and an ``index.html`` that lists them in order. In every page

- each plotly figure is drawn by the one ``plotly.min.js`` of the site (a local file, shared by all pages), so
  every figure is interactive: zoom, hover, legend toggles;
- each explorer is the kernel-free view its notebook precomputed (:mod:`mpqlab.viz.slider`): a plotly slider switches
  between its precomputed views in the browser;
- display equations are rendered to MathML at build time (Chromium, Firefox and Safari draw MathML natively), so no
  MathJax is fetched; links between notebooks point at their pages.

Nothing is fetched from the network: nbconvert's CDN scripts (require.js, MathJax) are left out. Open
``runs/book/index.html`` in a browser, or serve the folder.
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

from ..core.errors import MpqlabError
from ..viz.explorer import EXPLORER_META, is_explorer
from ..viz.files import PLOTLY_JS, write_plotly_js

# A font with an OpenType MATH table, shipped with mpqlab and copied beside the pages: with only the fonts a machine
# happens to have, Chromium draws a radical over its first line and leaves sums text-size (fonts/LICENSE)
MATH_FONT = Path(__file__).resolve().parent / "fonts" / "DejaVuMathTeXGyre.ttf"
import copy

from ..core.files import atomic_write_bytes, atomic_write_text
from .glossary import glossary_page
from .notebooks import EXECUTED_DIR, REPO, list_notebooks

PLOTLY_MIME = "application/vnd.plotly.v1+json"
DEFAULT_OUT = REPO / "runs" / "book"  # scratch: the site is rebuilt from the committed executed notebooks
PLOT_CLASS = "mpqlab-plot"  # every figure's div carries it (the browser test finds figures by it)

_DISPLAY_MATH = re.compile(r"\$\$(.+?)\$\$", re.S)
_CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)  # fenced blocks and code spans: never math
_NB_LINK = re.compile(r"\]\((\d\d_[A-Za-z0-9_]+)\.ipynb(#[^)]*)?\)")


def math_to_mathml(markdown: str) -> str:
    """``markdown`` with every display equation ``$$…$$`` outside code replaced by its MathML (a ``<math
    display="block">`` element). An equation latex2mathml cannot read is left as TeX in a code span and named in
    the error it raises."""
    from latex2mathml.converter import convert  # deferred: the course site only

    def one(m: re.Match) -> str:
        tex = m.group(1).strip()
        try:
            return "\n\n" + convert(tex, display="block") + "\n\n"
        except Exception as e:  # latex2mathml raises its own exception types
            raise MpqlabError(f"cannot render the equation {tex[:60]!r} to MathML: {e}") from e

    parts = _CODE.split(markdown)
    return "".join(p if i % 2 else _DISPLAY_MATH.sub(one, p) for i, p in enumerate(parts))


def plot_html(figure_json: dict, div_id: str) -> str:
    """A div and the script that draws ``figure_json`` (data, layout and frames, as plotly writes them) in it with
    the page's plotly.js."""
    spec = json.dumps({"data": figure_json.get("data", []), "layout": figure_json.get("layout", {}),
                       "frames": figure_json.get("frames", []), "config": {"responsive": True}})
    spec = spec.replace("</", "<\\/")  # never close the script early
    height = int(figure_json.get("layout", {}).get("height") or 560)  # the figure's own height, slider included
    meta = figure_json.get("layout", {}).get("meta")
    controls = isinstance(meta, dict) and meta.get("kind") == EXPLORER_META
    return (f'<div id="{div_id}" class="{PLOT_CLASS}" style="width:100%;height:{height}px"></div>\n'
            f'<script>Plotly.newPlot(document.getElementById("{div_id}"), {spec})'
            + ('.then(gd => mpqlabControls(mpqlabLinks(gd)));' if controls else '.then(mpqlabLinks);') + '</script>')


# The course site's controls of a multi-control explorer (mpqlab.viz.explorer): one dropdown or slider per control
# above the figure, built from its metadata; a combination shows its view (the traces and layout of the figure's
# own combined-slider step, which is hidden here). A link's #name=value&… picks the view a page opens with.
CONTROLS_JS = """
function mpqlabLinks(gd) {
  gd.on('plotly_click', e => {
    const c = e.points[0] && e.points[0].customdata, url = Array.isArray(c) ? c[c.length - 1] : c;
    if (typeof url === 'string' && /^[0-9][0-9]_[A-Za-z0-9_]+[.]html(#.*)?$/.test(url)) location.href = url;
  });
  return gd;
}
function mpqlabControls(gd) {
  const meta = gd.layout.meta, cur = meta.views[meta.active].key.slice(), byKey = {};
  meta.views.forEach(v => { byKey[v.key.join(',')] = v; });
  const box = document.createElement('div');
  box.className = 'mpqlab-controls';
  gd.parentNode.insertBefore(box, gd);
  const inputs = [];
  function show() {
    const v = byKey[cur.join(',')], step = gd.layout.sliders[0].steps[v.step];
    inputs.forEach((el, i) => { el.value = String(cur[i]); if (el.out) el.out.textContent = meta.controls[i].values[cur[i]]; });
    return Plotly.update(gd, step.args[0], Object.assign({}, step.args[1], {'sliders[0].active': v.step}))
      .then(() => { gd.dataset.view = cur.join(','); });
  }
  meta.controls.forEach((c, i) => {
    const label = document.createElement('label');
    label.textContent = c.name + ' ';
    let el;
    if (c.widget === 'slider' && c.values.length > 1) {
      el = document.createElement('input');
      el.type = 'range'; el.min = 0; el.max = c.values.length - 1; el.step = 1;
      el.out = document.createElement('output');
    } else {
      el = document.createElement('select');
      c.values.forEach((v, j) => { const o = document.createElement('option'); o.value = String(j); o.textContent = v; el.appendChild(o); });
    }
    el.dataset.control = c.name;
    el.addEventListener(el.type === 'range' ? 'input' : 'change', () => { cur[i] = +el.value; show(); });
    label.appendChild(el);
    if (el.out) label.appendChild(el.out);
    box.appendChild(label);
    inputs.push(el);
  });
  new URLSearchParams(location.hash.slice(1)).forEach((value, name) => {
    const i = meta.controls.findIndex(c => c.name === name), j = i < 0 ? -1 : meta.controls[i].values.indexOf(value);
    if (j >= 0) cur[i] = j;
  });
  return Plotly.relayout(gd, {'sliders[0].visible': false}).then(show);
}
"""


def prepare(nb, name: str):
    """A copy of notebook ``nb`` ready for nbconvert: plotly outputs become HTML drawn by plotly.js (their PNG
    dropped: the live figure replaces it), display equations MathML, links to other notebooks links to their pages,
    widget state removed. Returns (notebook, number of figures, number of kernel-free explorers among them)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)
    figures = explorers = 0
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = _NB_LINK.sub(lambda m: f"]({m.group(1)}.html{m.group(2) or ''})",
                                       math_to_mathml(cell.source))
            continue
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PLOTLY_MIME in data:
                figures += 1
                explorers += is_explorer(data[PLOTLY_MIME].get("layout", {}).get("meta"))
                out["data"] = {"text/html": plot_html(data[PLOTLY_MIME], f"{name}-plot-{figures}"),
                               "text/plain": data.get("text/plain", "")}
                out.setdefault("metadata", {})
    return nb, figures, explorers


# remote (or empty) script sources and remote stylesheets: nbconvert's CDN require.js and MathJax, and the tags
# left when their URLs are set to ""
_REMOTE_TAG = re.compile(r'<(script|link)\b[^>]*\b(src|href)="(https?://[^"]*)?"[^>]*>(\s*</script>)?', re.I)


def offline_page(body: str, title: str, prev: str | None = None, next_: str | None = None) -> str:
    """An nbconvert page with every remote script and stylesheet removed, plotly.js loaded from the site's own
    copy before any figure, a link back to the index and to the previous and next notebooks (``prev``,
    ``next_``: page names, None at either end), and ``title`` as its title."""
    body = _REMOTE_TAG.sub("", body)
    head = (f'<script src="{PLOTLY_JS}"></script>\n<script>{CONTROLS_JS}</script>\n'
            '<style>.mpqlab-nav{font:14px sans-serif;padding:8px 16px;border-bottom:1px solid #ddd}'
            f'@font-face{{font-family:"mpqlab math";src:url("{MATH_FONT.name}")}}'
            'math{font-family:"mpqlab math",math}'
            'math[display="block"]{margin:0.6em 0;font-size:1.1em}'
            '.mpqlab-controls{font:14px sans-serif;display:flex;flex-wrap:wrap;gap:6px 18px;margin:6px 0}'
            '.mpqlab-controls output{display:inline-block;min-width:3em;margin-left:4px}</style>\n')
    body = re.sub(r"<title>.*?</title>", f"<title>{html.escape(title)}</title>", body, count=1, flags=re.S)
    body = body.replace("</head>", head + "</head>", 1)
    links = "".join(f' · <a class="mpqlab-{rel}" href="{page}.html">{word}: {html.escape(page)}</a>'
                    for rel, word, page in (("prev", "previous", prev), ("next", "next", next_)) if page)
    nav = (f'<div class="mpqlab-nav"><a href="index.html">mpqlab course</a> › {html.escape(title)}{links}'
           ' · <a href="glossary.html">glossary</a></div>')
    body = re.sub(r"(<body[^>]*>)", r"\1" + nav.replace("\\", "\\\\"), body, count=1)
    return body.replace("</body>", nav.replace('class="mpqlab-nav"', 'class="mpqlab-nav mpqlab-foot"') + "</body>", 1)


def notebook_title(nb, fallback: str) -> tuple[str, str]:
    """The notebook's title (its first Markdown heading) and the first paragraph after it (plain text)."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        lines = cell.source.strip().splitlines()
        if lines and lines[0].startswith("#"):
            rest = "\n".join(lines[1:]).strip().split("\n\n")[0]
            return lines[0].lstrip("# ").strip(), re.sub(r"[*_`]", "", " ".join(rest.split()))
    return fallback, ""


def index_page(entries: list[dict]) -> str:
    """The site's index: one row per notebook (link, title, summary, how many figures and explorers)."""
    rows = "\n".join(
        f'<li><a href="{e["page"]}"><b>{html.escape(e["name"])}</b>: {html.escape(e["title"])}</a>'
        f'<br><span class="sum">{html.escape(e["summary"])}</span>'
        f'<br><span class="meta">{e["figures"]} interactive figures, {e["explorers"]} kernel-free explorers</span>'
        "</li>" for e in entries)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>mpqlab course</title>\n"
            "<style>body{font:16px/1.5 sans-serif;max-width:900px;margin:2em auto;padding:0 1em}"
            "li{margin:1em 0}.sum{color:#333}.meta{color:#777;font-size:14px}</style></head><body>\n"
            "<h1>mpqlab: the course</h1>\n<p>The executed notebooks of mpqlab, as run by <code>make figures</code>. "
            "Every figure is interactive and every explorer works here without a kernel: its slider switches "
            "between views computed when the notebook ran. To change anything else, open the notebook in "
            "JupyterLab (<code>make lab</code>). Terms are defined in the "
            '<a href="glossary.html">glossary</a>.</p>\n<ol>\n' + rows + "\n</ol>\n</body></html>\n")


def build_book(out: str | os.PathLike = DEFAULT_OUT, executed: str | os.PathLike = EXECUTED_DIR) -> dict:
    """Build the site in ``out`` from the executed notebooks in ``executed``. Refuses, before writing anything,
    when a notebook has no executed copy. Returns {"index": path, "pages": [...], "figures": n, "explorers": n}."""
    import nbformat  # deferred: notebook tooling only
    from nbconvert import HTMLExporter  # deferred: notebook tooling only

    executed, out = Path(executed), Path(out)
    missing = [n for n in list_notebooks() if not (executed / f"{n}.ipynb").is_file()]
    if missing:
        raise MpqlabError(f"no executed copy of {missing} in {executed}: run `make figures` (or `mpqlab figures "
                          "--only ...`) first")
    out.mkdir(parents=True, exist_ok=True)
    write_plotly_js(out)
    atomic_write_bytes(out / MATH_FONT.name, MATH_FONT.read_bytes())  # the site's own math font: no network
    exporter = HTMLExporter(template_name="lab", mathjax_url="", require_js_url="", jupyter_widgets_base_url="")
    entries = []
    names = list_notebooks()
    for i, name in enumerate(names):
        nb = nbformat.read(str(executed / f"{name}.ipynb"), as_version=4)
        title, summary = notebook_title(nb, name)
        ready, figures, explorers = prepare(nb, name)
        body, _ = exporter.from_notebook_node(ready)
        atomic_write_text(out / f"{name}.html", offline_page(body, f"{name}: {title}", names[i - 1] if i else None,
                                                             names[i + 1] if i + 1 < len(names) else None))
        entries.append({"name": name, "page": f"{name}.html", "title": title, "summary": summary,
                        "figures": figures, "explorers": explorers})
    atomic_write_text(out / "index.html", index_page(entries))
    atomic_write_text(out / "glossary.html", glossary_page(names))
    return {"index": out / "index.html", "pages": [out / e["page"] for e in entries],
            "figures": sum(e["figures"] for e in entries), "explorers": sum(e["explorers"] for e in entries)}
