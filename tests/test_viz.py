"""Plot functions return plotly Figures built from plain data and never show them; save_figure writes HTML and
says why a PNG is missing when no browser is available."""
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from pathlib import Path

from mpqlab import viz


def test_every_figure_kind_returns_a_figure_with_the_data():
    a = np.linspace(-1, 1, 5)
    loss = np.add.outer(a ** 2, a ** 2)
    figs = [viz.landscape_surface(a, a, loss), viz.landscape_contour(a, a, loss),
            viz.landscape_curves({"W4A4": (a, a ** 2), "W2A2": (a, 2 * a ** 2)}),
            viz.eigenvalue_bars({"W4A4": [3.0, 2.0]}), viz.spectral_density({"W4A4": (a, np.exp(-a ** 2))}),
            viz.layer_trace_bars({"W4A4": {"conv1": 1.0, "fc": 2.0}}),
            viz.angle_series({"asga": (np.arange(5), np.ones(5))})]
    assert all(isinstance(f, go.Figure) for f in figs)
    assert np.allclose(np.asarray(figs[0].data[0].z), loss)
    assert [t.name for t in figs[2].data] == ["W4A4", "W2A2"]


def test_sharpness_vs_generalization_splits_methods_and_settings():
    df = pd.DataFrame({"method": ["a", "a", "b", "b", "b"], "setting": ["x", "y", "x", "x", "y"],
                       "target_surrogate_gap": [0.1, 0.2, 0.3, 0.4, 0.5], "gap": [1, 2, 3, 4, 5]})
    fig = viz.sharpness_vs_generalization(df, symbol="setting")
    got = {t.name: list(t.x) for t in fig.data}
    assert got == {"a · x": [0.1], "a · y": [0.2], "b · x": [0.3, 0.4], "b · y": [0.5]}
    assert fig.data[0].marker.color == fig.data[1].marker.color != fig.data[2].marker.color
    assert fig.data[0].marker.symbol != fig.data[1].marker.symbol
    assert len(viz.sharpness_vs_generalization(df).data) == 2


def test_save_figure_without_a_browser_keeps_the_html_and_says_why(tmp_path, monkeypatch):
    from mpqlab.viz import files as figure_files

    monkeypatch.setattr(figure_files, "find_browser", lambda: None)
    out = viz.save_figure(viz.eigenvalue_bars({"m": [1.0]}), tmp_path / "f")
    html = (tmp_path / "f.html").read_text()
    assert "<html>" in html and "Plotly.newPlot" in html and 'src="plotly.min.js"' in html  # the folder's plotly.js
    assert "plotly.js v" not in html and "plotly.js v" in (tmp_path / "plotly.min.js").read_text()[:200]
    assert out.path("png") is None and out.missing["png"].startswith("no Chromium")
    assert not (tmp_path / "f.png").exists() and out.path("html") == tmp_path / "f.html"


def test_save_figure_retries_a_failing_export_and_never_returns_a_reason_as_a_path(tmp_path, monkeypatch):
    """kaleido failing under load (ReferenceError from its page) is retried; a failure that persists is reported
    apart from the paths."""
    from mpqlab.viz import files as figure_files

    monkeypatch.setenv("BROWSER_PATH", "/bin/true")  # save_figure would set it for good: this way teardown undoes it
    monkeypatch.setattr(figure_files, "find_browser", lambda: "/bin/true")
    monkeypatch.setattr(figure_files.time, "sleep", lambda s: None)
    calls = []

    def flaky(fig, fmt, width, height, scale):
        calls.append(fmt)
        if len(calls) < 3:
            raise RuntimeError("ReferenceError: kaleido_scopes is not defined")
        return b"png"

    monkeypatch.setattr(figure_files, "image_bytes", flaky)
    out = viz.save_figure(viz.eigenvalue_bars({"m": [1.0]}), tmp_path / "f")
    assert len(calls) == 3 and out.path("png") == tmp_path / "f.png" and not out.missing
    assert (tmp_path / "f.png").read_bytes() == b"png"
    calls.clear()
    monkeypatch.setattr(figure_files, "image_bytes",
                        lambda *a: (_ for _ in ()).throw(RuntimeError("kaleido_scopes")))
    out = viz.save_figure(viz.eigenvalue_bars({"m": [1.0]}), tmp_path / "g")
    assert out.path("png") is None and "kaleido_scopes" in out.missing["png"]
    assert out.as_dict()["png"].startswith("not written")


