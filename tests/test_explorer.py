"""The multi-control kernel-free explorer (mpqlab.viz.explorer): every combination of its controls is one view,
axes hold the union of the views' data, each view carries its sentences, the metadata lists every control and
value; the headless ``controls`` builds one from several offline controls."""
import plotly.graph_objects as go
import pytest

from mpqlab.core.errors import MpqlabError
from mpqlab.viz.explorer import EXPLORER_META, explorer_controls, explorer_figure, is_explorer


def _view(policy, seed):
    scale = {"A": 1.0, "B": 3.0}[policy]
    ys = [scale * (t ** 2) + seed for t in (-1, 0, 1)]
    return go.Figure(go.Scatter(x=[-1, 0, 1], y=ys, name=f"{policy}"), layout={"title": {"text": f"{policy} s{seed}"}})


def _explorer(**kw):
    keys = [(p, s) for p in ("A", "B") for s in (0, 1, 2)]
    views = {k: _view(*k) for k in keys}
    texts = {k: f"{k[0]} at seed {k[1]} rises by {3 if k[0] == 'B' else 1}" for k in keys}
    return explorer_figure(views, [("policy", ["A", "B"]), ("seed", [0, 1, 2])], texts=texts, **kw)


def test_every_combination_is_one_view_with_its_title_and_sentences():
    fig = _explorer(active=("B", 1))
    meta = fig.layout.meta
    assert is_explorer(meta) and meta["kind"] == EXPLORER_META
    assert explorer_controls(fig) == {"policy": ["A", "B"], "seed": ["0", "1", "2"]}
    assert [c["widget"] for c in meta["controls"]] == ["dropdown", "slider"]
    assert len(fig.data) == 6 and len(meta["views"]) == 6
    shown = [i for i, t in enumerate(fig.data) if t.visible]
    active = meta["views"][meta["active"]]
    assert active["key"] == [1, 1] and shown == active["traces"] and fig.layout.title.text == "B s1"
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps][:2] == ["A · 0", "A · 1"]
    for view, step in zip(meta["views"], steps):  # each step shows its own trace and its own sentences
        visible = [i for i, v in enumerate(step.args[0]["visible"]) if v]
        assert visible == view["traces"]
        notes = [a["text"] for a in step.args[1]["annotations"] if a.get("name") == "mpqlab-view-text"]
        assert notes == [view["text"]]


def test_axes_hold_the_union_of_every_views_data_unless_told_otherwise():
    fig = _explorer()
    ranges = {tuple(s.args[1]["yaxis"]["range"]) for s in fig.layout.sliders[0].steps}
    assert len(ranges) == 1  # one frame for every view
    lo, hi = ranges.pop()
    assert lo < 0 and hi > 3 + 2  # holds A at seed 0 (min 0) and B at seed 2 (max 5)
    assert all(s.args[1]["yaxis"]["autorange"] is False for s in fig.layout.sliders[0].steps)
    loose = _explorer(fixed_axes=False)
    assert all("range" not in s.args[1].get("yaxis", {}) for s in loose.layout.sliders[0].steps)


def test_log_axes_and_colour_scales_are_fixed_too():
    views = {(k,): go.Figure([go.Heatmap(z=[[k, 2 * k], [3 * k, 4 * k]]),
                              go.Scatter(x=[1, 10], y=[k, 100 * k], xaxis="x2", yaxis="y2")],
                             layout={"yaxis2": {"type": "log"}}) for k in (1, 2)}
    fig = explorer_figure(views, [("k", [1, 2])])
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert {(t.zmin, t.zmax) for t in heat} == {(1, 8)}
    lo, hi = fig.layout.sliders[0].steps[0].args[1]["yaxis2"]["range"]
    assert lo < 0 < 2.3 < hi  # log10 of 1 .. 200


def test_a_missing_combination_or_an_unknown_value_is_refused():
    views = {("A", 0): _view("A", 0)}
    with pytest.raises(MpqlabError, match="no view for 1 combination"):
        explorer_figure(views, [("policy", ["A"]), ("seed", [0, 1])])
    with pytest.raises(MpqlabError, match="values no control offers"):
        explorer_figure({**views, ("C", 0): _view("A", 0)}, [("policy", ["A"]), ("seed", [0])])
    with pytest.raises(MpqlabError, match="active="):
        explorer_figure(views, [("policy", ["A"]), ("seed", [0])], active=("A", 9))
    with pytest.raises(MpqlabError, match="at least one control"):
        explorer_figure(views, [])


def test_headless_controls_with_two_offline_controls_build_one_explorer(monkeypatch, capsys):
    import ipywidgets as W

    from mpqlab.course.notebooks import controls

    monkeypatch.setenv("MPQLAB_HEADLESS", "1")
    calls = []

    def fn(policy="A", seed=0, span=1.0):
        calls.append((policy, seed))
        print(f"{policy} at seed {seed}")
        return _view(policy, seed)

    fig = controls(fn, offline={"policy": ["A", "B"], "seed": [0, 1, 2]}, policy=W.Dropdown(options=["A", "B"]),
                   seed=W.IntSlider(value=1, min=0, max=4), span=W.FloatSlider(value=1.0))
    assert len(calls) == 6 and explorer_controls(fig) == {"policy": ["A", "B"], "seed": ["0", "1", "2"]}
    assert fig.layout.title.text == "A s1"
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert printed == ["[policy = A, seed = 1] A at seed 1"]  # the other views' sentences travel with them
    assert [v["text"] for v in fig.layout.meta["views"]][-1] == "B at seed 2"


