"""Atomic file writes and safe checkpoint loading (no pickled objects: safetensors or ``weights_only=True``)."""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import MpqlabError

_UMASK = os.umask(0)  # read once (setting is the only way to read it), then restored
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK  # what open() would give a new file: mkstemp's temporary files are private (0600)


def ensure_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create ``path`` as a folder (with its parents) or refuse, naming the cause, before any work: a path that is
    a file or lies under one, a folder that cannot be created or written."""
    p = Path(path)
    for part in (p, *p.parents):
        if part.exists() and not part.is_dir():
            where = "is a file" if part == p else f"lies under {part}, which is a file"
            raise MpqlabError(f"{what} {p} {where}, not a folder; choose another path")
    try:
        p.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise MpqlabError(f"{what} {p} cannot be created ({e.strerror or e})") from None
    if not os.access(p, os.W_OK | os.X_OK):
        raise MpqlabError(f"{what} {p} is not writable by this user")
    return p


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename (never half-written)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")

    def write(name):
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())

    _replace_from(tmp, path, write)


def _replace_from(tmp: str, path: Path, write) -> None:
    """``write(tmp)``, then give ``tmp`` the files' mode and rename it onto ``path``; on any failure remove ``tmp``
    and re-raise (a reader sees the old file or the new one, never half of one)."""
    try:
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (a temporary file in the same folder, then a rename)."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json(path: str | os.PathLike, what: str = "JSON file", fix: str = "", finite: bool = False) -> Any:
    """Read a JSON file; a missing or broken file raises MpqlabError naming ``what``, the path and ``fix`` (what to
    do about it). ``finite``: refuse NaN and Infinity, which Python's JSON reader accepts and no config may hold."""
    path = Path(path)
    if not path.is_file():
        raise MpqlabError(f"{what} {path} does not exist")

    def constant(name):
        raise MpqlabError(f"{what} {path} holds {name}, which is not a number a config may hold")

    try:
        return json.loads(path.read_text(), **({"parse_constant": constant} if finite else {}))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise MpqlabError(f"{what} {path} is not valid JSON: {e}" + (f"; {fix}" if fix else "")) from None


def save_state(path: str | os.PathLike, state: dict) -> None:
    """Save a dict of tensors / plain values with ``torch.save``, atomically (loaded back with ``weights_only``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    _replace_from(tmp, path, lambda name: torch.save(state, name))


def load_state(path: str | os.PathLike, what: str = "checkpoint", fix: str = "") -> dict:
    """Load a file written by :func:`save_state`; refuses pickled objects and reports truncated or corrupt files
    as such (a file that is not an intact zip archive is damaged, whatever torch's unpickler says about it), with
    ``fix``, what to do about it."""
    path = Path(path)
    if not path.is_file():
        raise MpqlabError(f"{what} {path} does not exist")
    hint = f"; {fix}" if fix else ""
    try:
        with zipfile.ZipFile(path) as z:
            damaged = z.testzip()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise MpqlabError(f"{what} {path} is corrupt or truncated ({e}){hint}") from None
    if damaged is not None:
        raise MpqlabError(f"{what} {path} is corrupt (member {damaged} fails its checksum){hint}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for truncated / unsafe files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        if "Unsupported global" in str(e):
            raise MpqlabError(f"{what} {path} contains pickled objects that mpqlab refuses to load ({msg})") from None
        raise MpqlabError(f"{what} {path} is corrupt or truncated ({msg}){hint}") from None


def save_weights(path: str | os.PathLike, state_dict: dict, metadata: dict | None = None) -> None:
    """Save a model ``state_dict`` as safetensors, atomically. ``metadata`` values are stored as strings."""
    from safetensors.torch import save as st_save  # deferred: this file format only

    tensors = {k: v.detach().contiguous().cpu() for k, v in state_dict.items()}
    meta = {k: (v if isinstance(v, str) else json.dumps(v)) for k, v in (metadata or {}).items()}
    atomic_write_bytes(path, st_save(tensors, metadata=meta))


def load_weights(path: str | os.PathLike) -> tuple[dict, dict]:
    """Load a safetensors (or ``weights_only`` torch) file; returns ``(state_dict, metadata)``."""
    path = Path(path)
    if not path.is_file():
        raise MpqlabError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from safetensors import safe_open  # deferred: this file format only

        try:
            with safe_open(str(path), framework="pt") as f:
                meta = dict(f.metadata() or {})
                sd = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as e:
            raise MpqlabError(f"checkpoint {path} is corrupt or truncated ({e})") from None
        return sd, meta
    state = load_state(path)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        return state["model"], {k: v for k, v in state.get("meta", {}).items()}
    if not isinstance(state, dict):
        raise MpqlabError(f"checkpoint {path} does not hold a state_dict")
    return state, {}
