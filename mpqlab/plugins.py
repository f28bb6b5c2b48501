"""The one registry class behind every pluggable part (timm-style): sharpness rules, radius schedules, search
objectives. A registry is a dict from name to entry that refuses an unknown name with the list of known ones, and
a second registration of a taken name. Each registry lives beside the base class of what it holds
(:mod:`mpqlab.optim.rules`, :mod:`mpqlab.optim.radius`, :mod:`mpqlab.objectives`), so adding an entry is one
decorated class in one file."""
from __future__ import annotations

from .errors import MpqlabError


class Registry(dict):
    """``name -> entry`` for one ``kind`` of part; entries carry a one-line ``help``."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

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