def test_pareto_means_spreads_and_front():
    df = pd.DataFrame({"method": ["a", "a", "b", "b", "c"], "setting": ["x", "x", "x", "y", "x"],
                       "bitops": [1.0, 1.0, 2.0, 2.0, 3.0], "top1": [70.0, 72.0, 80.0, 60.0, 75.0]})
    fig = viz.pareto(df, symbol="setting")
    pts = {t.name: (t.x[0], t.y[0], t.error_y.array[0]) for t in fig.data if t.name != "Pareto front"}
    assert pts["a · x"] == (1.0, 71.0, pytest.approx(2 ** 0.5)) and pts["b · y"] == (2.0, 60.0, 0.0)
    front = [t for t in fig.data if t.name == "Pareto front"][0]
    assert list(front.x) == [1.0, 2.0] and list(front.y) == [71.0, 80.0]  # c (3.0, 75) is dominated by b · x


def _policy(bits):
    from mpqlab.models import create_model
    from mpqlab.quant.policy import Policy

    model = create_model("resnet20")
    return Policy.uniform(model, 4, 4) if bits is None else Policy.uniform(model, 4, 4).with_layer_bits(*bits)


def test_bitwidth_heatmap_is_layers_by_policies_for_w_and_a():
    a, b = _policy(None).to_dict(), _policy(("layer2.0.conv1", 2, 3)).to_dict()
    fig = viz.bitwidth_heatmap({"a": a, "b": b}, notes={"b": "edited"})
    w, act = fig.data
    layers = list(a["layers"])
    assert list(w.y) == layers and list(w.x) == ["a", "b<br>edited"]
    row = layers.index("layer2.0.conv1")
    assert w.z[row] == [4, 2] and act.z[row] == [4, 3] and w.z[0] == [8, 8]  # conv1 fixed at 8 bits


def test_bitops_share_sums_to_100_and_follows_the_edit():
    a, b = _policy(None).to_dict(), _policy(("layer3.2.conv2", 2, 2)).to_dict()
    fig = viz.bitops_share({"a": a, "b": b})
    ya, yb = (dict(zip(t.x, t.y)) for t in fig.data)
    assert abs(sum(ya.values()) - 100) < 1e-9 and abs(sum(yb.values()) - 100) < 1e-9
    assert yb["layer3.2.conv2"] < ya["layer3.2.conv2"] / 3  # 4 x 4 -> 2 x 2 is a quarter of the BitOPs


def test_compare_cells_labels_each_column_with_cost_and_accuracy():
    a = _policy(None).to_dict()
    cells = {"x": {"row": {"bitops": 2.5e9, "target_top1": 81.25}, "policy": a},
             "y": {"row": {"bitops": 1e9, "target_top1": 70.0}, "policy": a}}
    assert list(viz.compare_cells(cells).data[0].x) == ["x<br>2.500 GBitOPs, top-1 81.25 %",
                                                        "y<br>1.000 GBitOPs, top-1 70.00 %"]
    no_row = viz.compare_cells({"p": {"policy": a}})
    assert list(no_row.data[0].x) == [f"p<br>{a['totals']['bitops'] / 1e9:.3f} GBitOPs"]


def test_committed_figures_share_one_plotly_js_and_stay_small():
    from pathlib import Path

    figures = Path(__file__).resolve().parents[1] / "figures"
    html = sorted(figures.glob("*.html"))
    assert html and (figures / viz.PLOTLY_JS).is_file()
    for f in html:
        head = f.read_text()[:3000]
        assert 'src="plotly.min.js"' in head and "plotly.js v" not in f.read_text(), f"{f.name} inlines plotly.js"
    total = sum(f.stat().st_size for f in figures.rglob("*") if f.is_file())
    # 4.6 MiB of it is the one plotly.min.js; 02b's multi-control explorers (slices over both sides, planes, bits)
    # are 3.5 MiB, most of it the slices explorer's per-view visibility masks (256 views x 1,600 traces)
    assert total < 13 * 2 ** 20, f"figures/ holds {total / 2 ** 20:.1f} MiB (limit 13 MiB)"


