"""A resumable run's folder, one implementation for training, fine-tuning (transfer) and search.

``with RunFolder(path, settings, "search") as rf:`` holds the folder exclusively (:mod:`mpqlab.core.locks`; only rank 0
of a ``torchrun`` job takes the lock and writes), and:

- ``rf.resume()`` returns the saved state when the folder holds one, after checking that it was written with the
  same ``settings`` (a clear error naming the settings that differ otherwise) and cutting the telemetry files back
  to the last saved epoch (a killed run may have written part of the next one); for a fresh run it removes
  telemetry left by an older run and returns None;
- ``rf.save(epoch, state)`` writes ``state.pt`` atomically with the epoch and the settings;
- ``rf.append(name, records)`` / ``rf.rewrite(name, records)`` write JSON lines (``metrics.jsonl`` ...).

States are loaded with ``weights_only=True`` (:func:`mpqlab.core.files.load_state`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from .errors import MpqlabError
from .files import atomic_write_text, load_state, save_state
from .locks import run_lock

STATE = "state.pt"


def run_dir_of(out: str | os.PathLike) -> Path:
    """The run folder of a run whose result is the file ``out``: ``<stem>.run`` beside it for a ``.json`` or
    ``.safetensors`` result (``policy.json`` -> ``policy.run``), else ``<out>.run``: the one place this path is made."""
    out = Path(out)
    return out.with_suffix(".run") if out.suffix in (".json", ".safetensors") else Path(str(out) + ".run")


class RunFolder:
    """One run's folder: lock, settings check, state, telemetry (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, settings: dict, what: str, telemetry: tuple[str, ...] = ("metrics.jsonl",),
                 writer: bool = True, added: dict | None = None):
        """``added``: settings introduced after some run folders were saved, each with the value that a saved run
        lacking it ran with (so that such a run still resumes instead of meeting "other settings")."""
        self.path, self.what, self.telemetry, self.writer = Path(path), what, tuple(telemetry), writer
        self.settings = json.loads(json.dumps(settings, sort_keys=True))  # as it reads back from disk
        self.added = json.loads(json.dumps(added or {}, sort_keys=True))
        self._lock = None

    def __enter__(self) -> "RunFolder":
        if self.writer:
            self._lock = run_lock(self.path)
            self._lock.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self._lock is not None:
            self._lock.__exit__(*exc)
            self._lock = None

    @property
    def state_path(self) -> Path:
        return self.path / STATE

    def resume(self) -> dict | None:
        """The saved state (settings checked, telemetry cut back to its epoch), or None for a fresh run."""
        if not self.state_path.is_file():
            if self.writer:
                self.path.mkdir(parents=True, exist_ok=True)
                for name in self.telemetry:
                    (self.path / name).unlink(missing_ok=True)
            return None
        state = load_state(self.state_path, f"{self.what} state",
                           fix="remove this file to restart the run from its beginning")
        saved = {**self.added, **json.loads(state["config"])}
        if saved != self.settings:
            diff = sorted(k for k in set(saved) | set(self.settings) if saved.get(k) != self.settings.get(k))
            raise MpqlabError(f"run folder {self.path} holds a {self.what} with other settings ({', '.join(diff)}); "
                              "use another --out or delete it")
        if self.writer:
            for name in self.telemetry:
                truncate_jsonl(self.path / name, int(state["epoch"]))
        return state

    def save(self, epoch: int, state: dict) -> None:
        """Write ``state`` (tensors, numbers, strings) with the epoch and the settings, atomically."""
        if self.writer:
            save_state(self.state_path, {**state, "epoch": epoch, "config": json.dumps(self.settings, sort_keys=True)})

    def append(self, name: str, records: list[dict]) -> None:
        """Append JSON lines to a telemetry file."""
        if self.writer and records:
            with open(self.path / name, "a") as f:
                f.write("".join(json.dumps(r) + "\n" for r in records))

    def rewrite(self, name: str, records: list[dict]) -> None:
        """Replace a telemetry file by these JSON lines, atomically."""
        if self.writer:
            atomic_write_text(self.path / name, "".join(json.dumps(r) + "\n" for r in records))


def truncate_jsonl(path: Path, epochs_done: int) -> None:
    """Keep the lines of finished epochs only (a killed run may have written part of the next one, or a torn
    line)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line).get("epoch", 0) <= epochs_done:
                keep.append(line)
        except json.JSONDecodeError:
            break
    atomic_write_text(path, "".join(l + "\n" for l in keep))
