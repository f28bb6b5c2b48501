"""One answer per claim and setting, computed here and printed from here: the README's findings table,
``results/README.md``, notebooks 01 and 06 and each grid's ``results.md`` all print :func:`answers_table` or
:func:`answer_lines`, never a verdict restated by hand (``tests/test_answers.py`` compares them).

:data:`SOURCES` names, for each claim of the paper and each setting, the one committed grid that answers it and
which of its declared tests does: ``declared`` (the grid's pre-declared primary test: fixed-sample, group-sequential
superiority or equivalence), ``correlation`` (its declared correlation test) or ``selected:<setting>`` (claim 1
like with like: the selected proxy arm against the selected reference, equivalence by the 90 % interval within the
grid's margin). The answer is the verdict that test's rule prints, with the effect and the interval it is read
from (named: a repeated-confidence interval, a 90 % interval for equivalence, a 95 % t interval), the pairs, and
the power at the observed sd (for equivalence: of showing it at a true difference of 0). Every grid's fine-tunes
count by :mod:`~mpqlab.experiments.report.finetunes`' rule (the mean of two fine-tunes where both ran).
"""
from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

from ...search.methods import REFERENCE
from ..cell import grid_cells
from ..config import GridConfig
from ...core.files import atomic_write_text
from .finetunes import finetune_mean, partly_redone, redone, redraw_spread
from .format import _ci
from .markdown import answer_of, describe
from .options import report_options
from .sequential import equivalence_power
from .verdicts import comparisons, equivalence, gates
from ..stats import paired_test

CLAIMS = {
    "1": "a proxy search matches a target search (both selected alike; ±0.5 points)",
    "2": "ASGA improves its base (EdMIPS)",
    "3": "sharper proxy landscapes transfer worse (within searched policies)",
    "1c": "a proxy search reaches a full target search's top-1 (±0.5 points) at a fraction of its cost",
}


@dataclass(frozen=True)
class Source:
    """Where one claim in one setting is answered."""

    claim: str    # a key of CLAIMS
    setting: str  # the setting, in words
    grid: str     # the grid (results/<grid>, configs/<grid>.json)
    test: str     # "declared", "correlation" or "selected:<the grid's setting>"


SOURCES = [
    Source("1", "Fashion-MNIST proxy (cross-dataset)", "claim1_symmetric", "selected:cross-dataset"),
    Source("1", "CIFAR-10-subset proxy (same task)", "claim1_symmetric", "selected:subset-control"),
    Source("1", "five-animal-class proxy (task shift)", "claim1_class_shift", "declared"),
    Source("1c", "five-animal-class proxy; target searches on 2,000 / 10,000 / 50,000 images", "claim1_cost",
           "declared"),
    Source("2", "CIFAR-10-subset proxy (same task)", "asga_powered", "declared"),
    Source("2", "Fashion-MNIST proxy (cross-dataset)", "claim2_cross_dataset", "declared"),
    Source("2", "five-animal-class proxy (task shift)", "claim2_class_shift", "declared"),
    Source("3", "CIFAR-10-subset proxy, SAM radius set on purpose", "claim3_radius", "correlation"),
    Source("3", "five-animal-class proxy, 4 candidate searches per seed", "claim1_class_shift", "correlation"),
]


def repo_root() -> Path:
    """The checkout holding this package (its ``results/`` and ``configs/``)."""
    return Path(__file__).resolve().parents[3]


def _grid(grid: str, root: Path) -> tuple[list[dict], dict]:
    cfg = json.loads((root / "configs" / f"{grid}.json").read_text())
    path = root / "results" / grid / "results.csv"
    rows = list(csv.DictReader(path.open())) if path.is_file() else []
    return rows, cfg


def answer(source: Source, root: str | Path | None = None, rows: list[dict] | None = None,
           cfg: dict | None = None) -> dict:
    """The answer of one claim in one setting: ``{"claim", "setting", "grid", "verdict", "effect", "ci", "interval",
    "pairs", "power"}`` (effect, ci and power None where the test has none yet). From the committed grid under
    ``root`` (default: this checkout), or from ``rows`` and ``cfg`` when given (the merge, writing results.md)."""
    if rows is None or cfg is None:
        rows, cfg = _grid(source.grid, Path(root) if root is not None else repo_root())
    out = {"claim": source.claim, "setting": source.setting, "grid": source.grid, "effect": None, "ci": None,
           "interval": None, "pairs": 0, "power": None}
    if not rows:
        return dict(out, verdict="cannot answer yet (no finished cell)")
    rows = finetune_mean(rows)
    complete = len(rows) >= len(grid_cells(GridConfig.from_dict(cfg)))
    comps = comparisons(rows, cfg)
    gs = gates(rows, cfg, comps)
    if source.test.startswith("selected:"):
        return dict(out, **_selected(rows, cfg, comps, gs, complete, source.test.split(":", 1)[1]))
    if source.test == "correlation":
        cfg = dict(cfg, declared={k: v for k, v in cfg["declared"].items() if k != "sequential"})
    elif report_options(cfg).declared.correlation is not None and report_options(cfg).declared.sequential is not None:
        cfg = dict(cfg, declared={k: v for k, v in cfg["declared"].items() if k != "correlation"})
    return dict(out, **answer_of(rows, cfg, gs, complete))


