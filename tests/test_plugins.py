"""Adding a sharpness rule, a radius schedule or an objective is one decorated class in one file: this file.
Each is then a choice of SearchConfig, a grid method and the command line, and a search runs with it."""
import pytest
import torch
import torch.nn.functional as F

from mpqlab.core.errors import MpqlabError
from mpqlab.search.objectives import OBJECTIVES, Objective, register_objective
from mpqlab.optim import RADII, RULES, RadiusSchedule, TwoPassOptimizer, register_radius, register_rule
from mpqlab.search.methods import list_methods, list_radii, list_rules, parse_method
from mpqlab.search import SearchConfig, read_metrics, run


@pytest.fixture
def plugins(monkeypatch):
    """Register a toy rule, schedule and objective for one test, and remove them after it."""
    monkeypatch.delenv("MPQLAB_PLUGINS", raising=False)  # restored after the test

    @register_rule("toysam", default_radius="halving", options={"scale": "beta"})
    class ToySAM(TwoPassOptimizer):
        """SAM whose update is g_p scaled by (1 + beta): a rule that exists only in this test"""

        def __init__(self, params, base_optimizer, scale: float = 0.0, **kw):
            self.scale = scale
            super().__init__(params, base_optimizer, **kw)

        def perturbation(self, g, gnorm, rho):
            return g * (rho / (gnorm + 1e-12))

        def direction(self, g, gp, ctx):
            return gp * (1 + self.scale)

    @register_radius("halving")
    class Halving(RadiusSchedule):
        """rho halves after every full step"""

        def update(self, h, kappa=None, rho_used=None):
            self.state["rho"] = self.state["rho"] / 2

    @register_objective("smoothed")
    class Smoothed(Objective):
        """cross-entropy with label smoothing 0.1"""

        def __call__(self, net, x, y):
            logits = net(x)
            ce = F.cross_entropy(logits, y, label_smoothing=0.1)
            return ce, {"ce": ce.item(), "logits": logits}

    yield ToySAM
    RULES.pop("toysam"), RADII.pop("halving"), OBJECTIVES.pop("smoothed")


def test_a_rule_a_radius_and_an_objective_registered_in_one_file_run_a_search(plugins, tmp_path):
    assert "toysam" in list_rules() and "halving" in list_radii() and "smoothed+toysam" in list_methods()
    assert parse_method("smoothed+toysam@target").rule == "toysam"
    cfg = SearchConfig(model="resnet20", data="synthetic", objective="smoothed", sharpness="toysam", beta=0.5,
                       budget=3.0, epochs=1, batch_size=32, max_batches=3, w_candidates=[2, 4, 8],
                       a_candidates=[2, 4, 8])
    cfg.check()
    policy = run(cfg, tmp_path / "p.json", show_progress=False)
    assert policy.provenance["method"] == "smoothed+toysam"
    rho = list(read_metrics(tmp_path / "p.run")["rho"])
    assert rho == pytest.approx([0.05, 0.025, 0.0125])  # the schedule the rule names, step by step


def test_the_command_line_offers_a_registered_rule(plugins):
    from mpqlab.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "cmd").choices["search"]
    choices = {a.dest: list(a.choices) for a in sub._actions if a.choices}
    assert "toysam" in choices["sharpness"] and "halving" in choices["radius"] and "smoothed" in choices["objective"]


def test_a_registered_rules_options_reach_its_constructor(plugins):
    from mpqlab.search.loop import Search
    from mpqlab.models import create_model

    cfg = SearchConfig(model="resnet20", data="synthetic", sharpness="toysam", beta=0.25, budget=3.0,
                       w_candidates=[2, 4, 8], a_candidates=[2, 4, 8])
    search = Search(cfg, create_model("resnet20", num_classes=10), (3, 32, 32), torch.randn(8, 3, 32, 32))
    assert isinstance(search.wopt, plugins) and search.wopt.scale == 0.25 and search.wopt.radius == "halving"


def test_a_taken_name_is_refused():
    with pytest.raises(MpqlabError, match="sharpness rule 'asga' is registered already"):
        register_rule("asga")(type("X", (TwoPassOptimizer,), {}))


RULE_FILE = '''"""A rule that exists only in a temporary copy of mpqlab: SAM at half the radius."""
from ..two_pass import TwoPassOptimizer
from . import register_rule


@register_rule("halfsam", default_radius="fixed")
class HalfSAM(TwoPassOptimizer):
    """SAM at half the schedule's radius"""

    def perturbation(self, g, gnorm, rho):
        return g * (0.5 * rho / (gnorm + 1e-12))

    def direction(self, g, gp, ctx):
        return gp
'''

OBJECTIVE_FILE = '''"""An objective that exists only in a temporary copy of mpqlab: label-smoothed cross-entropy."""
import torch.nn.functional as F

from . import Objective, register_objective


@register_objective("smoothed")
class Smoothed(Objective):
    """cross-entropy with label smoothing 0.1"""

    def __call__(self, net, x, y):
        logits = net(x)
        ce = F.cross_entropy(logits, y, label_smoothing=0.1)
        return ce, {"ce": ce.item(), "logits": logits}
'''


