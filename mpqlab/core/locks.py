"""One run per folder at a time: an exclusive lock on a run folder (training, search, transfer, experiment cells).

``with run_lock(folder):`` takes an advisory ``fcntl.flock`` on ``folder/LOCK`` and writes the holder's PID, host and
start time into it. The kernel drops the lock when the holder exits, however it exits (SIGKILL included), so:

- a second run on a live folder fails at once with :class:`RunFolderBusy` (exit code 2 from the CLI) naming the PID
  that holds it;
- a lock file left by a dead run is taken over, with one line on stderr naming the dead PID.

Re-entrant within one process (an experiment cell holds its folder while its search holds the search's).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import sys
import time
from pathlib import Path

from .errors import MpqlabError
from .files import ensure_folder

LOCK_NAME = "LOCK"
_HELD: dict[str, int] = {}  # folder -> depth, for re-entry within this process


class RunFolderBusy(MpqlabError):
    """Another live process holds the run folder."""


def _holder(path: Path) -> str:
    try:
        return path.read_text().strip() or "an unknown process"
    except OSError:
        return "an unknown process"


def holder_alive(lock_path: str | os.PathLike) -> bool:
    """Whether a LOCK file names a live holder: on this host, its PID is running; on another host, the file is
    non-empty (a clean exit empties it). Advisory, for progress reports; :func:`run_lock` is what excludes."""
    text = _holder(Path(lock_path)) if Path(lock_path).is_file() else ""
    parts = text.split()
    if len(parts) < 4 or parts[0] != "PID":
        return False
    if parts[3] != socket.gethostname():
        return True
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):
        return True
    return True


@contextlib.contextmanager
def run_lock(folder: str | os.PathLike, quiet: bool = False):
    """Hold ``folder`` exclusively for the duration of the block (the folder is created if missing)."""
    folder = Path(folder)
    key = str(folder.resolve())
    if _HELD.get(key):
        _HELD[key] += 1
        try:
            yield folder
        finally:
            _HELD[key] -= 1
        return
    ensure_folder(folder, "run folder")
    path = folder / LOCK_NAME
    stale = _holder(path) if path.is_file() and path.stat().st_size else None  # an empty LOCK: a clean exit
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise RunFolderBusy(f"run folder {folder} is in use by {_holder(path)}; wait for it to finish, stop it, "
                            "or use another output path") from None
    try:
        if stale and not quiet:
            print(f"mpqlab: taking over run folder {folder} from a run that is no longer alive ({stale})",
                  file=sys.stderr)
        os.ftruncate(fd, 0)
        os.write(fd, f"PID {os.getpid()} on {socket.gethostname()} since "
                     f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n".encode())
        os.fsync(fd)
        _HELD[key] = 1
        yield folder
    finally:
        _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # an empty LOCK file: the run ended cleanly
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
