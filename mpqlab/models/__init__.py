"""Model registry (one file per model family in this folder, discovered): ``create_model(name, num_classes=...)``, ``list_models()``.

- ``resnet20``, ``resnet32``, ``resnet56``: CIFAR ResNets (He et al., 2016), 3 stages of 16/32/64 channels.
  Layer names follow torchvision (``conv1``, ``layerK.I.conv1``, ``downsample.0``, ``fc``); the shortcut at a
  stage change is a 1x1 convolution + BatchNorm (option B), which is quantized like every other conv.
- ``resnet18``, ``resnet50``, ``mobilenet_v2``: torchvision's ImageNet models (``weights=None``; pass
  ``weights="DEFAULT"`` where torchvision can download them).
- ``resnet18_cifar``, ``resnet50_cifar``, ``mobilenet_v2_cifar``: the same torchvision models with a CIFAR stem
  (3x3 stride-1 first convolution, no max-pool). Every other layer keeps torchvision's name and shape, so a
  policy searched on the CIFAR variant maps onto the ImageNet model by layer name.

``first_last_layers(model)`` gives the names of the first conv and last linear layer (fixed at 8 bits in a
search), ``feature_layer(name)`` the last stage used by GMPQ's attribution maps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch.nn as nn

from ..core.errors import MpqlabError
from ..core.registry import Registry, discover, load_external


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: its builder ``fn(num_classes=..., **kw)``, the module whose output is the last stage's
    feature map (GMPQ's attribution layer) and the (C, H, W) input it was built for."""

    builder: Callable[..., nn.Module]
    feature_layer: str
    input_size: tuple[int, int, int]
    help: str = ""


MODELS = Registry("model")  # name -> ModelEntry; one file per model family in this folder


def register_model(name: str, feature_layer: str, input_size=(3, 32, 32), help: str = ""):
    """Decorator: register a model builder under ``name`` with its feature layer and input size (refused when the
    name is taken)."""
    def deco(fn):
        MODELS.add(name, ModelEntry(fn, feature_layer, tuple(input_size), help or name))
        return fn
    return deco


def list_models() -> list[str]:
    """The registered model names."""
    return sorted(MODELS)


def _entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise MpqlabError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return MODELS[name]


def create_model(name: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """Build registered model ``name`` with ``num_classes`` outputs."""
    entry = _entry(name)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise MpqlabError(f"num_classes must be a positive integer, got {num_classes!r}")
    model = entry.builder(num_classes=num_classes, **kwargs)
    model.mpqlab_name = name
    return model


def feature_layer(name: str) -> str:
    """Name of the module whose output is the last stage's feature map (GMPQ's attribution layer)."""
    return _entry(name).feature_layer


def default_input_size(name: str) -> tuple[int, int, int]:
    """The (C, H, W) input a registered model was built for."""
    return _entry(name).input_size


def quantizable_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """All conv and linear layers, in module order, with their names."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


def first_last_layers(model: nn.Module) -> tuple[str, str]:
    """Names of the first conv and the last linear layer (kept at 8 bits, not searched)."""
    layers = quantizable_layers(model)
    if not layers:
        raise MpqlabError("model has no conv or linear layers")
    first = next((n for n, m in layers if isinstance(m, nn.Conv2d)), layers[0][0])
    last = next((n for n, m in reversed(layers) if isinstance(m, nn.Linear)), layers[-1][0])
    return first, last


# every module beside this file registers models (a new file is the whole change); then MPQLAB_PLUGINS
discover(__name__, __path__)
load_external()
