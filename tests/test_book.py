"""``make book``: the executed notebooks as an offline, kernel-free site.

The build is checked on the committed executed notebooks (every page, no remote script or stylesheet, every plotly
output drawn by the site's one plotly.js, every explorer of a notebook shipped as a stepped figure, equations as
MathML, links between notebooks rewritten); the stepped figure and the equation renderer on small inputs; and, in a
real browser (Chromium through Playwright), the built site opened from disk: every page draws its figures without a
network request or a script error, and moving the slider of every explorer changes what its figure shows."""
import json
import re
from pathlib import Path

import plotly.graph_objects as go
import pytest

from conftest import REPO
from mpqlab.course.book import PLOT_CLASS, build_book, math_to_mathml
from mpqlab.core.errors import MpqlabError
from mpqlab.course.notebooks import EXECUTED_DIR, list_notebooks
from explorer_driver import drive
from mpqlab.viz.explorer import EXPLORER_META, is_explorer
from mpqlab.viz.slider import STEPPED_META, stepped_figure, view_labels

CHROMIUM = "/usr/bin/chromium"


def explorers_in_source(name: str) -> int:
    """How many explorers notebook ``name`` declares with precomputed (offline) values."""
    return len(re.findall(r"controls\([^)]*offline=|\b\w+_explorer\(", (REPO / "notebooks" / f"{name}.py").read_text()))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    return build_book(out), out


# ------------------------------------------------------------------------------------------------ the stepped view
def test_a_stepped_figure_shows_one_view_at_a_time_with_its_own_title():
    views = [(f"v{i}", go.Figure([go.Scatter(y=[i, i + 1]), go.Bar(y=[i])][: 1 + i % 2],
                                 layout={"title": {"text": f"view {i}"}})) for i in range(3)]
    views[2][1].data[0].visible = "legendonly"  # a trace its own view hides is never shown as plainly visible
    fig = stepped_figure(views, "k", active=1)
    assert len(fig.data) == 1 + 2 + 1 and fig.layout.meta == STEPPED_META and view_labels(fig) == ["v0", "v1", "v2"]
    assert [t.visible for t in fig.data] == [False, True, True, False]
    steps = fig.layout.sliders[0].steps
    assert steps[0].args[0]["visible"] == [True, False, False, False]
    assert steps[2].args[0]["visible"] == [False, False, False, "legendonly"]
    assert steps[2].args[1]["title"]["text"] == "view 2" and fig.layout.title.text == "view 1"
    assert fig.layout.sliders[0].active == 1 and fig.layout.sliders[0].currentvalue.prefix == "k = "
    with pytest.raises(ValueError, match="active=3"):
        stepped_figure(views, "k", active=3)
    with pytest.raises(ValueError, match="at least one"):
        stepped_figure([], "k")
    assert view_labels(go.Figure()) == []


def test_offline_views_include_the_default_and_keep_each_views_sentences(capsys, monkeypatch):
    from mpqlab.course.notebooks import _offline_views

    monkeypatch.delenv("MPQLAB_SMOKE", raising=False)
    views, default, controls, texts = _offline_views(lambda a, b: (print(f"a={a}"), go.Figure())[1],
                                                     {"a": 5, "b": 1}, {"a": [1, 2]})
    assert list(views) == [(5,), (1,), (2,)] and default == (5,) and controls == [("a", [5, 1, 2])]
    assert texts[(2,)] == "a=2" and capsys.readouterr().out == ""  # the sentences travel with their view
    with pytest.raises(MpqlabError, match=r"offline values for \['c'\]"):
        _offline_views(lambda a: go.Figure(), {"a": 1}, {"c": [1]})
    monkeypatch.setenv("MPQLAB_SMOKE", "1")  # a smoke run precomputes the default and the first two values only
    views, _, controls, _ = _offline_views(lambda a, b: go.Figure(), {"a": 5, "b": 1}, {"a": [1, 2, 3], "b": [7, 8, 9]})
    assert controls == [("a", [5, 1, 2]), ("b", [1, 7, 8])] and len(views) == 9


# ------------------------------------------------------------------------------------------------ equations
def test_display_equations_become_mathml_and_code_is_left_alone():
    md = "Text $$\\frac{a}{b} = \\lVert x\\rVert$$ and `$$not math$$` and\n```\n$$x$$\n```\n"
    out = math_to_mathml(md)
    assert out.count("<math") == 1 and 'display="block"' in out and "<mfrac>" in out
    assert "`$$not math$$`" in out and "```\n$$x$$\n```" in out


