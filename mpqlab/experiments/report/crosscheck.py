"""One grid against another: the ranking check (same policies, another fine-tune) and the cell-by-cell
agreement (a search option changed)."""
from __future__ import annotations

from ...search.methods import REFERENCE
from ..stats import discordant_pairs, kendall_tau, paired_test
from .code_versions import cell_code
from .format import _ci, _num
from .options import report_options
from .verdicts import equivalence_verdict


def ranking_check(rows: list[dict], source_rows: list[dict]) -> list[dict]:
    """The same cells scored twice (here and in the ``policies_from`` grid, which differ in the transfer, and in the
    reference's policy when the target checkpoint changed):
    per budget, setting and seed, and on the seed means, the methods' order by target top-1 in each, Kendall's
    tau and the method pairs the two order differently, with their top-1 in both. The seed means use only the
    seeds on which both grids have every method."""
    def scores(rs, budget, setting, seed=None):
        out: dict[str, list[float]] = {}
        for r in rs:
            if float(r["budget"]) == budget and (seed is None or int(r["seed"]) == seed) and (
                    r["method"] == REFERENCE or r["setting"] == setting):
                out.setdefault(r["method"], []).append(float(r["target_top1"]))
        return {m: sum(v) / len(v) for m, v in out.items()}

    out = []
    settings = sorted({r["setting"] for r in rows if r["method"] != REFERENCE})
    for budget in sorted({float(r["budget"]) for r in rows}):
        for setting in settings:
            seeds = sorted({int(r["seed"]) for r in rows} & {int(r["seed"]) for r in source_rows})
            methods = set(scores(rows, budget, setting)) | set(scores(source_rows, budget, setting))
            # the seed means use only the seeds on which both grids have every method: an unfinished cell would
            # otherwise leave one method's mean over other seeds than the rest
            full = [s for s in seeds if set(scores(rows, budget, setting, s)) == methods
                    and set(scores(source_rows, budget, setting, s)) == methods]
            for seed in seeds + [None]:
                if seed is None:
                    a = scores([r for r in rows if int(r["seed"]) in full], budget, setting)
                    b = scores([r for r in source_rows if int(r["seed"]) in full], budget, setting)
                else:
                    a, b = scores(rows, budget, setting, seed), scores(source_rows, budget, setting, seed)
                n, swapped = discordant_pairs(a, b)
                if not n:
                    continue
                out.append({"budget": budget, "setting": setting, "seed": seed, "here": a, "there": b,
                            "tau": kendall_tau(a, b), "pairs": n, "swapped": swapped})
    return out


def _ranking_lines(checks: list[dict], cfg: dict) -> list[str]:
    order = lambda s: " > ".join(m for m in sorted(s, key=lambda m: -s[m]))  # noqa: E731
    lines = ["", f"## Ranking check: this grid against {cfg['policies_from']} (the same cells; a policy is reused "
             "when its search started from the same checkpoint, else searched again)", "",
             "| budget | setting | seed | order here (best first) | order there | Kendall τ | pairs ordered differently |",
             "|---|---|---|---|---|---|---|"]
    for c in checks:
        sw = "; ".join(f"{i} vs {j} ({c['here'][i] - c['here'][j]:+.2f} here, {c['there'][i] - c['there'][j]:+.2f} "
                       "there)" for i, j in c["swapped"]) or "none"
        lines.append(f"| {c['budget']:g} | {c['setting']} | {'mean' if c['seed'] is None else c['seed']} | "
                     f"{order(c['here'])} | {order(c['there'])} | {c['tau']:+.2f} | {len(c['swapped'])} of "
                     f"{c['pairs']}: {sw} |")
    per_seed = [c for c in checks if c["seed"] is not None]
    same = [c for c in per_seed if not c["swapped"]]
    lines += ["", f"Same order on {len(same)} of {len(per_seed)} seeds; "
              f"{sum(len(c['swapped']) for c in per_seed)} of {sum(c['pairs'] for c in per_seed)} method pairs "
              "ordered differently over all seeds."]
    return lines


def cell_agreement(rows: list[dict], other_rows: list[dict]) -> dict:
    """Each cell against the same cell (setting, method, budget, seed) of another grid: searchable layers with the
    same (w, a) bits, target top-1 in both, search CPU in both; and the paired difference of top-1 over cells."""
    key = lambda r: (r["setting"], r["method"], float(r["budget"]), int(r["seed"]))  # noqa: E731
    there = {key(r): r for r in other_rows}
    cells = []
    for r in rows:
        o = there.get(key(r))
        if o is None:
            continue
        a, b = str(r.get("policy_bits", "")).split(), str(o.get("policy_bits", "")).split()
        cells.append({"setting": r["setting"], "method": r["method"], "budget": float(r["budget"]),
                      "seed": int(r["seed"]), "layers": len(a), "same": sum(x == y for x, y in zip(a, b)),
                      "top1_here": float(r["target_top1"]), "top1_there": float(o["target_top1"]),
                      "cpu_here": _num(r.get("search_cpu_time_s")), "cpu_there": _num(o.get("search_cpu_time_s")),
                      "code_here": cell_code(r), "code_there": cell_code(o)})
    diffs = [c["top1_here"] - c["top1_there"] for c in cells]
    return {"cells": cells, "diffs": diffs, "test": paired_test(diffs) if len(diffs) >= 2 else None}


def _agreement_lines(agree: dict, cfg: dict) -> list[str]:
    lines = ["", f"## Against {cfg['compare_with']} (the same cells there)", "",
             "| setting | method | seed | layers with the same bits | top-1 here | top-1 there | here − there | "
             "search CPU here / there | code here / there |", "|---|---|---|---|---|---|---|---|---|"]
    for c in agree["cells"]:
        cpu = (f"{c['cpu_here']:.0f} / {c['cpu_there']:.0f} s ({c['cpu_here'] / c['cpu_there']:.2f}x)"
               if c["cpu_here"] and c["cpu_there"] else "n/a")
        lines.append(f"| {c['setting']} | {c['method']} | {c['seed']} | {c['same']} of {c['layers']} | "
                     f"{c['top1_here']:.2f} | {c['top1_there']:.2f} | {c['top1_here'] - c['top1_there']:+.2f} | {cpu} | "
                     f"{c['code_here']} / {c['code_there']} |")
    t = agree["test"]
    if t is not None:
        same = sum(c["same"] for c in agree["cells"])
        total = sum(c["layers"] for c in agree["cells"])
        lines += ["", f"Over {t['n']} cells: {same} of {total} layers ({100 * same / max(total, 1):.0f} %) with the same "
                  f"bits; top-1 here − there {t['mean']:+.2f} points {_ci(t['ci_low'], t['ci_high'])}, paired t "
                  f"p = {t['p_t']:.3g}.", "", equivalence_verdict(agree["diffs"], report_options(cfg).equivalence_margin)]
    mixed = [c for c in agree["cells"] if c["code_here"] != c["code_there"]]
    if mixed:
        lines += ["", f"**{len(mixed)} of {len(agree['cells'])} cells ran under different code here and there**: the "
                      "difference mixes what this grid changed with what the code changed between the runs, so it "
                      "is not evidence about the change alone (rerun both sides under one code version)."]
    return lines
