"""The one registry class behind every pluggable part (timm-style): sharpness rules, radius schedules, search
objectives, models and datasets; and the discovery that makes each family a folder of files.

A registry is a dict from name to entry that refuses an unknown name with the list of known ones, and a second
registration of a taken name. Each family is a package (:mod:`mpqlab.optim.rules`, :mod:`mpqlab.optim.radius`,
:mod:`mpqlab.search.objectives`, :mod:`mpqlab.models`, :mod:`mpqlab.data.sources`) whose ``__init__`` holds the base class,
the registry and its decorator, and ends with :func:`discover`: every module beside it is imported, so adding an
entry is one decorated class in one new file, and its floor in ``mpqlab.LAYERS`` is its package's.

Plugins outside the package: a class registered from your own importable module works in this process; a grid's
worker processes (started with *spawn*, or as cluster jobs) import every such module before their cell
(:func:`external_modules`, :func:`import_modules`), so they see the same entries. Modules named in the
environment variable ``MPQLAB_PLUGINS`` (comma-separated) are imported when the families load
(:func:`load_external`). A class defined in a notebook's own namespace (``__main__``) cannot be imported by
another process: put it in a file and import that.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import sys

from .errors import MpqlabError

PLUGINS_ENV = "MPQLAB_PLUGINS"  # comma-separated modules imported beside the built-in families
_REGISTRIES: list["Registry"] = []  # every registry, for external_modules()


class Registry(dict):
    """``name -> entry`` for one ``kind`` of part; entries carry a one-line ``help``."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        _REGISTRIES.append(self)

    def add(self, name: str, entry):
        """Register ``entry`` under ``name`` (refused when the name is taken); returns the entry."""
        if not name or not isinstance(name, str):
            raise MpqlabError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self:
            raise MpqlabError(f"{self.kind} {name!r} is registered already")
        self[name] = entry
        return entry

    def lookup(self, name: str):
        """The entry of ``name``, or an error naming the known ones."""
        if name not in self:
            raise MpqlabError(f"unknown {self.kind} {name!r}; use one of {', '.join(self)}")
        return self[name]

    def names(self) -> list[str]:
        """Registered names, in registration order."""
        return list(self)


def entry_module(entry) -> str | None:
    """The module that defined a registered entry: a class or function, or the one a record holds (a rule's
    optimizer class, a model's builder)."""
    for attr in ("optimizer", "builder"):
        inner = getattr(entry, attr, None)
        if inner is not None:
            return getattr(inner, "__module__", None)
    return getattr(entry, "__module__", None)


def external_modules() -> list[str]:
    """The importable modules outside mpqlab that registered an entry in any family (what a worker process must
    import to see the same entries). Entries defined in ``__main__`` are left out: no other process can import
    them."""
    mods = set()
    for reg in _REGISTRIES:
        for entry in reg.values():
            mod = entry_module(entry)
            if mod and mod.split(".")[0] != "mpqlab" and mod != "__main__" and mod in sys.modules \
                    and getattr(sys.modules[mod], "__file__", None):
                mods.add(mod)
    return sorted(mods)


def import_modules(names, named_by: str | None = None) -> list[str]:
    """Import plugin modules by name (once each: one already imported is skipped) and return those imported now;
    an unimportable one is an error naming it (and ``named_by``, where the name came from)."""
    loaded = []
    for name in names:
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError as e:
            where = (f"{named_by} names {name!r}, which cannot be imported" if named_by else
                     f"plugin module {name!r} cannot be imported in this process")
            raise MpqlabError(f"{where}: {e}") from None
        loaded.append(name)
    return loaded


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
    return import_modules([m.strip() for m in os.environ.get(PLUGINS_ENV, "").split(",") if m.strip()],
                          named_by=PLUGINS_ENV)
