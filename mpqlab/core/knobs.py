"""Config fields that carry their own command-line option: ``knob(default, help, lo=..., hi=...)`` is a dataclass
field whose metadata holds the help text (naming the paper's symbol), the valid range and the choices.
:mod:`mpqlab.cli` generates the options of a subcommand from such a dataclass, so a setting is declared once."""
from __future__ import annotations

import dataclasses
import math

from .errors import MpqlabError


def knob(default, help: str, *, lo: float | None = None, hi: float | None = None, lo_open: bool = False,
         choices=None, common: bool = False):
    """A dataclass field with a command-line option: ``help`` (shown with the default), the closed range
    [lo, hi] (``lo_open``: lo itself excluded) for numbers, ``choices`` (a list, or a dict name -> description
    whose descriptions join the help). A list default is copied per instance. ``common``: the option every
    subcommand shares (``--model``, ``--data``, ``--root``, ``--device``, with the registries' choices) sets it, so
    the config's own options leave it out."""
    meta = {"help": help, "lo": lo, "hi": hi, "lo_open": lo_open, "choices": choices, "common": common}
    if isinstance(default, list):
        return dataclasses.field(default_factory=lambda: list(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def options_of(cls) -> list[dataclasses.Field]:
    """The fields of a config dataclass declared with :func:`knob`, in declaration order."""
    return [f for f in dataclasses.fields(cls) if "help" in f.metadata]


def default_of(f: dataclasses.Field):
    """A field's default value (calling its factory)."""
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def check_choices(cfg, where: str | None = None) -> None:
    """Raise :class:`~mpqlab.core.errors.MpqlabError` naming the first option of the config ``cfg`` whose value is not
    one of its knob's choices (for library callers; the command line checks the same choices while parsing). The
    option is named as on the command line (``--name``), or as ``{where}name`` for a config file's block."""
    for f in options_of(type(cfg)):
        choices, value = f.metadata["choices"], getattr(cfg, f.name)
        if choices is not None and not isinstance(value, list) and value not in choices:
            name = f"--{f.name.replace('_', '-')}" if where is None else f"{where}{f.name}"
            raise MpqlabError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")


def check_ranges(cfg, where: str = "") -> None:
    """Raise :class:`~mpqlab.core.errors.MpqlabError` naming the first option of ``cfg`` whose value has the wrong type
    (a string where a number belongs, a fraction where a count belongs, a number where a list belongs) or lies
    outside its knob's range (for library callers and config files; the command line checks the same while
    parsing). Every field with a number, bool, string or list default is type-checked, knob or not."""
    for f in dataclasses.fields(type(cfg)):
        value = getattr(cfg, f.name)
        if value is None:
            continue
        _check_type(f, value, where)
        if isinstance(value, float) and not math.isfinite(value):  # NaN compares false with every bound
            raise MpqlabError(f"{where}{f.name} must be a finite number, got {value!r}")
        if isinstance(value, (list, tuple)) and any(isinstance(v, float) and not math.isfinite(v) for v in value):
            raise MpqlabError(f"{where}{f.name} must hold finite numbers, got {list(value)!r}")
        lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
        if isinstance(value, (bool, list, str)) or (lo is None and hi is None):
            continue
        low_bad = lo is not None and (value <= lo if f.metadata["lo_open"] else value < lo)
        if low_bad or (hi is not None and value > hi):
            raise MpqlabError(f"{where}{f.name} must be in {'(' if f.metadata['lo_open'] else '['}{lo}, {hi}], "
                              f"got {value!r}")


def _check_type(f: dataclasses.Field, value, where: str) -> None:
    default = default_of(f) if (f.default is not dataclasses.MISSING or
                                f.default_factory is not dataclasses.MISSING) else None
    numeric = f.metadata.get("lo") is not None or f.metadata.get("hi") is not None or (
        isinstance(default, (int, float)) and not isinstance(default, bool))
    if numeric:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise MpqlabError(f"{where}{f.name} must be a number, got {value!r}")
        if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
            raise MpqlabError(f"{where}{f.name} must be a whole number, got {value!r}")
    elif isinstance(default, bool) and not isinstance(value, bool):
        raise MpqlabError(f"{where}{f.name} must be true or false, got {value!r}")
    elif isinstance(default, str) and not isinstance(value, str):
        raise MpqlabError(f"{where}{f.name} must be a string, got {value!r}")
    elif isinstance(default, list) and not isinstance(value, (list, tuple)):
        raise MpqlabError(f"{where}{f.name} must be a list, got {value!r}")
