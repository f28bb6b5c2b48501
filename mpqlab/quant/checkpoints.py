"""Full-precision model checkpoints: ``NAME.safetensors`` plus a ``NAME.json`` card (model, data, command,
seed, training time, accuracy). ``load_model`` refuses a checkpoint made for another model or class count."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch.nn as nn

from ..core.errors import MpqlabError
from ..core.files import load_weights, read_json, save_weights, write_json
from ..models import create_model


def card_path(ckpt: str | os.PathLike) -> Path:
    """The model card beside a checkpoint: ``NAME.safetensors`` -> ``NAME.json``."""
    return Path(ckpt).with_suffix(".json")


def save_checkpoint(path: str | os.PathLike, model: nn.Module, card: dict) -> None:
    """Write weights (safetensors) and the card next to them; both atomically."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise MpqlabError(f"checkpoint path {path} must end in .safetensors")
    save_weights(path, model.state_dict(), {"model": card.get("model", ""), "num_classes": card.get("num_classes", 0)})
    write_json(card_path(path), card)


def load_model(name: str, path: str | os.PathLike, num_classes: int | None = None, device="cpu") -> tuple[nn.Module, dict]:
    """Create model ``name`` and load ``path`` into it; returns (model, card). Mismatches are named."""
    sd, meta = load_weights(path)
    card = read_json(card_path(path), "checkpoint card") if card_path(path).is_file() else {}
    made_for = card.get("model") or meta.get("model")
    if made_for and made_for != name:
        raise MpqlabError(f"checkpoint {path} was made for model {made_for!r}, not {name!r}")
    k = card.get("num_classes") or (int(json.loads(meta["num_classes"])) if meta.get("num_classes") else None)
    if num_classes is not None and k and int(k) != num_classes:
        raise MpqlabError(f"checkpoint {path} has {k} classes, the data has {num_classes}")
    model = create_model(name, num_classes=int(num_classes or k or 10))
    missing, unexpected = model.load_state_dict(sd, strict=False)
    if missing or unexpected:
        raise MpqlabError(f"checkpoint {path} does not fit model {name!r}: missing {missing[:5]}, "
                          f"unexpected {unexpected[:5]}")
    return model.to(device), card


REPO_CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"


def pretrained(name: str) -> Path:
    """Path of a checkpoint shipped in the repository's ``checkpoints/`` folder (e.g. ``resnet20_cifar10``)."""
    path = REPO_CHECKPOINTS / f"{name}.safetensors"
    if not path.is_file():
        known = sorted(p.stem for p in REPO_CHECKPOINTS.glob("*.safetensors")) if REPO_CHECKPOINTS.is_dir() else []
        raise MpqlabError(f"no shipped checkpoint {path}; shipped: {', '.join(known) or 'none'}")
    return path
