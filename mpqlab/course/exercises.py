"""Exercises doable where they are read: an exercise names the controls it needs ("Controls: name = value, …"),
and :func:`missing_controls` checks that the page's kernel-free explorers offer them (or, for an exercise done
"in JupyterLab", that the notebook's live explorer has them)."""
from __future__ import annotations

import re

from ..viz.explorer import explorer_controls

_CONTROL_PAIR = re.compile(r"([A-Za-z_]\w*) = ([A-Za-z0-9_+\-:@]+(?:\.[A-Za-z0-9_+\-:@]+)*)")


def exercise_needs(markdown: str) -> list[dict]:
    """The exercises of a notebook's Markdown (numbered items after an ``## Exercises`` heading) that name the
    controls they need ("Controls: name = value, …"): for each, {"number", "live": True when it says "in
    JupyterLab" (the live explorer must have the controls), "needs": [(name, value), …]}."""
    out = []
    part = markdown.split("## Exercises", 1)
    if len(part) < 2:
        return out
    body = re.split(r"\n#+ |<details>", part[1])[0]
    for m in re.finditer(r"(?ms)^(\d+)\. (.*?)(?=^\d+\. |\Z)", body):
        text = " ".join(m.group(2).split())
        if "Controls:" not in text:
            continue
        needs = _CONTROL_PAIR.findall(text.split("Controls:", 1)[1])
        out.append({"number": int(m.group(1)), "live": "in JupyterLab" in text, "needs": needs})
    return out


def unnamed_controls(markdown: str) -> list[int]:
    """The exercises (their numbers) that send the learner to an explorer, slider or dropdown without naming the
    controls and values they need ("Controls: …"): such an exercise cannot be checked against its page."""
    part = markdown.split("## Exercises", 1)
    if len(part) < 2:
        return []
    body = re.split(r"\n#+ ", part[1])[0]
    out = []
    for m in re.finditer(r"(?ms)^(\d+)\. (.*?)(?=^\d+\. |\Z)", body):
        task = m.group(2).split("<details>", 1)[0]
        if re.search(r"\b(explorer|slider|dropdown)\b", task, re.I) and "Controls:" not in task:
            out.append(int(m.group(1)))
    return out


def missing_controls(nb, source: str) -> list[str]:
    """What the exercises of executed notebook ``nb`` (a dict as nbformat reads it) need and its explorers do not
    offer: a static exercise's (name, value) pairs against the controls listed in its explorers' metadata, a live
    one's names against the keywords of the source's ``controls(`` calls. Empty when every exercise is doable."""
    markdown = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in nb["cells"] if c["cell_type"] == "markdown")
    offered: dict[str, set] = {}
    for c in nb["cells"]:
        for o in c.get("outputs", []) if c["cell_type"] == "code" else []:
            fig = o.get("data", {}).get("application/vnd.plotly.v1+json")
            if fig:
                for name, values in explorer_controls(fig.get("layout", {})).items():
                    offered.setdefault(name, set()).update(values)
    live = set()
    for call in re.findall(r"controls\((.*?)\);?\s*$", source, flags=re.S | re.M):
        live.update(re.findall(r"\b(\w+)=W\.", call))
    problems = [f"exercise {n} uses an explorer without naming its controls (\"Controls: name = value\")"
                for n in unnamed_controls(markdown)]
    for ex in exercise_needs(markdown):
        for name, value in ex["needs"]:
            if ex["live"]:
                if name not in live:
                    problems.append(f"exercise {ex['number']} (in JupyterLab) needs control {name!r}: the live "
                                    f"explorers have {sorted(live)}")
            elif value not in offered.get(name, set()):
                problems.append(f"exercise {ex['number']} needs {name} = {value}: the page's explorers offer "
                                f"{name} = {sorted(offered.get(name, []))}")
    return problems

