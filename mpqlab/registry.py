"""The one registry class behind every pluggable part (timm-style): sharpness rules, radius schedules, search
objectives, models and datasets; and the discovery that makes each family a folder of files.

A registry is a dict from name to entry that refuses an unknown name with the list of known ones, and a second
registration of a taken name. Each family is a package (:mod:`mpqlab.optim.rules`, :mod:`mpqlab.optim.radius`,
:mod:`mpqlab.objectives`, :mod:`mpqlab.models`, :mod:`mpqlab.data.sources`) whose ``__init__`` holds the base class,
the registry and its decorator, and ends with :func:`discover`: every module beside it is imported, so adding an
entry is one decorated class in one new file, and its floor in ``mpqlab.LAYERS`` is its package's.

Plugins outside the package: the modules named in the environment variable ``MPQLAB_PLUGINS`` (comma-separated,
importable names) are imported by :func:`load_external` when the families are first used. A class registered from
an importable module outside mpqlab adds that module to ``MPQLAB_PLUGINS`` itself, so processes started later
(grid workers start with *spawn*) import it and see the same entries. A class defined in a notebook's own
namespace (``__main__``) cannot be imported by another process: put it in a file and import that.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

from .errors import MpqlabError

PLUGINS_ENV = "MPQLAB_PLUGINS"  # comma-separated modules imported beside the built-in families


class Registry(dict):
    """``name -> entry`` for one ``kind`` of part; entries carry a one-line ``help``."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def add(self, name: str, entry):
        """Register ``entry`` under ``name`` (refused when the name is taken); returns the entry. An entry defined
        in an importable module outside mpqlab is announced to child processes (:data:`PLUGINS_ENV`)."""
        if not name or not isinstance(name, str):
            raise MpqlabError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self:
            raise MpqlabError(f"{self.kind} {name!r} is registered already")
        self[name] = entry
        _announce(getattr(entry, "__module__", None) or getattr(getattr(entry, "optimizer", None), "__module__", None))
        return entry

    def lookup(self, name: str):
        """The entry of ``name``, or an error naming the known ones."""
        if name not in self:
            raise MpqlabError(f"unknown {self.kind} {name!r}; use one of {', '.join(self)}")
        return self[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self)


def _announce(module: str | None) -> None:
    """Add an importable plugin module outside mpqlab to :data:`PLUGINS_ENV` (inherited by child processes)."""
    if not module or module == "__main__" or module.split(".")[0] == "mpqlab" or module.startswith("_"):
        return
    mod = sys.modules.get(module)
    if mod is None or not getattr(mod, "__file__", None):
        return
    names = [m for m in os.environ.get(PLUGINS_ENV, "").split(",") if m]
    if module not in names:
        os.environ[PLUGINS_ENV] = ",".join(names + [module])


def discover(package: str, path) -> list[str]:
    """Import every module of a plugin family's folder (``package`` and its ``__path__``), in name order, and return
    their names. Called at the end of the family's ``__init__``: a new file there is a new entry."""
    found = []
    for info in sorted(pkgutil.iter_modules(path), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{package}.{info.name}")
        found.append(info.name)
    return found


def load_external() -> list[str]:
    """Import the modules named in :data:`PLUGINS_ENV` (once each); an unimportable one is an error naming it."""
    loaded = []
    for name in [m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()]:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise MpqlabError(f"{PLUGINS_ENV} names {name!r}, which cannot be imported: {e}") from None
        loaded.append(name)
    return loaded
