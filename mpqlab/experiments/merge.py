"""A grid's tables from its finished cells: ``results.csv`` and ``results.md`` (one merge for every executor),
the search-cost ratios, and the finished cells with their policies (for the notebooks)."""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from . import report
from .report.answers import answer_lines
from .cell import COLUMNS, ROW, grid_cells, read_row
from .config import GridConfig
from ..core.files import atomic_write_text, read_json
from ..search.methods import REFERENCE, SHARED


def merge(cfg, out_dir: str | os.PathLike) -> Path:
    """Read every finished cell's ``row.json`` in the grid's canonical order and write ``results.csv`` and
    ``results.md``: the one merge for every executor (sequential, local workers, cluster jobs). ``cfg``: a
    :class:`~mpqlab.experiments.config.GridConfig` (or its JSON form)."""
    cfg = GridConfig.from_dict(cfg)
    out = Path(out_dir)
    cells = [c for c in grid_cells(cfg) if c.done(out)]
    rows = [read_row(c.row_path(out)) for c in cells]
    source = None
    other = cfg.policies_from or cfg.compare_with
    if other:
        source = [read_row(c.row_path(other)) for c in cells if c.done(other)]
    write_results(rows, out, cfg.to_dict(), source, cells_expected=len(grid_cells(cfg)))
    return out / "results.csv"


def finished_cells(out_dir: str | os.PathLike) -> dict[str, dict]:
    """Every finished cell under a grid's output folder, labelled ``"<method> · seed <s>"`` (with the setting when
    the grid has several): its CSV row and its policy dict, ``{label: {"row": ..., "policy": ...}}``. Empty when
    the folder has no finished cell."""
    found = []
    for row_file in sorted(Path(out_dir).glob(f"cells/*/*/*/{ROW}")):
        pol = row_file.parent / "policy.json"
        if pol.is_file():
            found.append((read_row(row_file), read_json(pol)))
    settings = {r["setting"] for r, _ in found if r["method"] != REFERENCE}
    out = {}
    for row, pol in sorted(found, key=lambda rp: (int(rp[0]["seed"]), rp[0]["method"])):
        where = (f"{row['setting']} " if len(settings) > 1 and row["method"] != REFERENCE and row["setting"] != SHARED
                 else "")
        out[f"{where}{row['method']} · seed {row['seed']}"] = {"row": row, "policy": pol}
    return out


def cell_of(cells: dict[str, dict], method: str, seed: int, setting: str | None = None) -> dict | None:
    """The cell of ``method`` at ``seed`` among :func:`finished_cells`' labels (in ``setting`` when the grid has
    several), or None when that cell did not finish."""
    labels = [f"{method} · seed {seed}"] + ([f"{setting} {method} · seed {seed}"] if setting else [])
    return next((cells[k] for k in labels if k in cells), None)


def write_results(rows: list[dict], out: Path, cfg: dict, source_rows: list[dict] | None = None,
                  cells_expected: int | None = None) -> None:
    """Search cost ratio = the cell's search CPU time over the mean search CPU time of the budget's reference
    cells (CPU time, not wall time: it hardly moves when other jobs share the machine). ``source_rows``: the same
    cells in the ``policies_from`` or ``compare_with`` grid, for the report's ranking check / cell comparison.
    ``cells_expected``: the grid's size, so that a half-run grid's report says it is partial."""
    for grid_rows in (rows, source_rows or []):
        _set_search_cost_ratio(grid_rows, cfg)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    for r in rows:
        w.writerow({k: r.get(k, "") for k in COLUMNS})
    atomic_write_text(out / "results.csv", buf.getvalue())
    text = report.markdown(rows, cfg, source_rows, cells_expected)
    text += "\n".join(answer_lines(cfg["name"], rows, cfg)) + "\n" * bool(answer_lines(cfg["name"], rows, cfg))
    atomic_write_text(out / "results.md", text)


def searches_of(row: dict, cfg: dict) -> int:
    """How many searches a cell's search CPU time paid for: a selected reference's or @selected arm's candidates
    (their scoring shared among them), else 1."""
    if row["method"] == REFERENCE:
        return int((cfg.get("reference") or {}).get("candidates") or 1)
    if "@selected" in row["method"]:
        return int((cfg.get("selection") or {}).get("candidates") or 1)
    return 1


def _set_search_cost_ratio(rows: list[dict], cfg: dict) -> None:
    """Each row's ``search_cost_ratio``, one search against one search: its search CPU time per search
    (:func:`searches_of`) over the mean per-search CPU time of its budget's reference cells in the same grid (""
    without a reference). A selected reference's four searches and their scoring are not one search."""
    ref = {}
    for r in rows:
        if r["method"] == REFERENCE:
            ref.setdefault(r["budget"], []).append(_search_cost(r) / searches_of(r, cfg))
    for r in rows:
        rt = ref.get(r["budget"])
        r["search_cost_ratio"] = (round(_search_cost(r) / searches_of(r, cfg) / (sum(rt) / len(rt)), 4)
                                  if rt else "")


def _search_cost(row: dict) -> float:
    cpu = row.get("search_cpu_time_s")
    return float(cpu) if cpu not in ("", None) else float(row["search_wall_time_s"])
