"""What the policy-landscape study shows (:mod:`mpqlab.experiments.studies.policy_landscapes`): the widths of
its slices, the declared contrasts with their intervals and verdicts, the gate, the proxy-side sharpness the grid
cells recorded, the finding lines printed by notebook 02b and the study's ``results.md``. Computed here once."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...core.errors import MpqlabError
from ...core.files import atomic_write_text
from ..stats import holm, paired_test, spearman, spearman_permutation_p
from .policy_landscapes import SAMPLES, _direction_keys, committed_rows, load
from .target_landscapes import finetune_draws


def widths(data: dict):
    """One row per (seed, policy, direction key, sample): the slice's width (capped at its span when the loss never
    reaches k-fold inside it, flagged ``censored``), top-1 at the centre, and the direction's eigenvalue / cosine."""
    import pandas as pd  # deferred: slow import, tables only

    rows = []
    for (seed, label), m in data["models"].items():
        for key in _direction_keys(data["config"]):
            if f"{key}/ts" not in m:
                continue
            span = float(m[f"{key}/ts"][-1])
            for sample in SAMPLES:
                w = float(m[f"{key}/{sample}/width"])
                centre = len(m[f"{key}/ts"]) // 2
                rows.append({"seed": seed, "policy": label, "direction": key,
                             "kind": "random" if key.startswith("random") else key, "sample": sample,
                             "width": min(w, span), "censored": not np.isfinite(w), "span": span,
                             "loss0": float(m[f"{key}/{sample}/loss"][centre]),
                             "top1_0": float(m[f"{key}/{sample}/top1"][centre])})
    return pd.DataFrame(rows)


def flatness(data: dict, sample: str = "train"):
    """Per seed and policy the declared measure: the mean over the random directions of log width; and per kind
    the log width of the other directions. Columns: seed, policy, random, eigen, ascent, gradient_gap."""
    w = widths(data)
    w = w[w["sample"] == sample].assign(log_width=lambda f: np.log(f["width"]))
    return w.groupby(["seed", "policy", "kind"])["log_width"].mean().unstack("kind").reset_index()


def _families(cfg: dict) -> dict[int, list[int]]:
    """{contrast index: the indices of its family}: the declared ``families`` (lists of contrast indices, each
    declared as one test, Holm within it), or every contrast in one family."""
    fams = cfg.get("families") or [list(range(len(cfg["contrasts"])))]
    covered = sorted(i for fam in fams for i in fam)
    if covered != list(range(len(cfg["contrasts"]))):
        raise MpqlabError(f"families {fams} must name each of the {len(cfg['contrasts'])} contrasts once")
    return {i: list(fam) for fam in fams for i in fam}


def contrasts(data: dict, sample: str = "train") -> list[dict]:
    """The declared contrasts, paired by seed: mean log-width ratio (A over B) along the random band, its
    Bonferroni interval over the family (level 1 - alpha / m), Holm-adjusted p, sign count and verdict."""
    cfg = data["config"]
    f = flatness(data, sample).set_index(["policy", "seed"])["random"]
    family_of = _families(cfg)
    out = []
    for i, (a, b) in enumerate(cfg["contrasts"]):
        m = len(family_of[i])
        seeds = [s for s in cfg["seeds"] if (a, s) in f.index and (b, s) in f.index]
        d = [float(f[(a, s)] - f[(b, s)]) for s in seeds]
        t = paired_test(d, level=1 - cfg["alpha"] / m)
        out.append({"a": a, "b": b, "pairs": len(d), "mean_log_ratio": t["mean"], "ratio": float(np.exp(t["mean"])),
                    "ci_low": float(np.exp(t["ci_low"])), "ci_high": float(np.exp(t["ci_high"])), "p": t["p_t"],
                    "wider": sum(x > 0 for x in d), "narrower": sum(x < 0 for x in d),
                    "level": 1 - cfg["alpha"] / m, "family": m})
    adjusted = {}
    for members in {tuple(v) for v in family_of.values()}:
        adjusted.update(zip(members, holm([out[i]["p"] for i in members])))
    for i, row in enumerate(out):
        p = row["p_holm"] = adjusted[i]
        if row["pairs"] < 2 or np.isnan(p):
            row["verdict"] = "cannot tell (too few seeds)"
        elif p < cfg["alpha"]:
            row["verdict"] = "flatter" if row["mean_log_ratio"] > 0 else "sharper"
        else:
            row["verdict"] = "no difference shown"
    return out


def gate(data: dict, sample: str = "train") -> dict:
    """The gate: on how many models the top eigenvector's width is below the random band's (the measure separates
    the sharpest direction from random ones). ``passed`` when the share reaches the declared one."""
    f = flatness(data, sample).dropna(subset=["eigen", "random"])
    hits = int((f["eigen"] < f["random"]).sum())
    share = hits / len(f) if len(f) else float("nan")
    return {"models": len(f), "narrower": hits, "share": share,
            "passed": bool(len(f)) and share >= data["config"]["gate_share"]}


