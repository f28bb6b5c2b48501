"""Run the notebooks headless and keep their outputs honest: the figures run and the staleness check.

``make_figures("figures")`` (``mpqlab figures`` / ``make figures``) runs each notebook in ``notebooks/`` with
``smoke=False`` and regenerates the committed figures and the executed copies in ``notebooks/executed/``;
:func:`stale_executed` says which copies no longer match their source. ``smoke=True`` is what CI runs, with executed
copies in ``runs/notebooks-smoke/executed/``. Each notebook's searches and landscapes go to its own scratch folder
``runs/notebooks/<notebook>/``, emptied before the run, so a rerun after a code change never resumes stale state.
``figures/README.md`` lists which notebook made each figure, under which code.
"""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ..core.errors import MpqlabError
from ..core.files import atomic_write_text
from ..core.provenance import code_label, code_record
from .notebooks import COMMITTED_FIGURES, EXECUTED_DIR, NOTEBOOK_DIR, REPO, figure_prefix, list_notebooks


def _readme_entries(path: Path) -> dict:
    """The per-notebook lines of an existing figures README (kept when only some notebooks are rerun)."""
    if not path.is_file():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        if line.startswith("- `notebooks/") and ".ipynb`" in line:
            found[line.split("notebooks/", 1)[1].split(".ipynb", 1)[0]] = line
    return found