# ------------------------------------------------------------------------------------------------ the build
def test_the_book_builds_offline_from_the_committed_executed_notebooks(site):
    built, out = site
    assert [p.name for p in built["pages"]] == [f"{n}.html" for n in list_notebooks()]
    assert len(list(out.glob("plotly.min.js"))) == 1
    sizes = {p.name: p.stat().st_size for p in built["pages"]}
    assert max(sizes.values()) < 5e6, f"a page over 5 MB besides the shared plotly.min.js: {sizes}"
    index = (out / "index.html").read_text()
    names = list_notebooks()
    for i, name in enumerate(names):
        assert f'href="{name}.html"' in index
        page = (out / f"{name}.html").read_text()
        for rel, other in (("prev", names[i - 1] if i else None), ("next", names[i + 1] if i + 1 < len(names) else None)):
            link = f'class="mpqlab-{rel}" href="{other}.html"'
            assert (page.count(link) == 2) if other else f"mpqlab-{rel}" not in page, f"{name}: {rel} link"
        remote = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="(https?://[^"]*)"', page)
        assert not remote, f"{name} loads {remote}"
        assert page.index('<script src="plotly.min.js">') < page.index(PLOT_CLASS) if PLOT_CLASS in page else True
        assert not re.search(r'href="[^"]*\.ipynb', page), f"{name}: a link to a notebook, not to its page"
        text = re.sub(r"<pre.*?</pre>|<code.*?</code>|<script.*?</script>", "", page, flags=re.S)
        assert "$$" not in text, f"{name}: an equation left as TeX"
        nb = json.loads((EXECUTED_DIR / f"{name}.ipynb").read_text())
        outputs = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])]
        plotly = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
        assert page.count(f'class="{PLOT_CLASS}"') == len(plotly)
        stepped = [o for o in plotly if is_explorer(o["data"]["application/vnd.plotly.v1+json"]["layout"].get("meta"))]
        assert len(stepped) == explorers_in_source(name), f"{name}: an explorer without its kernel-free view"
        for o in plotly:  # the executed copy embeds a PNG beside every figure (static viewers show it)
            assert "image/png" in o["data"], f"{name}: a figure without its embedded PNG"
        links = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
                 if "](" in "".join(o.get("data", {}).get("text/markdown", ""))]
        assert not links, f"{name}: the executed copy links an image instead of embedding it"
        reprs = [o for o in outputs if "SavedFigure(" in "".join(o.get("data", {}).get("text/plain", ""))]
        assert not reprs, f"{name}: a cell shows show()'s return value (end the line with ';')"
    assert built["explorers"] == sum(explorers_in_source(n) for n in list_notebooks()) >= 7


def test_the_book_refuses_a_folder_without_executed_notebooks(tmp_path):
    with pytest.raises(MpqlabError, match="no executed copy of .*00_quickstart"):
        build_book(tmp_path / "site", executed=tmp_path)
    assert not (tmp_path / "site").exists()