def test_angle_series_shows_isolated_defined_steps_and_a_nan_aware_mean():
    c = [np.nan, 0.5, np.nan, np.nan, -0.5, np.nan, 1.0]
    assert np.allclose(viz.nan_running_mean(c, 3), [0.5, 0.5, -0.5, -0.5, 0.25], equal_nan=True)
    assert np.isnan(viz.nan_running_mean([np.nan, np.nan, 1.0], 2)[0])
    # only the last window (-0.5, nan, 1.0) holds two defined values
    assert np.allclose(viz.nan_running_mean(c, 3, min_count=2), [np.nan] * 4 + [0.25], equal_nan=True)
    fig = viz.angle_series({"edmips": (range(7), c)}, smooth=3, full_range=True)
    points, mean = fig.data
    assert points.mode == "markers" and sum(np.isfinite(points.y)) == 3  # every defined step is drawn
    assert mean.mode == "lines" and np.isfinite(mean.y).sum() == 1 and tuple(fig.layout.yaxis.range) == (-1.05, 1.05)
    dense = viz.angle_series({"sam": (range(6), [0.9, 0.8, 0.9, 0.8, 0.9, 0.8])}, smooth=3)
    assert np.allclose(dense.data[1].y, [26 / 30, 25 / 30, 26 / 30, 25 / 30]) and dense.layout.yaxis.range is None


def test_per_layer_bars_name_their_quantity():
    cos = viz.layer_bars({"a": {"conv1": 0.9}}, title="t", yaxis="cos(g_l, g_p,l)")
    assert cos.layout.yaxis.title.text == "cos(g_l, g_p,l)" and cos.layout.yaxis.type == "linear"
    per = viz.layer_trace_bars({"a": {"conv1": 1.0}}, per_parameter=True)
    assert "per parameter" in per.layout.yaxis.title.text and per.layout.yaxis.type == "log"


def test_effects_forest_draws_each_comparison_with_its_interval_and_the_gate():
    comps = [{"a": "edmips@target", "b": "uniform", "setting": "all", "mean": 2.0, "ci_low": 1.0, "ci_high": 3.0, "n": 8},
             {"a": "asga", "b": "edmips", "setting": "s", "mean": -0.5, "ci_low": -1.5, "ci_high": 0.5, "n": 8},
             {"a": "random", "b": "uniform", "setting": "all", "mean": -16.5, "ci_low": -19.7, "ci_high": -13.2, "n": 8}]
    fig = viz.effects_forest(comps, margin=1.0, note="gates: search matters PASS")
    pts = fig.data[0]
    assert list(pts.x)[:2] == [2.0, -0.5] and list(pts.error_x.array)[:2] == [1.0, 1.0]
    assert list(pts.error_x.arrayminus)[:2] == [1.0, 1.0] and "edmips@target − uniform (all, n=8)" in pts.y[0]
    # the gate's threshold on the gate row only (the reference against uniform), not across every row
    gate = [s for s in fig.layout.shapes if s.x0 == 1.0]
    assert len(gate) == 1 and (gate[0].y0, gate[0].y1) == (-0.4, 0.4)
    # the random row does not squash the others: drawn at the axis edge, its value written beside it
    lo, hi = fig.layout.xaxis.range
    assert lo > -10 and hi >= 3.0 and pts.x[2] == pytest.approx(lo / 1.08)
    assert any("-16.50 [-19.70, -13.20] (off scale)" in a.text for a in fig.layout.annotations)
    assert "search matters PASS" in fig.layout.annotations[-1].text


def test_softmax_heatmaps_share_the_bitwidth_heatmaps_orientation_and_scale():
    sm = pd.DataFrame({"epoch": [1, 1, 1, 1, 2, 2, 2, 2], "layer": ["a", "a", "b", "b"] * 2, "kind": ["w"] * 8,
                       "bits": [2, 4] * 4, "prob": [0.5, 0.5, 0.9, 0.1, 0.2, 0.8, 1.0, 0.0]})
    exp = viz.softmax_heatmap(sm)
    pol = {"layers": {"a": {"w_bits": 2, "a_bits": 2, "searchable": True}, "b": {"w_bits": 4, "a_bits": 4,
                                                                                   "searchable": True}}}
    bits = viz.bitwidth_heatmap({"p": pol})
    assert exp.layout.yaxis.autorange == "reversed" == bits.layout.yaxis.autorange
    assert (exp.data[0].zmin, exp.data[0].zmax) == (bits.data[0].zmin, bits.data[0].zmax) == (2, 8)
    assert list(exp.data[0].y) == ["a", "b"] and exp.data[0].z[0][1] == pytest.approx(3.6)
    one = viz.softmax_heatmap(sm, layer="b")
    assert (one.data[0].zmin, one.data[0].zmax) == (0, 1)


