"""Small helpers of the report: numbers from CSV cells, mean and sd, intervals, a row's bits, one method's
top-1 by seed."""
from __future__ import annotations

import math
import statistics

from ...search.methods import REFERENCE, SHARED


def _num(v):
    try:
        x = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _ms(vals):
    vals = [v for v in (_num(x) for x in vals) if v is not None]
    if not vals:
        return float("nan"), float("nan"), 0
    m = sum(vals) / len(vals)
    s = statistics.stdev(vals) if len(vals) > 1 else float("nan")
    return m, s, len(vals)


def _ci(lo, hi) -> str:
    return "n/a" if math.isnan(lo) or math.isnan(hi) else f"[{lo:+.2f}, {hi:+.2f}]"


def _fmt(m, s, digits=2):
    if math.isnan(m):
        return "n/a"
    return f"{m:.{digits}f}" if math.isnan(s) else f"{m:.{digits}f} ± {s:.{digits}f}"


def _bits(row) -> list[tuple[int, int]]:
    """A row's searchable layers as (weight bits, activation bits), from its ``policy_bits`` ("w/a w/a ...")."""
    return [tuple(int(b) for b in t.split("/")) for t in str(row.get("policy_bits") or "").split()]


def _lowest_bit_layers(rs: list[dict], lowest: int | None) -> str:
    """Mean over ``rs`` of how many layers carry the grid's lowest bitwidth in their weights / activations."""
    per = [_bits(r) for r in rs]
    per = [b for b in per if b]
    if lowest is None or not per:
        return "n/a"
    w = sum(sum(wb == lowest for wb, _ in b) for b in per) / len(per)
    a = sum(sum(ab == lowest for _, ab in b) for b in per) / len(per)
    return f"{w:.1f} / {a:.1f}"


def _by_seed(rows, setting, method, budget):
    """{seed: target top-1} of one method; reference and shared null cells match any setting."""
    return {int(r["seed"]): float(r["target_top1"]) for r in rows
            if r["method"] == method and float(r["budget"]) == budget
            and (method == REFERENCE or r["setting"] in (setting, SHARED))}


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section of a report (up to the next ``## ``), stripped; "" when absent."""
    body, inside = [], False
    for line in text.splitlines():
        if line.startswith("## "):
            if inside:
                break
            inside = line[3:].strip() == heading
        elif inside:
            body.append(line)
    return "\n".join(body).strip()