def _selected(rows, cfg, comps, gs, complete, setting) -> dict:
    """Claim 1 like with like: EdMIPS+ASGA@selected against the selected reference, equivalence by the 90 %
    interval within the margin (two one-sided tests)."""
    margin = report_options(cfg).equivalence_margin
    c = next((c for c in comps if c["a"] == "edmips+asga@selected" and c["b"] == REFERENCE
              and c["setting"] == setting), None)
    if c is None:
        return {"verdict": "cannot answer yet (no paired seeds)"}
    e = equivalence(c["diffs"], margin)
    lo, hi = e["ci90"]
    if not complete:
        word = f"cannot answer yet ({len(c['diffs'])} pairs; the grid is incomplete)"
    elif not all(g["passed"] for g in gs):
        word = "cannot answer (a validity gate failed)"
    elif e["equivalent"]:
        word = "equivalent"
    elif lo > margin or hi < -margin:
        word = f"not equivalent (proxy arm {'better' if lo > margin else 'worse'} by more than {margin:g})"
    elif e["differ"]:
        word = f"not equivalent (proxy arm {'better' if c['ci_low'] > 0 else 'worse'}; 95 % interval excludes 0)"
    else:
        word = "not shown equivalent"
    n = len(c["diffs"])
    t90 = paired_test(c["diffs"], level=0.90)
    bound = (hi - lo) / 2 / (t90["sd"] / n ** 0.5) if t90["sd"] > 0 else 0.0
    return {"verdict": word, "effect": c["mean"], "ci": (lo, hi), "interval": "90 %", "pairs": n,
            "power": equivalence_power(c["sd"], margin, n, bound)}


def answers(root: str | Path | None = None) -> list[dict]:
    """Every claim's answer in every setting, in :data:`SOURCES`' order."""
    return [answer(s, root) for s in SOURCES]


def _cell(a: dict) -> tuple[str, str, str, str]:
    effect = "—" if a["effect"] is None else f"{a['effect']:+.2f} {_ci(*a['ci'])} ({a['interval']})"
    power = "—" if a["power"] is None else f"{a['power']:.2f}"
    return f"**{a['verdict']}**", effect, str(a["pairs"]), power


def answers_table(root: str | Path | None = None, rows: list[dict] | None = None) -> str:
    """The findings table: claim x setting -> verdict, effect [interval], pairs, power, grid (Markdown)."""
    rows = answers(root) if rows is None else rows
    lines = ["| claim | setting | verdict (the declared rule's) | effect, points [interval] | pairs | power | grid |",
             "|---|---|---|---|---|---|---|"]
    for a in rows:
        lines.append(f"| {a['claim']}: {CLAIMS[a['claim']]} | {a['setting']} | " + " | ".join(_cell(a))
                     + f" | `{a['grid']}` |")
    return "\n".join(lines)


def answer_lines(grid: str, rows: list[dict], cfg: dict) -> list[str]:
    """The lines a grid's ``results.md`` carries: each claim it answers, as the findings table says it."""
    mine = [s for s in SOURCES if s.grid == grid]
    if not mine:
        return []
    out = ["", "## The answer (as in the README's findings table)", ""]
    for s in mine:
        a = answer(s, rows=rows, cfg=cfg)
        out.append(f"- Claim {s.claim} ({CLAIMS[s.claim]}), {s.setting}: {describe(a)}")
    return out


def noise_lines(root: str | Path | None = None) -> list[str]:
    """How far a redone fine-tune moved one cell, per committed grid with redone fine-tunes (Markdown lines)."""
    root = Path(root) if root is not None else repo_root()
    out = []
    for path in sorted((root / "results").glob("*/results.csv")):
        rows = list(csv.DictReader(path.open()))
        if not (redone(rows) or partly_redone(rows)):
            continue
        s = redraw_spread(rows)
        rule = "the mean of both counts" if redone(rows) else "some cells only: the first draws count"
        out.append(f"- `{path.parent.name}`: {s['n']} cells redone; redo − first mean {s['mean']:+.2f}, sd "
                   f"{s['sd']:.2f} points, {s['within_half']:.0%} within 0.5 ({rule}).")
    return out or ["- No committed grid has redone fine-tunes."]


BLOCKS = {"answers": lambda root: answers_table(root), "noise": lambda root: "\n".join(noise_lines(root))}
PAGES = ("README.md", "results/README.md")


def _fill(text: str, name: str, body: str) -> str:
    begin = text.find(f"<!-- {name}: begin")
    end = text.find(f"<!-- {name}: end -->")
    if begin < 0 or end < 0:
        return text
    begin = text.index("-->", begin) + 3
    return text[:begin] + "\n" + body + "\n" + text[end:]


def write_pages(root: str | Path | None = None, check: bool = False) -> list[str]:
    """Fill the marked blocks of the README and results/README with :func:`answers_table` and :func:`noise_lines`;
    returns the pages that changed (with ``check``: that would change, writing nothing)."""
    root = Path(root) if root is not None else repo_root()
    bodies = {name: make(root) for name, make in BLOCKS.items()}
    changed = []
    for page in PAGES:
        path = root / page
        if not path.is_file():
            continue
        text = path.read_text()
        new = text
        for name, body in bodies.items():
            new = _fill(new, name, body)
        if new != text:
            changed.append(page)
            if not check:
                atomic_write_text(path, new)
    return changed