def code_cells(path: str | os.PathLike) -> list[str]:
    """The sources of a notebook's code cells, without the cell papermill injects with the parameters."""
    import nbformat  # deferred: notebook tooling only

    nb = nbformat.read(str(path), as_version=4)
    return [c.source for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


def stale_executed(executed_dir: str | os.PathLike = EXECUTED_DIR) -> list[str]:
    """The notebooks whose executed copy in ``executed_dir`` is missing or whose code differs from the notebook's
    current source (so its outputs are not what the source prints): empty when every copy is current."""
    folder = Path(executed_dir)
    return [n for n in list_notebooks() if not (folder / f"{n}.ipynb").is_file()
            or code_cells(folder / f"{n}.ipynb") != code_cells(NOTEBOOK_DIR / f"{n}.ipynb")]


def _tidy_executed(path: Path) -> None:
    """An executed copy as committed: paths relative to the notebooks folder or, in outputs, to the repository (no
    machine's absolute paths) and no stderr streams (library warnings and log lines; every number a notebook reports goes to stdout)."""
    import nbformat  # deferred: notebook tooling only

    nb = nbformat.read(str(path), as_version=4)
    for c in nb.cells:
        if "injected-parameters" in c.metadata.get("tags", []):
            c.source = c.source.replace(str(REPO), "..")
        if c.cell_type == "code":
            c.outputs = [o for o in c.outputs if not (o.output_type == "stream" and o.name == "stderr")]
            for o in c.outputs:  # printed paths: relative to the repository
                if o.output_type == "stream":
                    o.text = o.text.replace(f"{REPO}/", "")
                for kind, value in o.get("data", {}).items():
                    if kind.startswith("text/") and isinstance(value, str):
                        o["data"][kind] = value.replace(f"{REPO}/", "")
    meta = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if key in meta:
            meta[key] = os.path.relpath(meta[key], NOTEBOOK_DIR)
    for key, value in meta.get("parameters", {}).items():
        if isinstance(value, str) and value.startswith(str(REPO)):
            meta["parameters"][key] = os.path.relpath(value, NOTEBOOK_DIR)
    meta.pop("environment_variables", None)
    atomic_write_text(path, nbformat.writes(nb) + "\n")


def make_figures(out: str | os.PathLike = COMMITTED_FIGURES, smoke: bool = False, only: list[str] | None = None,
                 runs_dir: str | os.PathLike | None = None, timeout: int | None = None, retries: int = 0) -> dict:
    """Run the notebooks; ``timeout`` bounds each cell (default 300 s in smoke mode, 1800 s otherwise), so that a
    hung or oversubscribed kernel fails the run instead of waiting for ever. A notebook whose cell times out is run
    again from the start ``retries`` times (none by default: a slow cell is reported, not hidden)."""
    out = Path(out).resolve()
    if smoke and out == COMMITTED_FIGURES.resolve():
        raise MpqlabError(f"a smoke run does not write the committed figures in {out}: they are data; give another "
                          "--out (default runs/figures-smoke)")
    runs = Path(runs_dir or REPO / "runs" / ("notebooks-smoke" if smoke else "notebooks")).resolve()
    names = only or list_notebooks()
    unknown = [n for n in names if n not in list_notebooks()]
    if unknown:
        raise MpqlabError(f"unknown notebooks {unknown}; known: {list_notebooks()}")
    out.mkdir(parents=True, exist_ok=True)
    executed = EXECUTED_DIR if (not smoke and out == COMMITTED_FIGURES.resolve()) else runs / "executed"
    executed.mkdir(parents=True, exist_ok=True)
    timeout = timeout or (300 if smoke else 1800)
    try:
        os.getcwd()
    except FileNotFoundError:  # papermill resolves its paths against the working directory, which must exist
        os.chdir(REPO)
    made, times = {}, {}
    saved_env = {k: os.environ.get(k) for k in ("MPQLAB_HEADLESS", "MPQLAB_SMOKE", "MPQLAB_COMPILE", "OMP_NUM_THREADS")}
    os.environ["MPQLAB_HEADLESS"] = "1"  # the kernels inherit it: explorers precomputed, figures embedded with a PNG
    os.environ["MPQLAB_SMOKE"] = "1" if smoke else "0"  # a smoke run's explorers precompute fewer views
    if smoke:  # tiny runs: compiling the quantizer kernels costs more than it saves
        os.environ.setdefault("MPQLAB_COMPILE", "0")
        # and one intra-op thread: tiny eager ops gain nothing from a second, and on a loaded machine every op's
        # thread barrier waits for a descheduled thread (notebook 03's Hessians: 18 s alone, 150 s beside a grid)
        os.environ.setdefault("OMP_NUM_THREADS", "1")
    threads = _kernel_threads()
    try:
        _execute(names, out, runs, executed, smoke, timeout, retries, made, times)
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    entries = _readme_entries(out / "README.md") if only else {}
    code = code_label(code_record())  # read after the runs: a source edited meanwhile is marked +dirty
    for name, files in made.items():
        entries[name] = (f"- `notebooks/{name}.ipynb` ({'smoke' if smoke else 'full'} run, {times[name]} s; code "
                         f"{code}; {threads}): " + ", ".join(f"`{f}`" for f in files))
    lines = ["# figures", "", "Every file here is written by `mpqlab figures` (`make figures`), which executes the",
             "notebooks with papermill. Which notebook made which figure, how long its run took, the code it ran",
             "(commit, `+dirty` for uncommitted source) and the kernels' intra-op threads. A full run's numbers depend",
             "on the thread count (the notebooks train their own models): rerun with the same `OMP_NUM_THREADS` to",
             "compare like with like.", ""]
    lines += [entries[k] for k in sorted(entries)]
    atomic_write_text(out / "README.md", "\n".join(lines) + "\n")
    return {"figures": str(out), "notebooks": times, "files": sum(len(v) for v in made.values())}


def _kernel_threads() -> str:
    """The intra-op threads the papermill kernels start with: ``OMP_NUM_THREADS`` when set, else torch's default
    (one per core)."""
    n = os.environ.get("OMP_NUM_THREADS")
    return f"OMP_NUM_THREADS={n}" if n else f"OMP_NUM_THREADS unset, {os.cpu_count()} cores"


def _execute(names, out, runs, executed, smoke, timeout, retries, made, times):
    import papermill as pm  # deferred: notebook tooling only

    for name in names:
        before = {p: p.stat().st_mtime for p in out.glob(f"{figure_prefix(name)}_*")}
        t0 = time.time()
        for attempt in range(retries + 1):
            scratch = runs / name  # every run starts from an empty scratch folder: nothing stale is resumed
            shutil.rmtree(scratch, ignore_errors=True)
            try:
                pm.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(executed / f"{name}.ipynb"),
                                    parameters={"smoke": smoke, "figures_dir": str(out), "runs_dir": str(scratch)},
                                    cwd=str(NOTEBOOK_DIR), progress_bar=False, execution_timeout=timeout,
                                    kernel_name="python3")
                break
            except Exception as e:  # only a timed-out cell is retried; a real error in a cell is reported
                if "timed out" not in str(e).lower() and "timeout" not in type(e).__name__.lower() \
                        or attempt == retries:
                    raise
                print(f"{name}: a cell timed out after {timeout} s; running the notebook again", flush=True)
        _tidy_executed(executed / f"{name}.ipynb")
        times[name] = round(time.time() - t0, 1)
        made[name] = sorted(p.name for p in out.glob(f"{figure_prefix(name)}_*") if before.get(p) != p.stat().st_mtime)