def test_sentences_rise_above_a_views_subplot_titles():
    from plotly.subplots import make_subplots

    def view(titled):
        fig = make_subplots(rows=1, cols=2, subplot_titles=("weight bits", "activation bits") if titled else None)
        fig.add_trace(go.Heatmap(z=[[2, 4]]), row=1, col=1)
        fig.add_trace(go.Heatmap(z=[[4, 2]]), row=1, col=2)
        return fig

    def text_of(fig):
        return next(a for a in fig.layout.annotations if a.name == "mpqlab-view-text")

    plain = explorer_figure({("a",): view(False)}, [("policy", ["a"])], texts={("a",): "one sentence"})
    titled = explorer_figure({("a",): view(True)}, [("policy", ["a"])], texts={("a",): "one sentence"})
    assert text_of(titled).yshift > text_of(plain).yshift  # above the titles, not on them
    assert titled.layout.margin.t - plain.layout.margin.t == text_of(titled).yshift - text_of(plain).yshift


def test_a_free_control_gets_its_own_frame_and_the_others_share_it():
    views = {(m, s): go.Figure(go.Scatter(x=[0, 1], y=[s + (100 if m == "top1" else 1), 0.5]))
             for m in ("loss", "top1") for s in (0, 1)}
    fig = explorer_figure(views, [("metric", ["loss", "top1"]), ("seed", [0, 1])], free=("metric",))
    ranges = [tuple(st.args[1]["yaxis"]["range"]) for st in fig.layout.sliders[0].steps]
    assert ranges[0] == ranges[1] and ranges[2] == ranges[3] and ranges[0] != ranges[2]
    assert ranges[0][1] < 10 < 100 < ranges[2][1]
    with pytest.raises(MpqlabError, match="free=\\['colour'\\]"):
        explorer_figure(views, [("metric", ["loss", "top1"]), ("seed", [0, 1])], free=("colour",))


@pytest.mark.browser
@pytest.mark.skipif(not __import__("pathlib").Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed")
def test_the_sites_controls_switch_every_view_offline_in_a_browser(tmp_path):
    import json

    from playwright.sync_api import sync_playwright

    from explorer_driver import drive
    from mpqlab.course.book import offline_page, plot_html
    from mpqlab.viz.files import write_plotly_js

    fig = _explorer(active=("B", 2))
    write_plotly_js(tmp_path)
    body = ("<html><head><title>t</title></head><body>"
            + plot_html(json.loads(fig.to_json()), "ex-1").replace('class="mpqlab-plot"', 'class="mpqlab-plot"')
            + "</body></html>")
    (tmp_path / "page.html").write_text(offline_page(body, "explorer"))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        remote, errors = [], []
        page.on("request", lambda r: remote.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((tmp_path / "page.html").as_uri() + "#policy=A&seed=1")
        gd = page.locator("#ex-1")
        page.wait_for_function("el => el.dataset.view === '0,1'", arg=gd.element_handle(), timeout=600_000)
        assert gd.evaluate("el => el.layout.title.text") == "A s1"  # the link's view, not the figure's default
        assert drive(page, gd, "page") == 6
        browser.close()
    assert not remote and not errors, (remote[:3], errors[:3])


@pytest.mark.browser
@pytest.mark.skipif(not __import__("pathlib").Path("/usr/bin/chromium").exists(), reason="Debian chromium is not installed")
def test_a_click_on_a_linked_point_opens_that_view_of_another_page(tmp_path):
    import json

    import pandas as pd
    from playwright.sync_api import sync_playwright

    from mpqlab.course.book import offline_page, plot_html
    from mpqlab.viz.figures import sharpness_vs_generalization
    from mpqlab.viz.files import write_plotly_js

    write_plotly_js(tmp_path)
    points = pd.DataFrame({"h": [1.0, 2.0], "gap": [-1.0, 0.5], "method": ["edmips", "edmips+asga"],
                           "link": ["", "02_p.html#policy=B&seed=2"]})
    scatter = sharpness_vs_generalization(points, "h", "gap", link="link")
    for name, fig, div in (("06_f", scatter, "f-1"), ("02_p", _explorer(), "p-1")):
        body = f"<html><head><title>{name}</title></head><body>{plot_html(json.loads(fig.to_json()), div)}</body></html>"
        (tmp_path / f"{name}.html").write_text(offline_page(body, name))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto((tmp_path / "06_f.html").as_uri())
        gd = page.locator("#f-1")
        page.wait_for_function("el => !!el._fullLayout", arg=gd.element_handle(), timeout=600_000)
        box = gd.locator("g.trace.scatter path.point").nth(1).bounding_box()  # the linked point (edmips+asga)
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.wait_for_url("**/02_p.html#policy=B&seed=2", timeout=600_000)
        target = page.locator("#p-1")
        page.wait_for_function("el => el.dataset.view === '1,2'", arg=target.element_handle(), timeout=600_000)
        assert target.evaluate("el => el.layout.title.text") == "B s2"
        browser.close()
    assert not errors, errors[:3]
