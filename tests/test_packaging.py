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


def _mpqlab_imports():
    """{module: {imported mpqlab modules}} from every import statement, function-level ones included."""
    import ast

    root = REPO / "mpqlab"
    names = {".".join(p.relative_to(root).with_suffix("").parts).removesuffix("__init__").rstrip(".") or "": p
             for p in root.rglob("*.py")}
    graph = {}
    for name, path in names.items():
        pkg = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        pkg = [p for p in pkg if p]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg[:len(pkg) - node.level + 1]
                elif node.module and node.module.split(".")[0] == "mpqlab":
                    base = []
                    node = ast.ImportFrom(module=node.module.partition(".")[2] or None, names=node.names, level=1)
                else:
                    continue
                mod = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:  # `from . import x` imports module x when it exists
                    sub = f"{mod}.{alias.name}".lstrip(".")
                    deps.add(sub if sub in names else mod)
            elif isinstance(node, ast.Import):
                deps |= {a.name.partition(".")[2] for a in node.names if a.name.split(".")[0] == "mpqlab"}
        graph[name] = {d for d in deps if d != name}
    return graph


def _violations(graph, floor):
    """(modules missing a floor, imports pointing up, one import cycle or None)."""
    missing = set(graph) - set(floor)
    up = sorted((m, d) for m, ds in graph.items() for d in ds if floor.get(d, -1) > floor.get(m, -1))
    state, cycle = {}, []

    def visit(m, path):
        if state.get(m) == "open":
            cycle.append(path + [m])
            return
        if state.get(m) == "done" or cycle:
            return
        state[m] = "open"
        for d in sorted(graph.get(m, ())):
            visit(d, path + [m])
        state[m] = "done"

    for m in sorted(graph):
        visit(m, [])
    return missing, up, (cycle[0] if cycle else None)


def test_every_import_points_down_the_layers_and_none_form_a_cycle():
    import mpqlab

    graph = _mpqlab_imports()
    floor = {m: mpqlab.floor_of(m) for m in graph if mpqlab.floor_of(m) is not None}
    floor[""] = -1  # the package itself (__version__, LAYERS) imports nothing
    assert "experiments.executors" in graph["cli"] and "experiments.cell" in graph["experiments.executors"]
    assert "core.runtime" in graph["training.train"]
    missing, up, cycle = _violations(graph, floor)
    assert missing == set(), f"modules missing from mpqlab.LAYERS: {missing}"
    assert up == [], f"imports pointing up the layers: {up}"
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_a_plugin_family_member_takes_its_familys_floor_and_nothing_else_is_placed_implicitly():
    import mpqlab

    assert mpqlab.floor_of("optim.rules.sam") == mpqlab.floor_of("optim.rules")
    assert mpqlab.floor_of("data.sources.a_new_dataset") == mpqlab.floor_of("data.sources")
    assert mpqlab.floor_of("analysis.not_listed") is None  # outside a family a module must be listed
    assert mpqlab.floor_of("core.errors") == 0 and mpqlab.floor_of("cli") == len(mpqlab.LAYERS) - 1
    assert mpqlab.floor_of("search.objectives.edmips") == mpqlab.floor_of("search.objectives")


def test_the_layering_check_flags_an_upward_import_and_a_cycle():
    floor = {"a": 0, "b": 1, "c": 1}
    assert _violations({"a": {"b"}, "b": set(), "c": set()}, floor)[1] == [("a", "b")]
    assert _violations({"a": set(), "b": {"c"}, "c": {"b"}}, floor)[2] == ["b", "c", "b"]
    assert _violations({"a": set(), "d": set()}, floor)[0] == {"d"}


def test_public_classes_and_functions_have_docstrings():
    import ast

    missing = []
    for path in sorted((REPO / "mpqlab").rglob("*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)) and not node.name.startswith("_"):
                if not ast.get_docstring(node):
                    missing.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name}")
    assert missing == [], missing


def test_test_workers_share_the_cores_with_the_processes_they_start():
    """Each pytest-xdist worker, and every kernel or CLI it starts (they inherit OMP_NUM_THREADS), gets its share of
    the cores: a worker that kept the controller's all-cores setting would run its notebook kernels with more
    threads than cores, which slows OpenMP several times over."""
    import os
    import subprocess
    import sys

    import torch

    from conftest import THREADS

    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not os.environ.get("MPQLAB_TEST_USER_THREADS"):
        assert THREADS * workers <= max(os.cpu_count() or 1, workers)
    assert os.environ["OMP_NUM_THREADS"] == str(THREADS) and torch.get_num_threads() == THREADS
    child = subprocess.run([sys.executable, "-c", "import torch; print(torch.get_num_threads())"],
                           capture_output=True, text=True, check=True)
    assert int(child.stdout) == THREADS


def test_no_module_exceeds_400_lines():
    """Small modules with one job each: a module that grows past 400 lines is doing several."""
    long = [f"{p.relative_to(REPO)}: {n}" for p in sorted((REPO / "mpqlab").rglob("*.py"))
            if (n := len(p.read_text().splitlines())) > 400]
    assert long == [], long


def test_every_import_inside_a_function_states_its_reason():
    """The flow of a module shows in its top imports: an import inside a function is there for a reason (an optional
    dependency, a slow import only one path needs, start-up time), and says so in a comment on its line."""
    import ast

    silent = []
    for path in sorted((REPO / "mpqlab").rglob("*.py")):
        lines = path.read_text().splitlines()
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and not any(
                            "#" in lines[i - 1] for i in range(node.lineno, node.end_lineno + 1)):
                        silent.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not silent, f"imports inside functions without a stated reason: {sorted(set(silent))}"
