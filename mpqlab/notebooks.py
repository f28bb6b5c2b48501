"""Execute the notebooks headless with papermill; every figure lands in ``figures/`` (HTML + PNG).

``make_figures("figures")`` (``mpqlab figures`` / ``make figures``) runs each notebook in ``notebooks/`` with
``smoke=False`` and regenerates the committed figures; ``smoke=True`` is what CI runs. Executed copies go to
``runs/notebooks/executed/``; ``figures/README.md`` lists which notebook made each figure.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from .errors import MpqlabError
from .io import atomic_write_text

REPO = Path(__file__).resolve().parent.parent
NOTEBOOK_DIR = REPO / "notebooks"


def list_notebooks() -> list[str]:
    return sorted(p.stem for p in NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def make_figures(out: str | os.PathLike = "figures", smoke: bool = False, only: list[str] | None = None,
                 runs_dir: str | os.PathLike | None = None, timeout: int = 3600) -> dict:
    import papermill as pm

    out = Path(out).resolve()
    runs = Path(runs_dir or REPO / "runs" / ("notebooks-smoke" if smoke else "notebooks")).resolve()
    names = only or list_notebooks()
    unknown = [n for n in names if n not in list_notebooks()]
    if unknown:
        raise MpqlabError(f"unknown notebooks {unknown}; known: {list_notebooks()}")
    out.mkdir(parents=True, exist_ok=True)
    (runs / "executed").mkdir(parents=True, exist_ok=True)
    if smoke:  # tiny runs: compiling the quantizer kernels costs more than it saves
        os.environ.setdefault("MPQLAB_COMPILE", "0")
    made, times = {}, {}
    for name in names:
        before = {p: p.stat().st_mtime for p in out.glob(f"{name[:2]}_*")}
        t0 = time.time()
        pm.execute_notebook(str(NOTEBOOK_DIR / f"{name}.ipynb"), str(runs / "executed" / f"{name}.ipynb"),
                            parameters={"smoke": smoke, "figures_dir": str(out), "runs_dir": str(runs),
                                        "data_root": os.environ.get("MPQLAB_DATA")},
                            cwd=str(NOTEBOOK_DIR), progress_bar=False, execution_timeout=timeout, kernel_name="python3")
        times[name] = round(time.time() - t0, 1)
        made[name] = sorted(p.name for p in out.glob(f"{name[:2]}_*") if before.get(p) != p.stat().st_mtime)
    if not smoke or only is None:
        lines = ["# figures", "", "Every file here is written by `mpqlab figures` (`make figures`), which executes the",
                 "notebooks with papermill. Which notebook made which figure:", ""]
        for name, files in made.items():
            lines.append(f"- `notebooks/{name}.ipynb` ({'smoke' if smoke else 'full'} run, {times[name]} s): "
                         + ", ".join(f"`{f}`" for f in files))
        atomic_write_text(out / "README.md", "\n".join(lines) + "\n")
    return {"figures": str(out), "notebooks": times, "files": sum(len(v) for v in made.values())}
