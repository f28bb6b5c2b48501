"""The fine-tune's noise in a verdict: the rule for grids whose fine-tunes were redone.

A redone fine-tune (``mpqlab remeasure --target``: the same policy, the same seeded 10,000-image subset, a second
run) moves one cell's top-1 by about as much as the effects the grids test, so a verdict from one draw is partly a
verdict on that draw. **Rule (declared before it was applied to any grid):** where a grid has a redone fine-tune
(``target_top1_redo``) for every cell, each policy's target top-1 is the mean of its two fine-tunes, and every
comparison, gate and declared test uses that mean; both single draws are shown beside it (the declared test on
each draw alone), and the report says how far a redraw moves a cell. A grid with some cells redone and some not
keeps its first draws (no mixing of means and single draws) and says so.
"""
from __future__ import annotations

import statistics

from .format import _num

FIRST, REDO = "target_top1", "target_top1_redo"


def redone(rows: list[dict]) -> bool:
    """Whether every row has a redone fine-tune (the rule applies only then)."""
    return bool(rows) and all(_num(r.get(REDO)) is not None for r in rows)


def partly_redone(rows: list[dict]) -> bool:
    """Some rows redone, some not: the first draws are kept."""
    return any(_num(r.get(REDO)) is not None for r in rows) and not redone(rows)


def finetune_mean(rows: list[dict]) -> list[dict]:
    """The rows the report compares: with every fine-tune redone, ``target_top1`` is the mean of the two draws
    (``target_top1_first`` keeps the first); otherwise the rows unchanged."""
    if not redone(rows):
        return rows
    return [dict(r, target_top1=round((_num(r[FIRST]) + _num(r[REDO])) / 2, 3), target_top1_first=r[FIRST])
            for r in rows]


def single_draw(rows: list[dict], which: str) -> list[dict]:
    """The rows with ``target_top1`` set to one draw: ``"first"`` or ``"redo"``."""
    key = "target_top1_first" if which == "first" else REDO
    return [dict(r, target_top1=r.get(key, r[FIRST])) for r in rows]


def redraw_spread(rows: list[dict]) -> dict:
    """How far a redraw moves a cell: sd and mean of redo - first, the share within 0.5 points, the number of cells."""
    d = [_num(r[REDO]) - _num(r.get("target_top1_first", r[FIRST])) for r in rows if _num(r.get(REDO)) is not None]
    if len(d) < 2:
        return {"n": len(d), "sd": float("nan"), "mean": float("nan"), "within_half": float("nan")}
    return {"n": len(d), "sd": statistics.stdev(d), "mean": statistics.mean(d),
            "within_half": sum(abs(x) <= 0.5 for x in d) / len(d)}