def test_angle_series_draws_no_running_mean_where_no_window_is_defined():
    sparse = ([1, 2, 3, 4, 5, 6], [float("nan"), 0.5, float("nan"), float("nan"), float("nan"), -0.2])
    dense = ([1, 2, 3, 4, 5, 6], [0.9, 0.8, 0.85, 0.9, 0.7, 0.8])
    names = [t.name for t in viz.angle_series({"a": sparse, "b": dense}, smooth=3).data]
    assert names == ["a (per step)", "b (per step)", "b (mean of 3)"]


def test_one_colour_per_method_in_every_chart():
    """A method keeps its colour across charts, whatever else is plotted beside it and whatever suffix its label
    carries; other labels get a colour fixed by their name."""
    assert viz.color_of("edmips+asga") == viz.color_of("edmips+asga · cross-dataset") == viz.color_of(
        "edmips+asga:rho=0.1") == viz.METHOD_COLORS["edmips+asga"]
    assert len(set(viz.METHOD_COLORS.values())) == len(viz.METHOD_COLORS)
    a = viz.angle_series({"edmips+sam": ([0, 1], [0.9, 0.8]), "edmips+asga": ([0, 1], [0.9, 0.7])})
    b = viz.angle_series({"edmips+asga": ([0, 1], [0.1, 0.2])})
    assert a.data[1].marker.color == b.data[0].marker.color == viz.METHOD_COLORS["edmips+asga"]
    df = pd.DataFrame({"method": ["edmips", "random"], "proxy_h": [1.0, 2.0], "penalty": [-1.0, -5.0]})
    fig1 = viz.sharpness_vs_generalization(df, sharpness="proxy_h", gap="penalty")
    assert {t.name: t.marker.color for t in fig1.data} == {"edmips": viz.METHOD_COLORS["edmips"],
                                                           "random": viz.METHOD_COLORS["random"]}
    assert viz.color_of("seed 3") == viz.color_of("seed 3") and viz.color_of("seed 3") not in viz.METHOD_COLORS.values()


def test_quantizer_staircase_draws_each_bit_width_against_the_float_weight():
    import torch

    from mpqlab.quant.quantizers import quantize_symmetric

    w = torch.linspace(-1, 1, 201)
    fig = viz.quantizer_staircase(w, {"3 bits": quantize_symmetric(w, torch.tensor(0.25), 3)}, points=([0.3], [0.25]))
    assert [t.name for t in fig.data] == ["w (no quantization)", "3 bits", "the worked example"]
    assert sorted(set(float(v) for v in fig.data[1].y)) == [-0.75, -0.5, -0.25, 0.0, 0.25, 0.5, 0.75]
    assert fig.layout.xaxis.title.text == "float weight w"


def test_one_colour_per_model_across_chart_kinds_and_no_chart_under_400_px():
    import numpy as np

    from mpqlab.viz import figures as F

    labels = ["W8A8", "W4A4", "W2A2"]
    bars = F.eigenvalue_bars({k: [3.0, 2.0] for k in labels})
    lines = F.spectral_density({k: (np.linspace(0, 1, 5), np.ones(5)) for k in labels})
    traces = F.layer_trace_bars({k: {"conv1": 1.0, "fc": 2.0} for k in labels})
    colours = [[t.marker.color for t in bars.data], [t.line.color for t in lines.data],
               [t.marker.color for t in traces.data]]
    assert colours[0] == colours[1] == colours[2] == [F.color_of(k) for k in labels]
    assert len(set(colours[0])) == 3
    # a method keeps its colour; two labels never share one in a figure
    asga = F.eigenvalue_bars({"edmips+asga": [1.0], "edmips+asga (proxy)": [2.0], "edmips": [1.5]})
    assert [t.marker.color for t in asga.data] == [F.METHOD_COLORS["edmips+asga"]] * 2 + [F.METHOD_COLORS["edmips"]]
    assert F.bitops_share({}).layout.height >= 400  # asked for 320
    one_row = [{"a": "edmips@target", "b": "uniform:W3A2", "setting": "s", "mean": 1.0, "ci_low": 0.2,
                "ci_high": 1.8, "n": 8}]
    assert F.effects_forest(one_row).layout.height >= 400  # asked for 140 + 34 per row


