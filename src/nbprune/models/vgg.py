"""CIFAR VGG-11/13/16/19 with BatchNorm.

cfg format: a flat list of conv output widths (positive ints) with ``"M"`` marking a 2x2 max-pool,
e.g. VGG-16 ``[64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512]``.
An explicit cfg must have the default's length with ``"M"`` at the same positions. Each conv is a
3x3 conv (no bias; kwarg ``conv_bias=True``: with one) + BN + ReLU; after the last conv an AvgPool2d(2) takes
the 2x2 map to 1x1.

Head (kwarg ``head``): ``"mlp"`` = Linear(c, 512)-BN1d-ReLU-Linear(512, classes) (L1-norm code; the
512 scales with ``width``), ``"linear"`` = Linear(c, classes) (slimming code). Default: ``"mlp"`` for
vgg16, ``"linear"`` for the others. BatchNorm2d gamma is initialised to 0.5 (the slimming code) or to the
kwarg ``bn_gamma`` (1 in the weight-level code of Table 6). Convs are He-initialised over their fan-out, or
(kwarg ``conv_init="fan_in"``) over their fan-in.

The weight-level code's ``vgg16_bn`` (Table 9, Figures 3 right and 7) is ``vgg16`` with ``head="linear"``,
``bn_gamma=1``, ``conv_bias=True`` and ``conv_init="fan_in"`` (:data:`WEIGHT_LEVEL_VGG`): that code's conv has a
bias, its std is sqrt(2 / (9 * C_in)), its BN starts at gamma 1, its head is one Linear.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import torch
from torch import nn

from nbprune.choices import unknown_choice
from nbprune.models.layers import CONV_INITS, check_gamma, init_weights, set_identity
from nbprune.models.registry import register_family, register_model, register_target
from nbprune.models.units import Unit, conv_unit
from nbprune.models.widths import cfg_error, is_pos_int, scale

VGG_CFGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512],
}
DEFAULT_HEADS = {"vgg11": "linear", "vgg13": "linear", "vgg16": "mlp", "vgg19": "linear"}
HEADS = ("linear", "mlp")
# the create_model kwargs of the weight-level code's vgg16_bn (Table 9, Figures 3 right and 7)
WEIGHT_LEVEL_VGG = (("bn_gamma", 1.0), ("conv_bias", True), ("conv_init", "fan_in"), ("head", "linear"))
VGG16_A = [32, 64, "M", 128, 128, "M", 256, 256, 256, "M", 256, 256, 256, "M", 256, 256, 256]


def vgg_default_cfg(arch: str, width: float) -> list[int | str]:
    """The arch's default cfg with every width scaled."""
    return [v if v == "M" else scale(v, width) for v in VGG_CFGS[arch]]


def _check_cfg(arch: str, cfg: Any) -> list[int | str]:
    return check_vgg_cfg(arch, cfg, VGG_CFGS[arch])


def check_vgg_cfg(arch: str, cfg: Any, ref: list[int | str], note: str = "") -> list[int | str]:
    """``cfg`` checked against the reference VGG cfg ``ref``: same length, "M" at the same places, positive
    widths elsewhere; a ValueError naming ``cfg`` otherwise (``note`` is appended to what is allowed)."""
    pools = [i for i, v in enumerate(ref) if v == "M"]
    allowed = f"a list of {len(ref)} entries with 'M' at positions {pools} and positive ints elsewhere{note}"
    if not isinstance(cfg, (list, tuple)) or len(cfg) != len(ref):
        raise cfg_error(arch, allowed, cfg)
    for v, r in zip(cfg, ref):
        if (r == "M") != (v == "M") or (r != "M" and not is_pos_int(v)):
            raise cfg_error(arch, allowed, cfg)
    return [v if v == "M" else int(v) for v in cfg]


class VGG(nn.Module):
    """VGG feature stack + AvgPool2d(2) + linear or MLP head."""

    def __init__(self, arch: str, cfg: list[int | str], num_classes: int, width: float, head: str,
                 bn_gamma: float = 0.5, conv_bias: bool = False, conv_init: str = "fan_out") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c_in, v, 3, padding=1, bias=conv_bias), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c_in = v
        self.features = nn.Sequential(*layers)
        self.pool = nn.AvgPool2d(2)
        if head == "mlp":
            hidden = scale(512, width)
            self.classifier = nn.Sequential(
                nn.Linear(c_in, hidden), nn.BatchNorm1d(hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)
            )
        else:
            self.classifier = nn.Sequential(nn.Linear(c_in, num_classes))
        init_weights(self, bn_gamma=bn_gamma, conv_init=conv_init)
        set_identity(self, arch, cfg, num_classes, width)
        self.head = head
        self.extra_spec = {"head": head, **({"conv_bias": True} if conv_bias else {})}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.pool(self.features(x)), 1))


