"""Which code a grid's cells ran under (:mod:`mpqlab.core.provenance`), and which paired comparisons set two sides made
by different code against each other: "same config" is not "same search" when the code changed between them. Two
commits are the same code when their source (:data:`mpqlab.core.provenance.SOURCE_PATHS`) is the same: a commit that
touched only notebooks, tests or results does not split a grid."""
from __future__ import annotations

from collections import Counter

from ...core import provenance
from ...core.provenance import code_label


def cell_code(row: dict) -> str:
    """The code a cell ran under: its recorded commit (``'1a2b3c4'``, ``'+dirty'`` when the source had uncommitted
    changes), else the commit inferred from its creation time (``'~1a2b3c4'``), else ``'not recorded'``."""
    label = code_label(row)
    if label != "not recorded":
        return label
    inferred = row.get("code_inferred")
    return f"~{str(inferred)[:7]}" if inferred else label


def _side(rows: list[dict], method: str, setting: str, budget: float, seeds) -> set[str]:
    return {cell_code(r) for r in rows if r["method"] == method and float(r["budget"]) == budget
            and int(r["seed"]) in set(seeds) and (setting == "all" or r["setting"] in (setting, "shared", "reference"))}


def code_source(label: str) -> str | None:
    """The source id (:func:`mpqlab.core.provenance.source_id`) of a recorded or inferred commit label; None for a dirty
    tree, an unrecorded one, or a commit git cannot resolve here."""
    if label == "not recorded" or label.endswith("+dirty"):
        return None
    return provenance.source_id(label.lstrip("~"))


def _identity(label: str) -> str:
    """What two sides must share to be "the same code": the source id where it is known, else the label itself."""
    src = code_source(label)
    return label if src is None else f"source {src}"


def comparison_code(rows: list[dict], comp: dict) -> str:
    """'same' when both sides of a paired comparison ran under one code version, i.e. one source (commits that
    changed only notebooks, tests or results count as one; 'same~' when a version is inferred), 'differs' when
    they ran under several, 'unknown' when a side did not record it."""
    both = (_side(rows, comp["a"], comp["setting"], comp["budget"], comp["seeds"])
            | _side(rows, comp["b"], comp["setting"], comp["budget"], comp["seeds"]))
    if "not recorded" in both:
        return "unknown"
    if len({_identity(label) for label in both}) > 1:
        return "differs"
    return "same~" if any(label.startswith("~") for label in both) else "same"


def code_lines(rows: list[dict], comps: list[dict]) -> list[str]:
    """The report's "Code versions" section: cells per code version (and per method), the code that re-measured
    them, and every comparison whose sides ran under different code."""
    per = Counter(cell_code(r) for r in rows)
    lines = ["", "## Code versions", "",
             "Commit of the mpqlab source each cell ran under (`~` = not recorded by the cell, inferred as the last "
             "commit touching `mpqlab/` before its policy was written; `+dirty` = uncommitted changes). `source`: a "
             "short id of `mpqlab/`, `pyproject.toml` and `configs/` at that commit; commits that share it ran the "
             "same code (they changed only notebooks, tests or results).", "",
             "| code | source | cells | methods |", "|---|---|---|---|"]
    for label, n in sorted(per.items(), key=lambda kv: -kv[1]):
        methods = sorted({r["method"] for r in rows if cell_code(r) == label})
        lines.append(f"| {label} | {code_source(label) or '—'} | {n} | {', '.join(methods)} |")
    remeasured = Counter(r.get("proxy_side_code") for r in rows if r.get("proxy_side_code"))
    target = Counter(r.get("target_side_code") for r in rows if r.get("target_side_code"))
    if remeasured:
        lines += ["", "Proxy-side columns taken by: " + ", ".join(f"{k} ({v} cells)" for k, v in remeasured.items())
                  + "." + (" Target surrogate gap re-taken by: " + ", ".join(f"{k} ({v} cells)" for k, v in
                                                                      target.items()) + "." if target else "")]
    redo = [(float(r["target_top1_redo"]) - float(r["target_top1"])) for r in rows
            if _number(r.get("target_top1_redo")) and _number(r.get("target_top1"))]
    if len(redo) >= 2:
        mean = sum(redo) / len(redo)
        sd = (sum((d - mean) ** 2 for d in redo) / (len(redo) - 1)) ** 0.5
        lines += ["", f"Fine-tunes redone by the re-measuring code ({len(redo)} cells, same policy, seed and "
                      f"calibration order): redone − committed top-1 = {mean:+.2f} points on average, sd {sd:.2f}, "
                      f"largest {max(map(abs, redo)):.2f}; {sum(abs(d) <= 0.5 for d in redo) / len(redo):.0%} within "
                      "0.5 points. The spread is what a redraw (and any change of code) alone "
                      "moves a cell by."]
    marks = Counter(comparison_code(rows, c) for c in comps)
    if marks.get("differs"):
        lines += ["", f"**{marks['differs']} of {len(comps)} paired comparisons set sides made by different code "
                      "against each other** (`differs` above): their effects mix the methods' difference with the "
                      "code's."]
    if marks.get("unknown"):
        lines += ["", f"{marks['unknown']} of {len(comps)} paired comparisons have a side whose code was not recorded "
                      "(`unknown` above)."]
    if comps and set(marks) <= {"same", "same~"}:
        lines += ["", "Every paired comparison's two sides ran under one code version"
                  + (" (`same~`: inferred, not recorded)." if "same~" in marks else ".")]
    return lines


def _number(v) -> bool:
    """A finite number (CSV rows give NaN for a missing value)."""
    try:
        return v is not None and float(v) == float(v)
    except (TypeError, ValueError):
        return False