def test_a_label_without_its_own_colour_never_looks_like_a_method_or_model():
    from mpqlab.viz.palette import METHOD_COLORS, NEAR, _distance, color_of

    for label in ["W3A2", "fp32", "layer1.0.conv1", "rho 0.05", "seed 3", "x", "y", "z"]:
        assert min(_distance(color_of(label), c) for c in METHOD_COLORS.values()) >= NEAR, label
    assert _distance(color_of("float"), color_of("W8A8")) >= NEAR  # the two were once both near-black


def test_a_static_export_keeps_a_tall_figures_height():
    """A heatmap sized for its rows (one per layer) is exported at its own height, not squeezed to the default
    (where plotly drops every other layer label); a figure that sets no height gets the default."""
    from mpqlab.viz.files import EXPORT_HEIGHT, export_height

    pol = {"layers": {f"layer{i}": {"w_bits": 4, "a_bits": 4, "searchable": True} for i in range(22)}}
    tall = viz.bitwidth_heatmap({"a": pol, "b": pol})
    assert tall.layout.height > EXPORT_HEIGHT and export_height(tall) == tall.layout.height
    assert export_height(go.Figure()) == EXPORT_HEIGHT


def _png_in_a_fresh_process(tmp_path, server: bool) -> bytes:
    """One figure exported by a new Python process, through the persistent browser or a per-export one."""
    import subprocess
    import sys

    code = ("import sys, plotly.graph_objects as go\nfrom mpqlab.viz import files as F\n"
            + ("" if server else "F._BROWSER['given_up'] = True  # as after a failure: a browser per export\n")
            + "fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2]), layout_title_text='t')\n"
            + "out = F.save_figure(fig, sys.argv[1])\n"
            + "F.save_figure(fig, sys.argv[1] + '_again')  # a second export through the same browser\n"
            + "assert (F._BROWSER['browser'] is not None) is " + str(server) + ", F._BROWSER\n")
    stem = tmp_path / ("server" if server else "oneshot")
    subprocess.run([sys.executable, "-c", code, str(stem)], check=True)
    return stem.with_suffix(".png").read_bytes(), Path(str(stem) + "_again.png").read_bytes()


def test_the_persistent_export_browser_writes_the_same_png_as_a_browser_per_export(tmp_path):
    """Two exports through one persistent browser give the bytes a browser per export gives (kaleido's own path)."""
    from mpqlab.viz.files import find_browser

    if find_browser() is None:
        pytest.skip("no Chromium-family browser: static export is tested where one is installed")
    server, oneshot = _png_in_a_fresh_process(tmp_path, True), _png_in_a_fresh_process(tmp_path, False)
    assert server[0] == server[1] == oneshot[0] == oneshot[1] and server[0][:8] == b"\x89PNG\r\n\x1a\n"


def test_a_forked_child_exports_without_waiting_on_its_parents_browser(tmp_path):
    import multiprocessing

    from mpqlab.viz import files as figure_files

    if figure_files.find_browser() is None:
        pytest.skip("no Chromium-family browser: static export is tested where one is installed")
    fig = go.Figure(go.Bar(x=[1, 2], y=[3, 2]))
    assert figure_files.save_figure(fig, tmp_path / "parent").path("png") is not None
    if figure_files._BROWSER["browser"] is None:
        pytest.skip("this process exports through a browser per figure (its persistent one failed earlier)")

    def child():
        out = figure_files.save_figure(fig, tmp_path / "child")
        raise SystemExit(0 if out.path("png") is not None and figure_files._BROWSER["given_up"] else 3)

    proc = multiprocessing.get_context("fork").Process(target=child)
    proc.start()
    proc.join(600)  # a generous bound for a busy machine: a child that waits on the parent's server never returns
    assert proc.exitcode == 0, f"the forked child's export did not finish (exit code {proc.exitcode})"
    assert (tmp_path / "child.png").read_bytes() == (tmp_path / "parent.png").read_bytes()