def committed_sharpness(cfg: dict, repo=None):
    """Per policy, the proxy-side h (rho = 0.05), sigma_max and Hessian trace its grid cells recorded (never
    recomputed here): mean with a 95 % t interval over the seeds whose row is committed."""
    import pandas as pd  # deferred: slow import, tables only

    rows = []
    for label in cfg["policies"]:
        values = {"proxy_h": [], "proxy_sigma_max": [], "proxy_trace": []}
        where = set()
        for row in committed_rows(cfg, label, repo).values():
            where.add(str(row.get("proxy", "?")))
            for k in values:
                if row.get(k) not in (None, ""):
                    values[k].append(float(row[k]))
        out = {"policy": label, "measured on": ", ".join(sorted(where))}  # a reference's own proxy side is the target
        for k, v in values.items():
            t = paired_test(v)
            out.update({k: t["mean"], f"{k}_low": t.get("ci_low"), f"{k}_high": t.get("ci_high"), f"{k}_n": len(v)})
        rows.append(out)
    return pd.DataFrame(rows)


def side_of(cfg: dict) -> str:
    """Where a study's models sit: ``"proxy"`` (at the proxy checkpoint, not fine-tuned) or ``"target"`` (after
    the target fine-tune)."""
    return cfg.get("side", "proxy")


def target_sharpness(cfg: dict, repo=None):
    """Per policy, the target-side surrogate gap h (rho = 0.05, after the grid's first fine-tune) its grid cells
    recorded (never recomputed here): mean with a 95 % t interval over the seeds whose row is committed."""
    import pandas as pd  # deferred: slow import, tables only

    rows = []
    for label in cfg["policies"]:
        v = [float(row["target_surrogate_gap"]) for row in committed_rows(cfg, label, repo).values()]
        t = paired_test(v)
        rows.append({"policy": label, "target_h": t["mean"], "target_h_low": t.get("ci_low"),
                     "target_h_high": t.get("ci_high"), "target_h_n": len(v)})
    return pd.DataFrame(rows)


def finding_lines(data: dict) -> list[str]:
    """What the views show about the flat-minima claim, printed from the data, with the declared verdicts."""
    cfg = data["config"]
    side = side_of(cfg)
    g = gate(data)
    lines = [f"Gate: along the top Hessian eigenvector the {side} landscape is narrower than along the random band on "
             f"{g['narrower']} of {g['models']} models (needed: {cfg['gate_share']:.0%}); "
             + ("passed: the width separates a sharp direction from random ones."
                if g["passed"] else "NOT passed: the width cannot be trusted to separate policies.")]
    found = contrasts(data)
    for c in found:
        if not c["pairs"]:
            lines.append(f"{c['a']} vs {c['b']}: no seed has both models sliced yet.")
            continue
        lines.append(f"{c['a']}'s {side} landscape is wider than {c['b']}'s along the random band on {c['wider']} of "
                     f"{c['pairs']} seeds (narrower on {c['narrower']}); width ratio {c['ratio']:.3f} "
                     f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}], Holm p = {c['p_holm']:.3g}: {c['verdict']}"
                     + ("" if g["passed"] else " (gate not passed)") + ".")
    if len(found) > 1 and all(c["family"] == 1 for c in found):  # each contrast its own declared test
        lines.append(f"Intervals: {found[0]['level']:.1%} t intervals over seeds (each contrast declared as its own "
                     "test: no adjustment across them); ratio > 1 is flatter.")
    elif found and len({c["family"] for c in found}) > 1:
        lines.append("Intervals: t intervals over seeds, each Bonferroni over its own declared family ("
                     + ", ".join(f"{c['a']} vs {c['b']}: {c['level']:.1%}" for c in found) + "); ratio > 1 is flatter.")
    elif found:
        m = found[0]["family"]
        lines.append(f"Intervals: {found[0]['level']:.1%} t intervals over seeds "
                     + (f"(Bonferroni over the {m} contrasts), beside Holm-adjusted verdicts" if m > 1 else
                        "(one contrast: no adjustment)") + "; ratio > 1 is flatter.")
    done = len(data["models"])
    total = len(cfg["seeds"]) * len(cfg["policies"])
    if done < total:
        lines.append(f"Partial: {done} of {total} models sliced.")
    return lines