def vgg_channel_units(model: VGG) -> Iterator[tuple[str, Unit]]:
    """Every conv, ``features.<i>`` (its BN follows; the next conv, or the first Linear of the head, reads it).
    The hidden Linear of the ``"mlp"`` head is not a unit."""
    convs: list[tuple[int, int]] = []  # (index in ``features``, cfg position)
    module = 0
    for pos, v in enumerate(model.cfg):
        if v != "M":
            convs.append((module, pos))
        module += 1 if v == "M" else 3  # max-pool, or conv + BN + ReLU
    for i, (m, pos) in enumerate(convs):
        consumer = f"features.{convs[i + 1][0]}" if i + 1 < len(convs) else "classifier.0"
        yield f"features.{m}", conv_unit(model, "", f"features.{m}", f"features.{m + 1}", consumer, (pos,))


register_family("vgg", VGG, tuple(VGG_CFGS),
                paper_names={"vgg11": "VGG-11", "vgg13": "VGG-13", "vgg16": "VGG-16", "vgg19": "VGG-19"},
                slimming_penalty=1e-4, channel_units=vgg_channel_units)


def build_vgg(arch: str, num_classes: int, cfg: Any, width: float, head: str | None, bn_gamma: float,
              conv_bias: bool = False, conv_init: str = "fan_out") -> VGG:
    """The CIFAR VGG ``arch`` (a key of ``VGG_CFGS``) with the factory arguments checked."""
    head = DEFAULT_HEADS[arch] if head is None else head
    if head not in HEADS:
        raise unknown_choice("head", head, HEADS)
    if not isinstance(conv_bias, bool):
        raise ValueError(f"conv_bias: must be True or False, got {conv_bias!r}")
    if conv_init not in CONV_INITS:
        raise unknown_choice("conv_init", conv_init, CONV_INITS)
    cfg = vgg_default_cfg(arch, width) if cfg is None else _check_cfg(arch, cfg)
    return VGG(arch, cfg, num_classes, width, head, check_gamma(bn_gamma), conv_bias, conv_init)


@register_model("vgg11", default_cfg=partial(vgg_default_cfg, "vgg11"))
def vgg11(num_classes: int, cfg: Any, width: float, head: str | None = None, bn_gamma: float = 0.5,
          conv_bias: bool = False, conv_init: str = "fan_out") -> VGG:
    """CIFAR VGG-11 (default head ``"linear"``)."""
    return build_vgg("vgg11", num_classes, cfg, width, head, bn_gamma, conv_bias, conv_init)


@register_model("vgg13", default_cfg=partial(vgg_default_cfg, "vgg13"))
def vgg13(num_classes: int, cfg: Any, width: float, head: str | None = None, bn_gamma: float = 0.5,
          conv_bias: bool = False, conv_init: str = "fan_out") -> VGG:
    """CIFAR VGG-13 (default head ``"linear"``)."""
    return build_vgg("vgg13", num_classes, cfg, width, head, bn_gamma, conv_bias, conv_init)


@register_model("vgg16", default_cfg=partial(vgg_default_cfg, "vgg16"))
def vgg16(num_classes: int, cfg: Any, width: float, head: str | None = None, bn_gamma: float = 0.5,
          conv_bias: bool = False, conv_init: str = "fan_out") -> VGG:
    """CIFAR VGG-16 (default head ``"mlp"``, as in the L1-norm code)."""
    return build_vgg("vgg16", num_classes, cfg, width, head, bn_gamma, conv_bias, conv_init)


@register_model("vgg19", default_cfg=partial(vgg_default_cfg, "vgg19"))
def vgg19(num_classes: int, cfg: Any, width: float, head: str | None = None, bn_gamma: float = 0.5,
          conv_bias: bool = False, conv_init: str = "fan_out") -> VGG:
    """CIFAR VGG-19 (default head ``"linear"``, as in the slimming code)."""
    return build_vgg("vgg19", num_classes, cfg, width, head, bn_gamma, conv_bias, conv_init)


@register_target("vgg16-a", base="vgg16")
def vgg16_a(width: float) -> list[int | str]:
    """L1-norm VGG-16-A (Li et al. 2017), widths scaled by ``width``."""
    return [v if v == "M" else scale(v, width) for v in VGG16_A]
