"""What the policy-landscape study shows (:mod:`mpqlab.experiments.studies.policy_landscapes`): the widths of
its slices, the declared contrasts with their intervals and verdicts, the gate, the proxy-side sharpness the grid
cells recorded, the finding lines printed by notebook 02b and the study's ``results.md``. Computed here once."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...core.files import atomic_write_text, read_json
from ..stats import holm, paired_test
from .policy_landscapes import REPO, SAMPLES, _direction_keys, load


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


def contrasts(data: dict, sample: str = "train") -> list[dict]:
    """The declared contrasts, paired by seed: mean log-width ratio (A over B) along the random band, its
    Bonferroni interval over the family (level 1 - alpha / m), Holm-adjusted p, sign count and verdict."""
    cfg = data["config"]
    f = flatness(data, sample).set_index(["policy", "seed"])["random"]
    m = len(cfg["contrasts"])
    out = []
    for a, b in cfg["contrasts"]:
        seeds = [s for s in cfg["seeds"] if (a, s) in f.index and (b, s) in f.index]
        d = [float(f[(a, s)] - f[(b, s)]) for s in seeds]
        t = paired_test(d, level=1 - cfg["alpha"] / m)
        out.append({"a": a, "b": b, "pairs": len(d), "mean_log_ratio": t["mean"], "ratio": float(np.exp(t["mean"])),
                    "ci_low": float(np.exp(t["ci_low"])), "ci_high": float(np.exp(t["ci_high"])), "p": t["p_t"],
                    "wider": sum(x > 0 for x in d), "narrower": sum(x < 0 for x in d),
                    "level": 1 - cfg["alpha"] / m})
    for row, p in zip(out, holm([r["p"] for r in out])):
        row["p_holm"] = p
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

    repo = Path(repo or REPO)
    rows = []
    for label, pattern in cfg["policies"].items():
        values = {"proxy_h": [], "proxy_sigma_max": [], "proxy_trace": []}
        where = set()
        for seed in cfg["seeds"]:
            path = repo / pattern.format(seed=seed) / "row.json"
            if path.is_file():
                row = read_json(path, "cell row")
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


def finding_lines(data: dict) -> list[str]:
    """What the views show about the flat-minima claim, printed from the data, with the declared verdicts."""
    cfg = data["config"]
    g = gate(data)
    lines = [f"Gate: along the top Hessian eigenvector the proxy landscape is narrower than along the random band on "
             f"{g['narrower']} of {g['models']} models (needed: {cfg['gate_share']:.0%}); "
             + ("passed: the width separates a sharp direction from random ones."
                if g["passed"] else "NOT passed: the width cannot be trusted to separate policies.")]
    level = None
    for c in contrasts(data):
        level = c["level"]
        lines.append(f"{c['a']}'s proxy landscape is wider than {c['b']}'s along the random band on {c['wider']} of "
                     f"{c['pairs']} seeds (narrower on {c['narrower']}); width ratio {c['ratio']:.3f} "
                     f"[{c['ci_low']:.3f}, {c['ci_high']:.3f}], Holm p = {c['p_holm']:.3g}: {c['verdict']}"
                     + ("" if g["passed"] else " (gate not passed)") + ".")
    if level is not None:
        lines.append(f"Intervals: {level:.1%} t intervals over seeds (Bonferroni over the {len(cfg['contrasts'])} "
                     "contrasts), beside Holm-adjusted verdicts; ratio > 1 is flatter.")
    done = len(data["models"])
    total = len(cfg["seeds"]) * len(cfg["policies"])
    if done < total:
        lines.append(f"Partial: {done} of {total} models sliced.")
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


def write_report(out: str | os.PathLike, repo=None) -> Path:
    """``out/results.md``: the finding lines, the per-policy widths, the committed sharpness with intervals and the
    code that sliced the models."""
    out = Path(out)
    data = load(out)
    codes = sorted({json.loads(str(m["code_json"])).get("code_commit", "?")[:7] + (
        "+dirty" if json.loads(str(m["code_json"])).get("code_dirty") else "") for m in data["models"].values()})
    sharp = committed_sharpness(data["config"], repo)
    lines = ["# Landscapes of searched policies (proxy side)", "",
             "Written by `mpqlab.experiments.studies.landscape_report.write_report` from the models in `models/`.",
             "", "## What the views show", ""] + [f"- {x}" for x in finding_lines(data)] + [
             "", "## Width per policy (geometric mean over seeds, training sample)", "",
             _markdown(policy_table(data).round(4).reset_index()), "",
             "## Proxy-side sharpness the grid cells recorded (mean [95 % t interval] over seeds)", "",
             _markdown(sharp.round(3)), "", f"Sliced by code {', '.join(codes)}.", ""]

    atomic_write_text(out / "results.md", "\n".join(lines))
    return out / "results.md"
