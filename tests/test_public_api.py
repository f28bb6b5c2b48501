"""The names users import keep working after the package was grouped into floors: every top-level public name
resolves to the object its floor defines, the plugin decorators register, the console script points at the CLI,
and ``import mpqlab`` alone imports no floor."""
import importlib
import subprocess
import sys
import tomllib
from pathlib import Path

import mpqlab

REPO = Path(__file__).resolve().parents[1]


def test_every_public_name_is_its_floors_object():
    for name, where in mpqlab.PUBLIC.items():
        module, attr = where if isinstance(where, tuple) else (where, name)
        assert getattr(mpqlab, name) is getattr(importlib.import_module(f"mpqlab.{module}"), attr), name
    assert set(mpqlab.PUBLIC) <= set(dir(mpqlab))
    assert mpqlab.create_model("resnet20").__class__.__name__ and "resnet20" in mpqlab.list_models()
    assert "edmips+asga" in mpqlab.list_methods()


def test_an_unknown_name_is_an_attribute_error():
    try:
        mpqlab.no_such_thing  # noqa: B018
    except AttributeError as e:
        assert "no_such_thing" in str(e)
    else:
        raise AssertionError("mpqlab.no_such_thing resolved")


def test_plugin_decorators_register_from_the_top():
    @mpqlab.register_rule("test_public_api_rule")
    class _Rule(importlib.import_module("mpqlab.optim").TwoPassOptimizer):
        """A rule that exists only in this test."""

    try:
        assert "test_public_api_rule" in mpqlab.list_rules()
    finally:
        importlib.import_module("mpqlab.optim.rules").RULES.pop("test_public_api_rule", None)


def test_the_console_script_is_the_cli_and_import_mpqlab_is_light():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["mpqlab"] == "mpqlab.cli:main" and callable(importlib.import_module("mpqlab.cli").main)
    out = subprocess.run([sys.executable, "-c", "import sys, mpqlab; print(sorted(m for m in sys.modules "
                          "if m.startswith('mpqlab.')))"], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_smoke_config_a_newcomer_runs_is_the_preset():
    import json

    from mpqlab.experiments.presets import smoke_config

    on_disk = json.loads((REPO / "configs" / "smoke.json").read_text())
    on_disk.pop("description")
    assert on_disk == json.loads(json.dumps(smoke_config()))
