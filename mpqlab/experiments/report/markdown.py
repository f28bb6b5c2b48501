"""The whole Markdown report of a grid, and reading a report's section back."""
from __future__ import annotations

import math
import os
import platform
import time

from ... import __version__
from ...search.methods import is_null
from .code_versions import code_lines, comparison_code
from .crosscheck import _agreement_lines, _ranking_lines, cell_agreement, ranking_check
from .correlation import correlation_test
from .cost import cost_test
from .options import report_options
from .fig1 import fig1_correlations, fig1_points
from .format import _bits, _ci, _fmt, _lowest_bit_layers, _ms
from .finetunes import finetune_mean, partly_redone, redone, redraw_spread, single_draw
from .sequential import sequential_test
from .symmetric import symmetric_lines
from .verdicts import claims, comparisons, declared_test, gates


PARTIAL = "**PARTIAL:"  # how a half-run grid's report opens: :func:`mpqlab.course.notebooks.committed_grid` looks for it


def _partial_lines(done: int, expected: int | None) -> list[str]:
    """The warning a half-run grid's report opens with (nothing when it is complete or its size is unknown)."""
    if expected is None or done >= expected:
        return []
    return [f"{PARTIAL} {done} of {expected} cells finished. Rerun the grid's command to finish it; until then "
            "this report is provisional and gives no verdicts.**", ""]


def finetune_lines(raw: list[dict], cfg: dict, gs: list[dict], complete: bool) -> list[str]:
    """The fine-tune's noise: how far a redraw moved a cell, and the answer on each single draw beside the mean's."""
    if not (redone(raw) or partly_redone(raw)):
        return []
    spread = redraw_spread(raw)
    lines = ["", "## Fine-tune noise (both fine-tunes)", "",
             f"{spread['n']} cells were fine-tuned twice (same policy, seed and subset). Redo − first: mean "
             f"{spread['mean']:+.2f}, sd {spread['sd']:.2f} points; {spread['within_half']:.0%} of cells within 0.5."]
    if partly_redone(raw):
        return lines + ["", "Not every cell was redone: the tables above use the first fine-tunes (no mixing)."]
    lines += ["", "Declared rule: every number above uses each policy's mean of its two fine-tunes. Each single draw "
                  "alone:", ""]
    for which in ("first", "redo"):
        one = single_draw(finetune_mean(raw), which)
        ans = answer_of(one, cfg, gs, complete)
        if ans:
            lines.append(f"- {which} fine-tune only: {describe(ans)}")
        else:
            c = comparisons(one, cfg)
            lines += [f"- {which} fine-tune only: {x['a']} − {x['b']} ({x['setting']}) {x['mean']:+.2f} "
                      f"{_ci(x['ci_low'], x['ci_high'])}, Holm p = {x['p_holm']:.3g}" for x in c]
    return lines


def answer_of(rows: list[dict], cfg: dict, gs: list[dict], complete: bool) -> dict:
    """The declared test's answer on ``rows`` (empty when the grid declares none): verdict, effect, interval, pairs,
    power, as its section prints them."""
    declared = report_options(cfg).declared
    ans: dict = {}
    if declared is None:
        return ans
    if declared.cost is not None:
        cost_test(rows, cfg, all(g["passed"] for g in gs), complete, ans)
    elif declared.sequential is not None:
        sequential_test(rows, cfg, all(g["passed"] for g in gs), ans)
    elif declared.correlation is not None:
        correlation_test(rows, cfg, all(g["passed"] is not False for g in gs), complete, ans)
    else:
        declared_test(rows, cfg, all(g["passed"] for g in gs), complete, ans)
    return ans


def describe(ans: dict) -> str:
    """An answer in one line: verdict; effect [interval], pairs, power."""
    out = f"**{ans['verdict']}**"
    if ans.get("effect") is not None:
        out += f"; {ans['effect']:+.2f} {_ci(*ans['ci'])} ({ans['interval']}), {ans['pairs']} pairs"
    if ans.get("power") is not None:
        out += f", power {ans['power']:.2f}"
    return out


