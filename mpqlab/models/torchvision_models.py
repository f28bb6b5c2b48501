"""torchvision's ImageNet models (``resnet18``, ``resnet50``, ``mobilenet_v2``) and their CIFAR-stem variants."""
from __future__ import annotations

import torch.nn as nn

from ..core.errors import MpqlabError
from . import register_model


def _tv(builder: str, weights=None, num_classes=10, **kw):
    import torchvision.models as tvm  # deferred: slow import, this path only

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
