"""Reading run telemetry (files written by the search loop) into pandas DataFrames: ``metrics.jsonl`` (one
line per step) and ``softmaxes.jsonl`` (one line per epoch). Telemetry flows up the layers as files."""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import MpqlabError


def read_metrics(run_dir: str | os.PathLike):
    """The per-step telemetry of a search as a pandas DataFrame (per-layer cosines as ``cos_layer/<name>``)."""
    import pandas as pd  # deferred: slow import, tables only

    path = Path(run_dir) / "metrics.jsonl"
    if not path.is_file():
        raise MpqlabError(f"no search telemetry at {path}")
    rows = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        for k, v in (r.pop("cos_layer", None) or {}).items():
            r[f"cos_layer/{k}"] = v
        rows.append(r)
    return pd.DataFrame(rows)


def read_softmaxes(run_dir: str | os.PathLike):
    """Per epoch, layer and kind ('w' / 'a'): the softmax over the bit candidates, as a long DataFrame
    with columns epoch, layer, kind, bits, prob."""
    import pandas as pd  # deferred: slow import, tables only

    path = Path(run_dir) / "softmaxes.jsonl"
    if not path.is_file():
        raise MpqlabError(f"no softmax history at {path}")
    rows = []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        for layer, sm in r["softmaxes"].items():
            for kind in ("w", "a"):
                for b, p in zip(r["candidates"][kind], sm[kind]):
                    rows.append({"epoch": r["epoch"], "layer": layer, "kind": kind, "bits": b, "prob": p})
    return pd.DataFrame(rows)