def markdown(rows: list[dict], cfg: dict, source_rows: list[dict] | None = None,
             cells_expected: int | None = None) -> str:
    """The whole report (with ``source_rows``, the same cells of the ``policies_from`` grid: a ranking check; or of
    the ``compare_with`` grid: a cell-by-cell comparison). ``cells_expected``: how many cells the grid has; when
    fewer rows have come back the report says so at its top and withholds every verdict (a half-run grid's
    seeds are not the pre-declared sample). With every fine-tune redone, a policy's top-1 is the mean of its two
    fine-tunes (:mod:`mpqlab.experiments.report.finetunes`), both draws shown beside it."""
    raw, rows = rows, finetune_mean(rows)
    lines = [f"# {cfg['name']}", "",
             f"mpqlab {__version__}, {platform.machine()} {os.cpu_count()} cores, "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}. Target: {cfg['target']['data']}, model {cfg['model']}. "
             "Target top-1 after fine-tuning, mean ± sd over seeds.", "",
             *_partial_lines(len(rows), cells_expected),
             "| setting | budget | method | seeds | target top-1 (%) | avg bits | search CPU (s) | search cost vs reference "
             "| layers at lowest W / A bits | largest bit prob. | layers changed by budget | rho at a bound | proxy→target gap "
             "| target h(0.05) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    if cfg.get("policies_from"):
        lines[3:3] = ["", f"Policies reused from {cfg['policies_from']} carry the search CPU time measured in that grid's "
                      "run, a search run again here (e.g. a reference searched from another checkpoint) is timed in this "
                      "one: where both kinds meet, the table's 'search cost vs reference' compares two runs, possibly "
                      "on different machines. The claim below takes the ratio from the source grid, where both were "
                      "searched."]
    lowest = min((min(w, a) for r in rows for w, a in _bits(r)), default=None)
    where = sorted({str(r.get("target_h_sample") or "first 512 test images") for r in rows})
    mixed_h = len(where) > 1  # some cells re-taken with the sampler, some not: the column averages the former only
    like = (lambda rs: [r for r in rs if str(r.get("target_h_sample", "")).startswith("stratified")]) if mixed_h \
        else (lambda rs: rs)
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["setting"], float(r["budget"]), r["method"]), []).append(r)
    for (setting, budget, method), rs in sorted(groups.items(), key=lambda kv: (kv[0][0] != "reference", kv[0])):
        ratio = _ms([r.get("search_cost_ratio") for r in rs])[0]
        lines.append("| " + " | ".join([
            setting, f"{budget:g}", method, str(len(rs)), _fmt(*_ms([r["target_top1"] for r in rs])[:2]),
            _fmt(*_ms([r["average_bits"] for r in rs])[:2]),
            _fmt(*_ms([r.get("search_cpu_time_s") for r in rs])[:2], 0),
            "n/a" if math.isnan(ratio) else f"{ratio:.2f}x", _lowest_bit_layers(rs, lowest),
            _fmt(*_ms([r.get("decisiveness") for r in rs])[:2]),
            _fmt(*_ms([r.get("layers_changed_by_budget") for r in rs])[:2], 1),
            _fmt(*_ms([r.get("rho_at_bound_share") for r in rs])[:2]),
            _fmt(*_ms([r.get("gap") for r in rs])[:2]),
            _fmt(*_ms([r.get("target_surrogate_gap") for r in like(rs)])[:2], 4)
            + (f" (n = {len(like(rs))})" if mixed_h else "")]) + " |")
    lines += [] if not rows else ["", "Columns measured on a sample: proxy-side top-1, gap and sharpness on "
              + ("a stratified sample (seeded, shuffled, class-balanced)" if all(
                  r.get("proxy_side_sample") == "stratified" for r in rows) else "the first images of the proxy "
                  "split for some cells (taken before the stratified sampler)")
              + (f"; target h(0.05) on the {where[0].replace(' test images', '')} images of the target test split"
                 + (" (a class-sorted prefix: classes 0-5 of CIFAR-10; the fine-tuned weights it needs are not "
                    "committed, so it was not re-taken)" if "first 512 test images" in where else "")
                 if not mixed_h else
                 f"; target h(0.05) re-taken on the {where[-1]} images of the target test split for "
                 f"{sum(len(like([r])) for r in rows)} of {len(rows)} cells so far, the rest taken on the first 512 "
                 "test images (a class-sorted prefix): the column averages the re-taken cells only (n per row), "
                 "never the two kinds together") + "."]
    comps = comparisons(rows, cfg)
    gs = gates(rows, cfg, comps)
    complete = cells_expected is None or len(rows) >= cells_expected
    ok = all(g["passed"] for g in gs) and complete
    lines += ["", "## Validity gates", ""]
    for g in gs:
        mark = {True: "PASS", False: "FAIL", None: "NOT MEASURED"}[g["passed"]]
        lines.append(f"- **{mark}** {g['gate']}: {g['measured']}")
    lines += ["", ("All gates pass: the comparisons below can answer the question." if ok else
                   "**A gate failed or was not measured: this grid cannot answer the paper's question; the effects "
                   "below are printed for the record, without verdicts.**" if complete else
                   "**The grid is incomplete: the gates and effects below are provisional and printed without "
                   "verdicts.**"),
              "", "## Pre-declared comparisons (paired by seed; Holm over each budget's family)", "",
              "| budget | setting | A | B | seeds | A − B (points) | 95 % CI | p (paired t) | p (sign-flip) | "
              "p (Holm) | verdict | code |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in comps:
        ci = _ci(c["ci_low"], c["ci_high"])
        lines.append(f"| {c['budget']:g} | {c['setting']} | {c['a']} | {c['b']} | {c['n']} | {c['mean']:+.2f} | {ci} | "
                     f"{c['p_t']:.3g} | {c['p_sign_flip']:.3g} | {c['p_holm']:.3g} | "
                     f"{c['verdict'] if ok else '—'} | {comparison_code(rows, c)} |")
    reused = bool(cfg.get("policies_from")) and bool(source_rows)
    withheld = "a validity gate failed" if complete else "the grid is incomplete"
    cl = claims(comps, rows, cfg, ok, cost_rows=source_rows if reused else None, withheld=withheld)
    corr = fig1_correlations(fig1_points(rows))
    if cl or corr[0]["n"]:
        lines += ["", "## Effects behind the paper's claims", "",
                  "No claim verdict here: each claim has one answer per setting, computed from its grid's declared "
                  "test (mpqlab.experiments.report.answers) and printed in the README's findings table (and below, "
                  "under 'The answer', when this grid is the one that answers it).", ""]
        lines += [f"- {c['claim']}, budget {c['budget']:g}: {c['evidence']}" for c in cl]
    if corr[0]["n"]:
        c0 = corr[0]
        lines.append(f"- proxy-side {c0['label']} against the target penalty, pooled over {c0['n']} policies (random "
                     f"ones included): Spearman {c0['spearman']:+.2f} {_ci(c0['ci_low'], c0['ci_high'])} (95 % "
                     f"bootstrap), Holm p = {c0['p_holm']:.3g}")
        searched = fig1_correlations([p for p in fig1_points(rows) if not is_null(p["method"])])
        where = fig1_points(rows)[0]["measured_on"]
        lines += ["", "## Fig. 1: proxy-side sharpness vs target penalty (target top-1 − same seed's reference)", "",
                  f"Sharpness measured on the {where}"
                  + (" (the first setting's proxy images and checkpoint, for every policy: like with like)"
                     if where == "common proxy" else " of each policy (settings with different proxies pool "
                                                      "different measurements)")
                  + f" on a stratified sample of {cfg.get('proxy_sharpness_images', 128)} images" * all(
                      r.get("proxy_side_sample") == "stratified" for r in rows)
                  + ". Permutation p per measure, Holm over the three measures within each row group.", "",
                  "| policies | sharpness measure | n | Spearman | 95 % bootstrap CI | p (permutation) | p (Holm) | verdict |",
                  "|---|---|---|---|---|---|---|---|"]
        for who, cs in (("searched + random (primary)", corr), ("searched only", searched)):
            lines += [f"| {who} | {c['label']} | {c['n']} | {c['spearman']:+.3f} | {_ci(c['ci_low'], c['ci_high'])} | "
                      f"{c['p']:.3g} | {c['p_holm']:.3g} | {c['verdict'] if ok else '—'} |" for c in cs if c["n"]]
    declared = report_options(cfg).declared
    if declared is not None and declared.sequential is not None:
        lines += sequential_test(rows, cfg, all(g["passed"] for g in gs))
    if declared is not None and declared.correlation is not None:
        lines += correlation_test(rows, cfg, all(g["passed"] is not False for g in gs), complete)
    if declared is not None and declared.cost is not None:
        lines += cost_test(rows, cfg, all(g["passed"] for g in gs), complete)
    if declared is not None and declared.sequential is None and declared.correlation is None and declared.cost is None:
        lines += declared_test(rows, cfg, all(g["passed"] for g in gs), complete)
    lines += finetune_lines(raw, cfg, gs, complete)
    lines += symmetric_lines(rows, cfg, verdicts=ok)
    lines += code_lines(raw, comps)  # the redone fine-tunes against the first ones, not against their mean
    if source_rows and cfg.get("policies_from"):
        lines += _ranking_lines(ranking_check(rows, source_rows), cfg)
    if source_rows and cfg.get("compare_with"):
        lines += _agreement_lines(cell_agreement(rows, source_rows), cfg)
    return "\n".join(lines) + "\n"
