"""Policy files: a per-layer bitwidth policy keyed by layer *name*, with its cost and provenance.

Schema (``"schema": "mpqlab.policy"``, ``"version": 1``), JSON::

    {
      "schema": "mpqlab.policy", "version": 1,
      "model": "resnet20", "num_classes": 10, "input_size": [3, 32, 32],
      "w_candidates": [2, 3, 4, 6, 8], "a_candidates": [2, 3, 4, 6, 8], "fixed_bits": 8,
      "cost_model": {"bitops": "sum MACs*w_bits*a_bits", "size": "sum params*w_bits/8",
                     "average_bits": "sqrt((BitOPs - BitOPs_fixed) / MACs_searchable)"},
      "layers": {"conv1": {"w_bits": 8, "a_bits": 8, "searchable": false, "kind": "conv",
                           "in_channels": 3, "out_channels": 16, "groups": 1, "kernel_size": [3, 3],
                           "stride": [1, 1], "macs": 442368, "params": 432}, ...},
      "totals": {"macs": ..., "bitops": ..., "size_bytes": ..., "average_bits": ...},
      "provenance": {"model", "proxy dataset and size", "seed", "objective and hyperparameters",
                     "search wall time", "final softmaxes", "mpqlab_version", ...}
    }

Searchable layers take bits from the candidate sets; fixed layers (first conv, last linear) take
``fixed_bits`` (or 32 = float). ``validate(model)`` matches layers by name and checks kind, channels and groups,
naming every missing, extra or mismatched layer. Kernel size and stride may differ only on fixed layers: that
is the documented CIFAR-stem -> ImageNet-stem case (``conv1`` is 3x3/1 on CIFAR, 7x7/2 on ImageNet; both at 8
bits), which is reported in ``validate``'s notes, never silently.
"""
from __future__ import annotations

import copy
import os
import time
from dataclasses import dataclass, field
from typing import Mapping

import torch.nn as nn

from .. import __version__
from .cost import layer_table, totals
from ..core.errors import MpqlabError
from ..core.files import read_json, write_json
from ..models import first_last_layers
from .quantizers import BIT_CANDIDATES, FLOAT_BITS, check_bits, quantize_model

SCHEMA, VERSION = "mpqlab.policy", 1
COST_MODEL = {"bitops": "sum MACs*w_bits*a_bits", "size": "sum params*w_bits/8",
              "average_bits": "sqrt((BitOPs - BitOPs_fixed) / MACs_searchable)"}
_LAYER_KEYS = {"w_bits": int, "a_bits": int, "searchable": bool, "kind": str, "in_channels": int,
               "out_channels": int, "groups": int, "kernel_size": list, "stride": list, "macs": int, "params": int}


