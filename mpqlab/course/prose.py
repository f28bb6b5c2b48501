"""Prose edits without re-runs: the executed copies (``notebooks/executed/``) take their source's Markdown when
their code is current, so the site and the executed notebooks show the prose the sources hold
(:func:`refresh_markdown`, run by ``mpqlab notebooks``); :func:`stale_markdown` names a copy that still differs."""
from __future__ import annotations

import os
import re
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


# Outcome words with their opposite: (name, the affirmative, the negative). A sentence of prose that states one
# side of an outcome that the notebook's printed output states only the other side of contradicts it.
OUTCOMES = (
    ("decided", r"(?<!not )(?<!un)\bdecided\b", r"\b(?:has|have|had|did|does|do)\s+not\s+decide[ds]?\b|\bundecided\b"),
    ("supported", r"(?<!not )\bsupported\b", r"\bnot\s+supported\b"),
    ("gate", r"\b(?:PASS|passed|passes)\b", r"\b(?:FAIL|failed|fails)\b"),
)
# a sentence that asks, defines or conditions states no outcome of this run
_HEDGED = re.compile(r"\?|\b(?:if|whether|when|unless|would|could|might|may|can|until|either)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!:;])\s+|\n\s*\n|\n\s*(?:[-*]|\d+\.)\s+")


def _output_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        parts.append(o.get("text", "") if o.get("output_type") == "stream" else
                     o.get("data", {}).get("text/plain", "") + o.get("data", {}).get("text/markdown", ""))
    return "\n".join(parts)


def _sides(text: str) -> dict[str, set[str]]:
    """{outcome: the sides ("yes" / "no") that ``text`` states}."""
    found = {}
    for name, yes, no in OUTCOMES:
        sides = {"no"} if re.search(no, text) else set()
        if re.search(yes, re.sub(no, " ", text)):
            sides.add("yes")
        if sides:
            found[name] = sides
    return found


def contradicted_outcomes(path: str | os.PathLike) -> list[str]:
    """The prose sentences of an executed notebook that state an outcome (a search decided, a claim is supported, a
    gate passed) whose opposite is all the notebook's printed output says: prose written for another run. A sentence
    that asks, defines or conditions (``if``, ``whether``, a question) states none; maths and code spans are skipped."""
    import nbformat  # deferred: notebook tooling only

    nb = nbformat.read(str(path), as_version=4)
    printed = _sides("\n".join(_output_text(c) for c in nb.cells if c.cell_type == "code"))
    bad = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`", " ", cell.source, flags=re.S)
        for sentence in _SENTENCE.split(prose):
            if _HEDGED.search(sentence):
                continue
            for name, sides in _sides(sentence).items():
                if name in printed and not sides & printed[name]:
                    bad.append(f"cell {i}: says {'/'.join(sorted(sides))} on '{name}', the output says "
                               f"{'/'.join(sorted(printed[name]))}: {' '.join(sentence.split())[:140]}")
    return bad
