"""A real browser: JupyterLab on 127.0.0.1, headless Chromium through Playwright, a notebook run live; the
test checks in the DOM that a plotly figure and an ipywidget rendered, changes an explorer's control and checks
that the plot under it re-plotted with other data, with screenshots before and after. Two notebooks: 05 (choose
another grid cell: the heatmap's data change) and 06 (choose another method: another group of Fig. 1's points is
highlighted)."""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = [pytest.mark.slow, pytest.mark.browser]  # JupyterLab in chromium

CHROMIUM = "/usr/bin/chromium"


def _plot_data(locator):
    """The x labels, z values, opacities and marker sizes of every trace of the plotly figure inside ``locator``
    (None before it renders)."""
    return locator.evaluate("""el => {
        const gd = el.querySelector('.js-plotly-plot');
        return gd && gd.data ? JSON.stringify(gd.data.map(t => [t.x, t.z, t.opacity, t.marker && t.marker.size]))
                             : null; }""")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian chromium is not installed (needs root + apt-get)")
@pytest.mark.parametrize("notebook, select_index", [("05_bitwidth_policies", 1), ("06_paper_figures", 0)])
def test_jupyterlab_renders_a_plotly_figure_and_a_widget(notebook, select_index, tmp_path):
    from playwright.sync_api import sync_playwright

    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(REPO / "notebooks" / f"{notebook}.ipynb", work / "nb.ipynb")
    for committed in ("results", "configs"):  # what the notebook reads as ../results, ../configs
        (tmp_path / committed).symlink_to(REPO / committed)
    port, token = _free_port(), "mpqlabtest"
    env = dict(os.environ, MPQLAB_COMPILE="0", PYTHONPATH=str(REPO))
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
                            f"--IdentityProvider.token={token}", "--ServerApp.root_dir=" + str(work),
                            "--allow-root"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    shots = Path(os.environ.get("MPQLAB_TEST_OUTPUT", REPO / "runs" / "test-output")) / notebook
    shots.mkdir(parents=True, exist_ok=True)
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2)
                break
            except OSError:
                time.sleep(1)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"http://127.0.0.1:{port}/lab/tree/nb.ipynb?token={token}")
            page.wait_for_selector(".jp-NotebookPanel", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.screenshot(path=str(shots / "jupyterlab-opened.png"))
            # states, not fixed pauses: every cell of the file rendered, and the kernel connected and idle
            n_file = len(json.loads((work / "nb.ipynb").read_text())["cells"])
            page.wait_for_function(f"document.querySelectorAll('.jp-Notebook .jp-Cell').length >= {n_file}",
                                   timeout=600_000)
            page.wait_for_function("[...document.querySelectorAll('.jp-StatusBar-TextItem, .jp-StatusBar-Item')]"
                                   ".some(e => /\\|\\s*Idle/.test(e.textContent))", timeout=600_000)
            page.locator(".jp-Cell").first.click()
            page.keyboard.press("Escape")
            n_cells = page.locator(".jp-Cell").count()
            for i in range(n_cells):  # Shift+Enter: run the cell, select the next (wait until the selection moved)
                page.keyboard.press("Shift+Enter")
                page.wait_for_function(f"[...document.querySelectorAll('.jp-Cell')].findIndex(c => "
                                       f"c.classList.contains('jp-mod-active')) >= {min(i + 1, n_cells - 1)}",
                                       timeout=600_000)
            try:
                page.wait_for_selector(".js-plotly-plot", timeout=600_000)
            except Exception:
                page.screenshot(path=str(shots / "jupyterlab-failed.png"))
                raise
            page.wait_for_selector(".mpqlab-explorer .js-plotly-plot", timeout=600_000)
            assert page.locator(".js-plotly-plot .main-svg").count() > 0
            assert page.locator(".jupyter-widgets").count() > 0
            explorer = page.locator(".mpqlab-explorer").first  # the notebook's first explorer (a FigureWidget)
            explorer.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / "jupyterlab.png"))
            before = _plot_data(explorer)
            select = explorer.locator("select").nth(select_index)  # 05: the second policy; 06: the method
            # on a busy machine the widget fills its options late: wait for them, however long it takes
            select.wait_for(state="visible", timeout=600_000)
            page.wait_for_function("s => s.options.length >= 2", arg=select.element_handle(timeout=600_000),
                                   timeout=600_000)
            # by position, not by label: a widget that re-renders its options while the kernel catches up keeps
            # their order but may change their text nodes, and a label read a moment earlier can then miss
            n_opts, current = select.evaluate("s => [s.options.length, s.selectedIndex]")
            select.select_option(index=n_opts - 1 if current != n_opts - 1 else 0, timeout=600_000)
            try:  # the kernel re-plots: wait until the figure under the controls has other data
                page.wait_for_function("([el, before]) => { const gd = el.querySelector('.js-plotly-plot'); "
                                       "return gd && gd.data && JSON.stringify(gd.data.map(t => [t.x, t.z, "
                                       "t.opacity, t.marker && t.marker.size])) !== before; }",
                                       arg=[explorer.element_handle(), before], timeout=600_000)
            except Exception:
                pass  # the assertion below says what did not change
            after = _plot_data(explorer)
            page.screenshot(path=str(shots / "jupyterlab-after-control.png"))
            browser.close()
        assert before and after and after != before, "changing the control did not re-plot the figure"
        assert (shots / "jupyterlab.png").stat().st_size > 10_000
    finally:
        lab.terminate()
        try:
            lab.wait(10)
        except subprocess.TimeoutExpired:
            lab.kill()