@dataclass
class Policy:
    """A mixed-precision policy: per layer *name* its weight and activation bits (``layers[name]["w_bits"]`` /
    ``["a_bits"]``, with MACs, parameters and whether it was searchable), the candidate sets, the fixed first /
    last layers' bits, the model's class count and input size, and provenance (how it was found). Saved as
    versioned JSON; :meth:`validate` / :meth:`apply` match a model by layer name and refuse any mismatch."""

    model: str
    layers: dict[str, dict]
    w_candidates: list[int]
    a_candidates: list[int]
    num_classes: int
    input_size: list[int]
    fixed_bits: int = 8
    provenance: dict = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------------ views
    def bits(self) -> dict[str, tuple[int, int]]:
        """``{layer: (w_bits, a_bits)}`` for every layer, fixed ones included."""
        return {n: (r["w_bits"], r["a_bits"]) for n, r in self.layers.items()}

    @property
    def fixed_layers(self) -> set[str]:
        """The layers the search does not choose bits for (first and last, at the fixed bit width)."""
        return {n for n, r in self.layers.items() if not r["searchable"]}

    def totals(self) -> dict:
        """MACs, BitOPs, size in bytes and average bits of the policy, all through :mod:`mpqlab.quant.cost`."""
        t = totals(self.layers, self.bits(), self.fixed_layers)
        return dict(t, average_bits=round(t["average_bits"], 6))

    def summary(self) -> str:
        """A printable table: totals, then one line per layer with its bits and MACs."""
        t = self.totals()
        lines = [f"policy for {self.model}: {t['bitops'] / 1e9:.3f} GBitOPs, {t['size_bytes'] / 1024:.1f} KiB, "
                 f"average bits {t['average_bits']:.3f}", f"{'layer':<28} {'W':>3} {'A':>3} {'MACs':>10}"]
        lines += [f"{n:<28} {r['w_bits']:>3} {r['a_bits']:>3} {r['macs']:>10}" for n, r in self.layers.items()]
        return "\n".join(lines)

    # ------------------------------------------------------------------------------------------ construction
    @classmethod
    def from_bits(cls, model: nn.Module, bits: Mapping[str, tuple[int, int]], model_name: str | None = None,
                  w_candidates=BIT_CANDIDATES, a_candidates=BIT_CANDIDATES, fixed_bits: int = 8,
                  input_size=(3, 32, 32), fixed_layers: set[str] | None = None, provenance: dict | None = None,
                  num_classes: int | None = None) -> "Policy":
        """A policy for ``model`` from name -> (w, a); the first conv / last linear are fixed at ``fixed_bits``."""
        table = layer_table(model, input_size)
        fixed = set(first_last_layers(model)) if fixed_layers is None else set(fixed_layers)
        layers = {}
        for name, rec in table.items():
            if name in fixed:
                w, a = bits.get(name, (fixed_bits, fixed_bits))
            elif name in bits:
                w, a = bits[name]
            else:
                raise MpqlabError(f"no bits given for layer {name}")
            layers[name] = {"w_bits": int(w), "a_bits": int(a), "searchable": name not in fixed, **rec}
        extra = [n for n in bits if n not in table]
        if extra:
            raise MpqlabError(f"bits given for layers the model does not have: {', '.join(extra)}")
        if num_classes is None:
            last = model.get_submodule(list(table)[-1])
            num_classes = last.out_features if isinstance(last, nn.Linear) else last.out_channels
        p = cls(model_name or getattr(model, "mpqlab_name", type(model).__name__), layers, list(w_candidates),
                list(a_candidates), int(num_classes), list(input_size), fixed_bits, dict(provenance or {}))
        p.check()
        return p

    @classmethod
    def uniform(cls, model: nn.Module, w_bits: int, a_bits: int, **kw) -> "Policy":
        """Every searchable layer at (w_bits, a_bits), first / last at ``fixed_bits``."""
        kw.setdefault("w_candidates", sorted({*BIT_CANDIDATES, w_bits}))
        kw.setdefault("a_candidates", sorted({*BIT_CANDIDATES, a_bits}))
        prov = dict(kw.pop("provenance", {}) or {}, method=f"uniform W{w_bits}A{a_bits}")
        fixed = kw.get("fixed_layers") or set(first_last_layers(model))
        table = layer_table(model, kw.get("input_size", (3, 32, 32)))
        return cls.from_bits(model, {n: (w_bits, a_bits) for n in table if n not in fixed}, provenance=prov, **kw)

    def with_layer_bits(self, layer: str, w_bits: int, a_bits: int) -> "Policy":
        """A copy with one searchable layer at (w_bits, a_bits) (checked against the candidates); provenance says
        what changed."""
        if layer not in self.layers:
            raise MpqlabError(f"policy for {self.model} has no layer {layer!r}")
        if not self.layers[layer]["searchable"]:
            raise MpqlabError(f"layer {layer} is fixed at {self.fixed_bits} bits; pick a searchable layer")
        p = copy.deepcopy(self)
        p.layers[layer].update(w_bits=int(w_bits), a_bits=int(a_bits))
        p.provenance["edited"] = p.provenance.get("edited", []) + [f"{layer}: W{w_bits}A{a_bits}"]
        p.check()
        return p

    # --------------------------------------------------------------------------------------------- checking
    def check(self) -> None:
        """Internal consistency: bits in the candidate sets (fixed layers: fixed_bits or 32)."""
        for what, cands in (("w_candidates", self.w_candidates), ("a_candidates", self.a_candidates)):
            if not cands or not all(isinstance(b, int) and not isinstance(b, bool) for b in cands):
                raise MpqlabError(f"policy {what} must be a non-empty list of integers, got {cands!r}")
            for b in cands:
                check_bits(b, f"policy {what} entry")
        check_bits(self.fixed_bits, "policy fixed_bits")
        if not self.layers:
            raise MpqlabError("policy has no layers")
        for name, r in self.layers.items():
            for key, (b, cands) in (("w_bits", (r["w_bits"], self.w_candidates)),
                                    ("a_bits", (r["a_bits"], self.a_candidates))):
                if r["searchable"] and b not in cands:
                    raise MpqlabError(f"layer {name}: {key}={b} is not among the candidates {cands}")
                if not r["searchable"] and b not in (self.fixed_bits, FLOAT_BITS, *cands):
                    raise MpqlabError(f"layer {name}: fixed layer has {key}={b}, expected {self.fixed_bits}")

    def validate(self, model: nn.Module, input_size=None) -> list[str]:
        """Match ``model``'s conv/linear layers by name; raise naming every missing, extra or mismatched layer.
        Returns notes on allowed differences of fixed layers: kernel / stride (the CIFAR-stem case) and the
        classifier's outputs (a proxy with another label set: five classes searched, ten or a thousand targeted)."""
        table = layer_table(model, tuple(input_size or self.input_size))
        missing = [n for n in self.layers if n not in table]
        extra = [n for n in table if n not in self.layers]
        problems, notes = [], []
        if missing:
            problems.append(f"layers in the policy but not in the model: {', '.join(missing)}")
        if extra:
            problems.append(f"layers in the model but not in the policy: {', '.join(extra)}")
        for name in self.layers:
            if name not in table:
                continue
            pol, mod = self.layers[name], table[name]
            for key in ("kind", "in_channels", "out_channels", "groups"):
                if pol[key] == mod[key]:
                    continue
                if key == "out_channels" and pol["kind"] == "linear" and not pol["searchable"]:
                    notes.append(f"fixed layer {name}: {pol[key]} outputs in the policy, {mod[key]} in the model "
                                 f"(classifier head for another label set; bits {pol['w_bits']}/{pol['a_bits']} kept)")
                else:
                    problems.append(f"layer {name}: {key} is {mod[key]} in the model, {pol[key]} in the policy")
            for key in ("kernel_size", "stride"):
                if list(pol[key]) != list(mod[key]):
                    if pol["searchable"]:
                        problems.append(f"layer {name}: {key} is {mod[key]} in the model, {pol[key]} in the policy")
                    else:
                        notes.append(f"fixed layer {name}: {key} {pol[key]} in the policy, {mod[key]} in the model "
                                     f"(stem change; bits {pol['w_bits']}/{pol['a_bits']} kept)")
        if problems:
            raise MpqlabError(f"policy for {self.model} does not fit the model: " + "; ".join(problems))
        return notes

    def apply(self, model: nn.Module, input_size=None, **quant_kw) -> nn.Module:
        """Validate, then swap every conv/linear layer for its quantized twin at this policy's bits."""
        self.validate(model, input_size)
        return quantize_model(model, self.bits(), strict=True, **quant_kw)

    # ------------------------------------------------------------------------------------------------ files
    def to_dict(self) -> dict:
        """The JSON form (schema, version, model, candidates, layers, provenance) that :meth:`from_dict` reads."""
        return {"schema": SCHEMA, "version": VERSION, "model": self.model, "num_classes": self.num_classes,
                "input_size": list(self.input_size), "w_candidates": list(self.w_candidates),
                "a_candidates": list(self.a_candidates), "fixed_bits": self.fixed_bits, "cost_model": COST_MODEL,
                "layers": copy.deepcopy(self.layers), "totals": self.totals(),
                "provenance": dict({"mpqlab_version": __version__,
                                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())},
                                   **self.provenance)}

    @classmethod
    def from_dict(cls, d, source: str = "policy") -> "Policy":
        """Parse and check a policy dict; any defect raises :class:`MpqlabError` naming it."""
        if not isinstance(d, dict):
            raise MpqlabError(f"{source}: a policy must be a JSON object, got {type(d).__name__}")
        if d.get("schema") != SCHEMA:
            raise MpqlabError(f"{source}: not an mpqlab policy (schema {d.get('schema')!r}, expected {SCHEMA!r})")
        if d.get("version") != VERSION:
            raise MpqlabError(f"{source}: policy version {d.get('version')!r} is not supported (this mpqlab reads "
                              f"version {VERSION})")
        types = {"model": str, "num_classes": int, "input_size": list, "w_candidates": list, "a_candidates": list,
                 "fixed_bits": int, "layers": dict}
        for key, typ in types.items():
            if key not in d:
                raise MpqlabError(f"{source}: missing field {key!r}")
            if not isinstance(d[key], typ) or isinstance(d[key], bool):
                raise MpqlabError(f"{source}: field {key!r} must be {typ.__name__}, got {type(d[key]).__name__}")
        if len(d["input_size"]) != 3 or not all(isinstance(v, int) and v > 0 for v in d["input_size"]):
            raise MpqlabError(f"{source}: input_size must be three positive integers, got {d['input_size']!r}")
        layers = {}
        for name, r in d["layers"].items():
            if not isinstance(r, dict):
                raise MpqlabError(f"{source}: layer {name!r} must be an object")
            for key, typ in _LAYER_KEYS.items():
                if key not in r:
                    raise MpqlabError(f"{source}: layer {name!r} lacks {key!r}")
                v = r[key]
                if not isinstance(v, typ) or (typ is int and isinstance(v, bool)):
                    raise MpqlabError(f"{source}: layer {name!r}: {key} must be {typ.__name__}, got {v!r}")
            for key in ("kernel_size", "stride"):
                if len(r[key]) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in r[key]):
                    raise MpqlabError(f"{source}: layer {name!r}: {key} must be two integers, got {r[key]!r}")
            if r["kind"] not in ("conv", "linear"):
                raise MpqlabError(f"{source}: layer {name!r}: kind must be 'conv' or 'linear', got {r['kind']!r}")
            if min(r["macs"], r["params"], r["in_channels"], r["out_channels"], r["groups"]) < 0:
                raise MpqlabError(f"{source}: layer {name!r} has a negative count")
            layers[name] = {k: r[k] for k in _LAYER_KEYS}
        prov = d.get("provenance", {})
        if not isinstance(prov, dict):
            raise MpqlabError(f"{source}: provenance must be an object")
        p = cls(d["model"], layers, d["w_candidates"], d["a_candidates"], d["num_classes"], d["input_size"],
                d["fixed_bits"], prov)
        try:
            p.check()
        except MpqlabError as e:
            raise MpqlabError(f"{source}: {e}") from None
        return p

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Policy":
        """Read and check a policy file; a bad file is reported with its path and the field at fault."""
        return cls.from_dict(read_json(path, "policy file"), source=f"policy file {path}")

    def save(self, path: str | os.PathLike) -> None:
        """Write the policy file atomically."""
        write_json(path, self.to_dict())