def proxy_target_lines(proxy: dict, target: dict, sample: str = "train") -> list[str]:
    """Does a flatter proxy minimum stay flatter after the target fine-tune? Per declared contrast of the target
    study: on how many seeds its width ratio (random band) lies on the same side of 1 at the proxy and at the
    target; and over every (seed, policy) model both sides hold, the Spearman correlation of proxy and target log
    width with its permutation p. Printed from the two studies' widths; descriptive (no declared test)."""
    fp = flatness(proxy, sample).set_index(["policy", "seed"])["random"]
    ft = flatness(target, sample).set_index(["policy", "seed"])["random"]
    lines = []
    for a, b in target["config"]["contrasts"]:
        seeds = [s for s in target["config"]["seeds"] if all(k in fp.index and k in ft.index
                                                                for k in ((a, s), (b, s)))]
        same = sum((fp[(a, s)] - fp[(b, s)] > 0) == (ft[(a, s)] - ft[(b, s)] > 0) for s in seeds)
        if not seeds:
            lines.append(f"{a} / {b}: no seed has both models on both sides yet.")
            continue
        lines.append(f"{a} / {b} width ratio: on the same side of 1 at the proxy and after the target fine-tune on "
                     f"{same} of {len(seeds)} seeds.")
    both = sorted(set(fp.index) & set(ft.index))
    if len(both) >= 3:
        x, y = [float(fp[k]) for k in both], [float(ft[k]) for k in both]
        lines.append(f"Proxy vs target log width over the {len(both)} models both sides hold: Spearman "
                     f"{spearman(x, y):+.2f} (permutation p = {spearman_permutation_p(x, y):.3g}).")
    return lines


def policy_table(data: dict, sample: str = "train"):
    """Per policy and direction kind: the geometric mean width over seeds, and top-1 at the centre."""
    w = widths(data)
    w = w[w["sample"] == sample]
    t = w.groupby(["policy", "kind"])["width"].apply(lambda v: float(np.exp(np.log(v).mean()))).unstack("kind")
    t["top-1 at centre"] = w[w["kind"] == "random"].groupby("policy")["top1_0"].mean()
    t["models"] = w[w["direction"] == "random0"].groupby("policy").size()
    order = [p for p in data["config"]["policies"] if p in t.index]
    return t.loc[order]


def _markdown(frame) -> str:
    """A DataFrame as a Markdown table (no optional dependency)."""
    cells = [[str(c) for c in frame.columns]] + [["" if v != v else f"{v:g}" if isinstance(v, float) else str(v)
                                                  for v in row] for row in frame.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(cells[0]) + " |", "|" + "---|" * len(cells[0])]
                     + ["| " + " | ".join(r) + " |" for r in cells[1:]])


def write_report(out: str | os.PathLike, repo=None, proxy_dir: str | os.PathLike | None = None) -> Path:
    """``out/results.md``: the finding lines, the per-policy widths, the committed sharpness with intervals and the
    code that sliced the models. A target-side study also gets :func:`proxy_target_lines` against the proxy-side
    study in ``proxy_dir`` (default: ``policy_landscapes`` beside ``out``), when that folder holds one."""
    out = Path(out)
    data = load(out)
    codes = sorted({json.loads(str(m["code_json"])).get("code_commit", "?")[:7] + (
        "+dirty" if json.loads(str(m["code_json"])).get("code_dirty") else "") for m in data["models"].values()})
    cfg = data["config"]
    if side_of(cfg) == "target":
        title = "target side, after the fine-tune"
        proxy_dir = Path(proxy_dir) if proxy_dir else out.parent / "policy_landscapes"
        both = proxy_target_lines(load(proxy_dir), data) if (proxy_dir / "config.json").is_file() else []
        compare = [f"- {x}" for x in both] + ["", f"Proxy-side study: `{proxy_dir.name}`."] if both else [
            "No proxy-side study beside this one."]
        extra = ["## Proxy side against target side (descriptive)", ""] + compare + ["",
                 "## Target-side sharpness the grid cells recorded (mean [95 % t interval] over seeds)", "",
                 _markdown(target_sharpness(cfg, repo).round(3)), "",
                 "## The fine-tunes: the one kept for these landscapes beside the grid's draws (top-1, %)", "",
                 "Each kept fine-tune is a fresh draw of the grid's own fine-tune at the cell's seed (weights and "
                 "card in `weights/`).", "", _markdown(finetune_draws(cfg, out, repo))]
    else:
        title = "proxy side"
        extra = ["## Proxy-side sharpness the grid cells recorded (mean [95 % t interval] over seeds)", "",
                 _markdown(committed_sharpness(cfg, repo).round(3))]
    lines = [f"# Landscapes of searched policies ({title})", "",
             "Written by `mpqlab.experiments.studies.landscape_report.write_report` from the models in `models/`.",
             "", "## What the views show", ""] + [f"- {x}" for x in finding_lines(data)] + [
             "", "## Width per policy (geometric mean over seeds, training sample)", "",
             _markdown(policy_table(data).round(4).reset_index()), ""] + extra + [
             "", f"Sliced by code {', '.join(codes)}.", ""]

    atomic_write_text(out / "results.md", "\n".join(lines))
    return out / "results.md"
