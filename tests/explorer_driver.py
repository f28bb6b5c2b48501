"""Drive a multi-control explorer (mpqlab.viz.explorer) on a page in Chromium, as a person would: every
combination of its controls when there are fewer than 50, a seeded sample of 20 otherwise. For each: the page's
own controls are moved (a dropdown picked, a range slider dragged to the value's step), the figure shows that
view's traces and sentences, the axes hold still across views that share the free controls' values, and the
view's sentences cover no title or tick label."""
import random
import re


def _boxes(gd, selector):
    return [b for b in (t.bounding_box() for t in gd.locator(selector).all()) if b]


def _overlap(a, b) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"] or
                a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def drive(page, gd, where: str, seed: int = 0) -> int:
    """Move every control of the explorer drawn in ``gd``; returns the number of views checked."""
    meta = gd.evaluate("el => el.layout.meta")
    box = gd.locator("xpath=preceding-sibling::div[contains(@class, 'mpqlab-controls')][1]")
    inputs = box.locator("select, input[type=range]")
    assert inputs.count() == len(meta["controls"]), f"{where}: {inputs.count()} controls drawn for {len(meta['controls'])}"
    assert not gd.evaluate("el => el._fullLayout.sliders.some(s => s.visible)"), f"{where}: the combined slider shows"
    views = {tuple(v["key"]): v for v in meta["views"]}
    keys = sorted(views)
    if len(keys) >= 50:
        keys = random.Random(seed).sample(keys, 20)
    free = [i for i, c in enumerate(meta["controls"]) if c["name"] in meta.get("free", [])]
    frames = {}
    axes = ("el => JSON.stringify(Object.keys(el.layout).filter(k => /^[xy]axis\\d*$/.test(k)).sort()"
            ".map(k => [k, el.layout[k].range]))")
    before = None
    for key in keys:
        for c, j in enumerate(key):
            el = inputs.nth(c)
            if el.evaluate("e => e.tagName") == "SELECT":
                el.select_option(str(j))
            else:  # a person's keys on the range slider: Home, then one step right per value
                el.focus()
                page.keyboard.press("Home")
                for _ in range(j):
                    page.keyboard.press("ArrowRight")
        want = ",".join(map(str, key))
        page.wait_for_function("([el, k]) => el.dataset.view === k", arg=[gd.element_handle(), want], timeout=600_000)
        shown = gd.evaluate("el => el.data.map((t, i) => (t.visible === false ? -1 : i)).filter(i => i >= 0)")
        assert shown == views[key]["traces"], f"{where}: view {key} shows traces {shown[:5]}"
        text = gd.evaluate("el => (el.layout.annotations || []).filter(a => a.name === 'mpqlab-view-text')"
                           ".map(a => a.text).join(' ')")
        assert re.sub(r"\s+|<br>", " ", text).split() == views[key]["text"].split(), f"{where}: view {key}'s sentences"
        group = tuple(key[i] for i in free)
        frame = gd.evaluate(axes)
        if meta.get("fixed_axes"):
            assert frames.setdefault(group, frame) == frame, f"{where}: the axes moved at view {key}"
        notes = _boxes(gd, "g.annotation[data-index] text.annotation-text")
        for label in _boxes(gd, "g.g-gtitle text") + _boxes(gd, "g.xtick text") + _boxes(gd, "g.ytick text"):
            assert not any(_overlap(label, n) for n in notes), f"{where}: view {key}'s sentences cover a label"
        state = gd.evaluate("el => JSON.stringify([el.data.map(t => t.visible), el.layout.title.text])")
        assert state != before, f"{where}: view {key} did not change the figure"
        before = state
    return len(keys)
