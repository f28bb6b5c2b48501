"""Model registry: ``create_model(name, num_classes=...)``, ``list_models()``.

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

from typing import Callable

import torch
import torch.nn as nn

from .errors import MpqlabError


class BasicBlock(nn.Module):
    """He et al.'s CIFAR basic block: two 3x3 convolutions with BatchNorm and ReLU, and a 1x1 projection
    shortcut (``downsample``, torchvision's name) when the shape changes."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs."""

    def __init__(self, depth: int, num_classes: int = 10, width: int = 16):
        super().__init__()
        if (depth - 2) % 6:
            raise MpqlabError(f"CIFAR ResNet depth must be 6n+2, got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        planes, layers = width, []
        for stage in range(3):
            out = width * 2 ** stage
            blocks = [BasicBlock(planes if i == 0 else out, out, 2 if (i == 0 and stage > 0) else 1) for i in range(n)]
            layers.append(nn.Sequential(*blocks))
            planes = out
        self.layer1, self.layer2, self.layer3 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(planes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_FEATURE_LAYER: dict[str, str] = {}
_INPUT_SIZE: dict[str, tuple[int, int, int]] = {}


def register_model(name: str, feature_layer: str, input_size=(3, 32, 32)):
    """Decorator: register a model builder under ``name`` with its feature layer and input size."""
    def deco(fn):
        _REGISTRY[name], _FEATURE_LAYER[name], _INPUT_SIZE[name] = fn, feature_layer, tuple(input_size)
        return fn
    return deco


def list_models() -> list[str]:
    """The registered model names."""
    return sorted(_REGISTRY)


def create_model(name: str, num_classes: int = 10, **kwargs) -> nn.Module:
    """Build registered model ``name`` with ``num_classes`` outputs."""
    if name not in _REGISTRY:
        raise MpqlabError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise MpqlabError(f"num_classes must be a positive integer, got {num_classes!r}")
    model = _REGISTRY[name](num_classes=num_classes, **kwargs)
    model.mpqlab_name = name
    return model


def feature_layer(name: str) -> str:
    """Name of the module whose output is the last stage's feature map (GMPQ's attribution layer)."""
    if name not in _FEATURE_LAYER:
        raise MpqlabError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _FEATURE_LAYER[name]


def default_input_size(name: str) -> tuple[int, int, int]:
    """The (C, H, W) input a registered model was built for."""
    if name not in _INPUT_SIZE:
        raise MpqlabError(f"unknown model {name!r}; known models: {', '.join(list_models())}")
    return _INPUT_SIZE[name]


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


for _d in (20, 32, 56):
    register_model(f"resnet{_d}", "layer3")(lambda num_classes=10, _d=_d, **kw: CifarResNet(_d, num_classes, **kw))


def _tv(builder: str, weights=None, num_classes=10, **kw):
    import torchvision.models as tvm

    if weights is not None and num_classes != 1000:
        raise MpqlabError("torchvision pretrained weights have 1000 classes; use num_classes=1000 with weights")
    return getattr(tvm, builder)(weights=weights, num_classes=num_classes, **kw)


def _cifar_stem_resnet(model: nn.Module) -> nn.Module:
    model.conv1 = nn.Conv2d(3, model.conv1.out_channels, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    return model


def _cifar_stem_mobilenet(model: nn.Module) -> nn.Module:
    old = model.features[0][0]
    model.features[0][0] = nn.Conv2d(3, old.out_channels, 3, 1, 1, bias=False)
    return model


register_model("resnet18", "layer4", (3, 224, 224))(lambda num_classes=10, weights=None, **kw: _tv("resnet18", weights, num_classes, **kw))
register_model("resnet50", "layer4", (3, 224, 224))(lambda num_classes=10, weights=None, **kw: _tv("resnet50", weights, num_classes, **kw))
register_model("mobilenet_v2", "features", (3, 224, 224))(
    lambda num_classes=10, weights=None, **kw: _tv("mobilenet_v2", weights, num_classes, **kw))
register_model("resnet18_cifar", "layer4")(lambda num_classes=10, **kw: _cifar_stem_resnet(_tv("resnet18", None, num_classes, **kw)))
register_model("resnet50_cifar", "layer4")(lambda num_classes=10, **kw: _cifar_stem_resnet(_tv("resnet50", None, num_classes, **kw)))
register_model("mobilenet_v2_cifar", "features")(
    lambda num_classes=10, **kw: _cifar_stem_mobilenet(_tv("mobilenet_v2", None, num_classes, **kw)))
