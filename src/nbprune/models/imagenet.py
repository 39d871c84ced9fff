"""ImageNet models from torchvision (random init, never downloaded weights); cfg is always None.

``imagenet-vgg11`` / ``imagenet-vgg16`` take ``batch_norm`` (default True: VGG-11-BN is the slimming
model, VGG-16-BN the weight-level one; ``batch_norm=False`` gives the plain VGG-16 of ThiNet and the
regression-based method). ``width`` must be 1.
"""

from __future__ import annotations

from typing import Any

import torchvision
from torch import nn

from nbprune.models import register_model, set_identity

ARCHS = {
    "imagenet-vgg11": "vgg11",
    "imagenet-vgg16": "vgg16",
    "imagenet-resnet34": "resnet34",
    "imagenet-resnet50": "resnet50",
}


def _register(arch: str, tv_name: str) -> None:
    def build(num_classes: int, cfg: Any, width: float, name: str) -> nn.Module:
        if cfg is not None:
            raise ValueError(f"cfg: {arch} takes no cfg (None only); got {cfg!r}")
        if width != 1.0:
            raise ValueError(f"width: {arch} supports only width 1.0; got {width!r}")
        model = getattr(torchvision.models, name)(weights=None, num_classes=num_classes)
        set_identity(model, arch, None, num_classes, width)
        return model

    if tv_name.startswith("vgg"):

        def vgg_factory(num_classes: int, cfg: Any, width: float, batch_norm: bool = True) -> nn.Module:
            if not isinstance(batch_norm, bool):
                raise ValueError(f"batch_norm: must be True or False, got {batch_norm!r}")
            model = build(num_classes, cfg, width, tv_name + ("_bn" if batch_norm else ""))
            model.extra_spec = {"batch_norm": batch_norm}
            return model

        register_model(arch)(vgg_factory)
    else:
        register_model(arch)(lambda num_classes, cfg, width: build(num_classes, cfg, width, tv_name))


for _arch, _tv_name in ARCHS.items():
    _register(_arch, _tv_name)
