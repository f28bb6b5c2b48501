"""Which code made a result: the git commit of the mpqlab source, whether that source had uncommitted changes, and
the versions of mpqlab, torch and Python. Every run's provenance and every grid row carry it (``code_*`` fields),
so that a report can list the code versions its cells ran under and refuse to call two sides "the same method"
when they ran under different code.

``dirty`` looks at the package's own files (``mpqlab/``, its ``pyproject.toml`` and ``configs/``): a grid writing
its results into the same checkout does not make the code dirty. Outside a git checkout (an installed wheel) the
commit is ``None`` and the version numbers are what is known.
"""
from __future__ import annotations

import functools
import hashlib
import json
import platform
import subprocess
from pathlib import Path

import torch

from .. import __version__

FIELDS = ("code_commit", "code_dirty", "mpqlab_version", "torch_version", "source_hash")  # what a grid row records
SOURCE_PATHS = ("mpqlab", "pyproject.toml", "configs")  # "the code": the dirty flag and source_id look only here
_PACKAGE = Path(__file__).resolve().parents[1]  # the mpqlab package (this file is in mpqlab/core)


def _git(*args: str, repo=None) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(repo or _PACKAGE), *args], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _source_dirty(repo=None) -> bool | None:
    """Whether ``SOURCE_PATHS`` of the checkout holding ``repo`` (default: this package) have uncommitted changes;
    None when git cannot tell."""
    top = _git("rev-parse", "--show-toplevel", repo=repo)
    paths = [str(Path(top) / p) for p in SOURCE_PATHS] if top else [str(repo or _PACKAGE)]
    status = _git("status", "--porcelain", "--untracked-files=no", "--", *paths, repo=repo)
    return None if status is None else bool(status)


@functools.lru_cache(maxsize=1)
def code_version() -> dict:
    """``{"code_commit", "code_dirty", "mpqlab_version", "torch_version", "python"}`` of this process's mpqlab, taken
    once, when this module is imported (below): a later commit does not change the code the process runs, so it
    must not change what it records either (:func:`code_record` flags a source that moved since)."""
    commit = _git("rev-parse", "HEAD")
    dirty = None if commit is None else _source_dirty()
    return {"code_commit": commit, "code_dirty": dirty, "mpqlab_version": __version__,
            "torch_version": torch.__version__, "python": platform.python_version(), "source_hash": source_hash()}


@functools.lru_cache(maxsize=1)
def source_hash() -> str:
    """A hash of the mpqlab source this process imported: sha256 over every ``.py`` file of the package (path and
    bytes, in sorted order), taken when this module is imported, first 12 hex digits. Unlike the commit it needs no
    git and cannot be fooled by an uncommitted edit: two rows with the same ``source_hash`` ran the same library
    code, whatever the checkout said."""
    h = hashlib.sha256()
    for f in sorted(_PACKAGE.rglob("*.py")):
        h.update(f.relative_to(_PACKAGE).as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def config_hash(config: dict) -> str:
    """A hash of the config that ran a cell (its JSON, keys sorted, no whitespace), first 12 hex digits: two rows
    with the same ``config_hash`` ran the same config text, e.g. a grid whose seeds were extended has two. The grid
    folder keeps each config it ran under ``configs/<hash>.json`` so the hash resolves."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def source_moved(code: dict, repo=None) -> bool:
    """Whether the source on disk is no longer the one ``code`` (this process's :func:`code_version`, taken when
    mpqlab was imported) names: a commit changing ``SOURCE_PATHS`` or an uncommitted edit to them since. A process
    that imported one version and writes its record after another was committed must not name the new commit."""
    commit = code.get("code_commit")
    if not commit or code.get("code_dirty"):
        return False
    now = _git("rev-parse", "HEAD", repo=repo)
    if now is None:
        return False
    if now != commit and source_id(now, repo) != source_id(commit, repo):
        return True
    return bool(_source_dirty(repo))


def code_record() -> dict:
    """What a run or a grid row records: :func:`code_version`, marked dirty when the source moved under the
    process (:func:`source_moved`): the commit it names is then not known to be the code that ran."""
    code = dict(code_version())
    if source_moved(code):
        code["code_dirty"] = True
    return code


def code_label(rec: dict) -> str:
    """A short name for the code a record ran under: ``'1a2b3c4'``, ``'1a2b3c4+dirty'``, or ``'not recorded'``."""
    commit = rec.get("code_commit")
    if not commit:
        return "not recorded"
    dirty = rec.get("code_dirty")
    return f"{str(commit)[:7]}{'+dirty' if dirty in (True, 'True', 'true', 1, '1') else ''}"


@functools.lru_cache(maxsize=256)
def source_id(commit: str, repo=None) -> str | None:
    """A short id of the source at ``commit`` (the git objects of ``SOURCE_PATHS``): two commits that differ only
    elsewhere (notebooks, tests, results, docs) share it, so cells recorded under either ran the same code. None
    when git cannot resolve the commit (no checkout, a shallow clone)."""
    if not commit or _git("rev-parse", "--verify", "-q", f"{commit}^{{commit}}", repo=repo) is None:
        return None
    objects = [_git("rev-parse", f"{commit}:{p}", repo=repo) or "-" for p in SOURCE_PATHS]
    return hashlib.sha1(" ".join(objects).encode()).hexdigest()[:7]


code_version()  # taken when mpqlab is imported: the code a process runs is the code it imported
