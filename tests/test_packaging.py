"""The install files agree, and the README opens with the two commands CI runs."""
import re
import tomllib

from conftest import REPO


def _norm(req: str) -> str:
    return re.sub(r"\s+", "", req).lower()


def test_environment_yml_and_pyproject_name_the_same_dependencies():
    import yaml

    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    pip_block = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    env_deps = [d for d in pip_block if not d.startswith("-")]
    assert sorted(map(_norm, deps)) == sorted(map(_norm, env_deps))
    assert "torch==2.14.1" in map(_norm, deps) and "torchvision==0.29.1" in map(_norm, deps)


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_one():
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", text, re.S)
    first = [l for l in blocks[0].splitlines() if l.strip() and not l.startswith("#")]
    assert first == ["make quickstart", "make test"]
    ci = [l for l in (REPO / ".ci" / "run").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert ci[-1].strip() == "make test" and all(not l.startswith(("pip", "apt")) for l in ci)
