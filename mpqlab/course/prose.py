"""Prose edits without re-runs: the executed copies (``notebooks/executed/``) take their source's Markdown when
their code is current, so the site and the executed notebooks show the prose the sources hold
(:func:`refresh_markdown`, run by ``mpqlab notebooks``); :func:`stale_markdown` names a copy that still differs."""
from __future__ import annotations

import os
from pathlib import Path

from ..core.files import atomic_write_text
from .notebooks import EXECUTED_DIR, NOTEBOOK_DIR, list_notebooks


def _aligned(name: str, executed_dir) -> tuple | None:
    """(source notebook, executed notebook, executed cells without papermill's injected one) when their cells
    line up (same kinds, same code): only then may the executed copy take the source's Markdown."""
    import nbformat  # deferred: notebook tooling only

    path = Path(executed_dir) / f"{name}.ipynb"
    if not path.is_file():
        return None
    src = nbformat.read(str(NOTEBOOK_DIR / f"{name}.ipynb"), as_version=4)
    ex = nbformat.read(str(path), as_version=4)
    cells = [c for c in ex.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    if [c.cell_type for c in src.cells] != [c.cell_type for c in cells]:
        return None
    if any(a.source != b.source for a, b in zip(src.cells, cells) if a.cell_type == "code"):
        return None
    return src, ex, cells


def stale_markdown(executed_dir: str | os.PathLike = EXECUTED_DIR) -> list[str]:
    """The notebooks whose executed copy's Markdown differs from the source's (its page would show old prose)."""
    stale = []
    for name in list_notebooks():
        got = _aligned(name, executed_dir)
        if got is None or any(a.source != b.source for a, b in zip(got[0].cells, got[2]) if a.cell_type == "markdown"):
            stale.append(name)
    return stale


def refresh_markdown(executed_dir: str | os.PathLike = EXECUTED_DIR) -> list[str]:
    """Copy the source's Markdown cells into every executed copy whose code is current (its outputs stay what that
    code printed): a prose edit needs no re-run. Returns the notebooks updated; a notebook whose code changed is
    left for a re-run (:func:`mpqlab.course.execution.stale_executed`)."""
    import nbformat  # deferred: notebook tooling only

    done = []
    for name in list_notebooks():
        got = _aligned(name, executed_dir)
        if got is None:
            continue
        src, ex, cells = got
        changed = False
        for a, b in zip(src.cells, cells):
            if a.cell_type == "markdown" and a.source != b.source:
                b.source, changed = a.source, True
        if changed:
            atomic_write_text(Path(executed_dir) / f"{name}.ipynb", nbformat.writes(ex) + "\n")
            done.append(name)
    return done