# ------------------------------------------------------------------------------------------------ in a browser
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (needs root + apt-get)")
def test_the_site_opens_from_disk_and_every_explorer_slider_changes_its_figure(site, tmp_path):
    from playwright.sync_api import sync_playwright

    built, out = site
    moved, pages = 0, 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        remote, errors = [], []
        page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((out / "index.html").as_uri())
        hrefs = page.locator("ol a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
        assert hrefs == [f"{n}.html" for n in list_notebooks()]
        for href in hrefs:
            page.goto((out / href).as_uri())
            page.wait_for_function(f"[...document.querySelectorAll('.{PLOT_CLASS}')].every(el => el._fullLayout)",
                                   timeout=600_000)
            plots = page.locator(f".{PLOT_CLASS}")
            for i in range(plots.count()):
                gd = plots.nth(i)
                assert gd.evaluate("el => !!el._fullLayout && el.data.length > 0"), f"{href}: figure {i} not drawn"
                meta = gd.evaluate("el => el.layout.meta")
                if isinstance(meta, dict) and meta.get("kind") == EXPLORER_META:  # the site's own controls
                    drive(page, gd, f"{href} figure {i}")
                    moved += 1
                    continue
                if meta != STEPPED_META:
                    continue
                state = "el => JSON.stringify([el.data.map(t => t.visible), el.layout.title && el.layout.title.text])"
                before = gd.evaluate(state)
                n, active = gd.evaluate("el => [el.layout.sliders[0].steps.length, el.layout.sliders[0].active]")
                target = n - 1 if active != n - 1 else 0
                gd.scroll_into_view_if_needed()
                rail = gd.locator("rect.slider-rail-touch-rect").bounding_box()
                slider = gd.locator("g.slider-container").bounding_box()
                for label in ("g.xtick text", "g.ytick text", "g.g-xtitle text", "text.annotation-text"):
                    for box in [b for b in (t.bounding_box() for t in gd.locator(label).all()) if b]:
                        clear = box["y"] >= slider["y"] + slider["height"] or box["y"] + box["height"] <= slider["y"]
                        assert clear, f"{href}: explorer {i}'s slider covers a label ({label})"
                page.mouse.click(rail["x"] + 12 + (rail["width"] - 24) * target / max(1, n - 1),
                                 rail["y"] + rail["height"] / 2)  # a person's click on the slider's rail
                page.wait_for_function("([el, t]) => el.layout.sliders[0].active === t", arg=[gd.element_handle(), target],
                                       timeout=600_000)  # the click's state, not a fixed pause
                assert gd.evaluate("el => el.layout.sliders[0].active") == target, f"{href}: slider {i} did not move"
                assert gd.evaluate(state) != before, f"{href}: explorer {i}'s figure did not change"
                moved += 1
            pages += 1
            page.screenshot(path=str(tmp_path / f"{href}.png"))
        browser.close()
    assert not remote, f"the site fetched {remote[:3]}"
    assert not errors, f"script errors: {errors[:3]}"
    assert pages == len(list_notebooks()) and moved == built["explorers"]


def _ink_rows(png: bytes) -> list[int]:
    """The pixel rows of a screenshot that hold dark ink."""
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(png)).convert("L")
    w, h = img.size
    px = img.load()
    return [y for y in range(h) if any(px[x, y] < 128 for x in range(w))]


@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (needs root + apt-get)")
def test_equations_draw_a_radical_over_its_whole_argument_and_display_size_sums(site):
    """00's budget formula k = sqrt(frac): the radical sign's ink spans (nearly) the whole height of the fraction
    under it, not its first line; a display-level sum sign is taller than the text around it. Measured on the
    built site, offline, with the site's own math font (no font of this machine's is named)."""
    from playwright.sync_api import sync_playwright

    built, out = site
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto((out / "00_quickstart.html").as_uri())
        page.wait_for_function("document.fonts.status === 'loaded' && document.querySelector('msqrt')",
                               timeout=600_000)
        assert page.evaluate("document.fonts.check('16px \"mpqlab math\"')"), "the site's math font did not load"
        root = page.locator("msqrt").first
        root.scroll_into_view_if_needed()
        box = root.bounding_box()
        frac = page.locator("msqrt mfrac").first.bounding_box()
        strip = page.screenshot(clip={"x": box["x"], "y": box["y"], "width": max(4.0, frac["x"] - box["x"]),
                                      "height": box["height"]})  # left of the fraction: the radical sign alone
        ink = _ink_rows(strip)
        assert ink and (ink[-1] - ink[0] + 1) >= 0.8 * frac["height"], (ink[:1], ink[-1:], frac["height"])
        sums = page.evaluate("""() => [...document.querySelectorAll('math[display="block"] mo')]
            .filter(m => m.textContent.trim() === '\u2211' && !m.closest('mfrac'))
            .map(m => [m.getBoundingClientRect().height,
                       parseFloat(getComputedStyle(m.closest('math')).fontSize)])""")
        assert sums, "no display-level sum on the page"
        assert all(h >= 1.4 * size for h, size in sums), sums
        browser.close()


def test_the_glossary_page_links_every_term_to_a_page_that_exists(site):
    from mpqlab.course.glossary import GLOSSARY, glossary_page

    built, out = site
    page = (out / "glossary.html").read_text()
    links = re.findall(r'<dd>.*?<a href="([^"]+)">', page)
    assert len(links) == len(GLOSSARY) and all((out / link).is_file() for link in links)
    assert 'href="glossary.html"' in (out / "index.html").read_text()
    with pytest.raises(ValueError, match="do not exist"):
        glossary_page(["00_quickstart"])
