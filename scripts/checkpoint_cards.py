"""Writes checkpoints/README.md from the cards (NAME.json) that `mpqlab train` writes beside each checkpoint.

    python scripts/checkpoint_cards.py
"""
import json
from pathlib import Path

CK = Path(__file__).resolve().parent.parent / "checkpoints"
rows = []
for card_path in sorted(CK.glob("*.json")):
    c = json.loads(card_path.read_text())
    rows.append(f"| `{card_path.stem}.safetensors` | {c['model']} | {c['dataset']} ({c['train_size']} train) | "
                f"{c['epochs']} | {c['seed']} | {c['test_top1']:.2f} ({c['test_n']} test images) | "
                f"{c['train_time_s'] / 60:.1f} | `{c['command']}` |")
text = """# Full-precision checkpoints

Trained by mpqlab's own training command on this project's 2-core CPU machine (SGD, Nesterov momentum 0.9,
weight decay 5e-4, one-cycle learning rate peaking at 0.2, batch 128, random crop + flip). Every number below is
read from the card `NAME.json` that `mpqlab train` writes next to the weights; `mpqlab eval` on a checkpoint prints
the accuracy recorded here. `scripts/train_checkpoints.sh` reruns all of them (resumable).
The search starts from the proxy checkpoint; the transfer starts from the target one.

| file | model | data | epochs | seed | test top-1 (%) | train time (min) | command |
|---|---|---|---|---|---|---|---|
""" + "\n".join(rows) + """

Training times were measured while other jobs shared the two cores, so they are upper bounds.
"""
(CK / "README.md").write_text(text)
print(text)