@pytest.mark.slow  # a search and a 2-worker grid in subprocesses
def test_a_new_rule_file_and_objective_file_work_from_the_cli_and_in_spawned_grid_workers(tmp_path):
    """The whole change is two new files: no import added, no list edited. A copy of the package gets them; the
    CLI offers and runs them, and a grid's spawned workers (a fresh interpreter each) find them too."""
    import json
    import os
    import shutil
    import subprocess
    import sys

    from conftest import REPO
    from mpqlab.experiments.presets import smoke_config

    pkg = tmp_path / "src"
    shutil.copytree(REPO / "mpqlab", pkg / "mpqlab", ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "mpqlab" / "optim" / "rules" / "halfsam.py").write_text(RULE_FILE)
    (pkg / "mpqlab" / "search" / "objectives" / "smoothed.py").write_text(OBJECTIVE_FILE)
    env = {**os.environ, "PYTHONPATH": str(pkg), "MPQLAB_COMPILE": "0"}
    env.pop("MPQLAB_PLUGINS", None)

    def mpqlab(*args):
        r = subprocess.run([sys.executable, "-P", "-c", "from mpqlab.cli import main; main()", *args], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        return r.stdout

    assert "halfsam" in mpqlab("search", "--help") and "smoothed" in mpqlab("search", "--help")
    mpqlab("search", "--model", "resnet20", "--data", "synthetic-tiny", "--objective", "smoothed", "--sharpness",
           "halfsam", "--budget", "2.5", "--epochs", "1", "--max-batches", "2", "--batch-size", "32",
           "--w-candidates", "2,3,4", "--a-candidates", "2,3,4", "--out", "p.json")
    policy = json.loads((tmp_path / "p.json").read_text())
    assert policy["provenance"]["method"] == "smoothed+halfsam"

    cfg = smoke_config()
    cfg.update(name="plugin_grid", seeds=[0, 1], methods=["uniform", "smoothed+halfsam"])
    (tmp_path / "grid.json").write_text(json.dumps(cfg))
    mpqlab("experiment", "grid.json", "--out", "grid", "--workers", "2")
    rows = [json.loads(p.read_text()) for p in (tmp_path / "grid").glob("cells/**/row.json")]
    assert sorted((r["method"], r["seed"]) for r in rows if r["method"] != "uniform") == [
        ("smoothed+halfsam", 0), ("smoothed+halfsam", 1)]
    assert all(r.get("target_top1") is not None for r in rows)


@pytest.mark.slow  # a 2-worker smoke grid
def test_a_rule_registered_from_your_own_module_reaches_spawned_grid_workers(tmp_path, monkeypatch):
    """Registered in this process from an importable file outside mpqlab; the spawned workers import that file
    before their cell (mpqlab.core.registry.external_modules), with no environment variable set."""
    import importlib
    import json
    import sys

    from mpqlab.experiments.executors import run_grid
    from mpqlab.experiments.presets import smoke_config
    from mpqlab.core.registry import external_modules

    (tmp_path / "my_rules.py").write_text(RULE_FILE.replace("from ..two_pass import", "from mpqlab.optim import")
                                          .replace("from . import register_rule", "from mpqlab.optim import register_rule")
                                          .replace('"halfsam"', '"mysam"'))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("MPQLAB_PLUGINS", raising=False)
    monkeypatch.setenv("MPQLAB_COMPILE", "0")
    importlib.import_module("my_rules")
    try:
        assert "my_rules" in external_modules()
        cfg = smoke_config()
        cfg.update(name="own_module", seeds=[0, 1], methods=["edmips+mysam"])
        run_grid(cfg, tmp_path / "grid", show_progress=False, workers=2)
        rows = [json.loads(p.read_text()) for p in (tmp_path / "grid").glob("cells/**/row.json")]
        assert sorted(r["seed"] for r in rows if r["method"] == "edmips+mysam") == [0, 1]
    finally:
        RULES.pop("mysam", None)
        sys.modules.pop("my_rules", None)


def test_a_grid_using_a_rule_defined_in_main_is_refused_before_spawning_workers(tmp_path):
    from mpqlab.experiments.executors import run_grid
    from mpqlab.experiments.presets import smoke_config

    cls = type("MainSAM", (TwoPassOptimizer,), {"__module__": "__main__", "__doc__": "defined in a notebook",
                                                "perturbation": lambda self, g, n, r: g,
                                                "direction": lambda self, g, gp, ctx: gp})
    register_rule("mainsam")(cls)
    try:
        cfg = smoke_config()
        cfg.update(name="main_rule", methods=["edmips+mainsam"])
        with pytest.raises(MpqlabError, match="'edmips\\+mainsam' uses a class defined in __main__"):
            run_grid(cfg, tmp_path / "grid", show_progress=False, workers=2)
    finally:
        RULES.pop("mainsam")
