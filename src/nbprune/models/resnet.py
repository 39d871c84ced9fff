"""CIFAR ResNet-20/32/56/110 (He et al. 2016) with option-A shortcuts, as in the L1-norm code.

cfg format: ``[stage1, stage2, stage3]``, each a list of the first-conv output width of every
BasicBlock in that stage (the only width L1-norm pruning changes), e.g. ResNet-56 default
``[[16]*9, [32]*9, [64]*9]``. A stage may list fewer blocks than the depth's n = (depth-2)/6
(removed blocks), but at least one. Stage widths 16/32/64 scale with ``width``.

Block: conv3x3-BN-ReLU-conv3x3-BN, + shortcut, ReLU. Option-A shortcut: stride-2 subsampling and
zero-padded extra channels (no parameters), as He et al. describe it (kwarg ``shortcut="he"``, the
default). ``shortcut="reference"`` builds it the way the L1-norm reference code does: AvgPool2d(kernel 1,
stride 2), then the result concatenated with itself times zero. In current PyTorch the two give the same
outputs and the same gradients (tests/test_fidelity.py checks it): a 1x1 average pool is a subsampling,
and the zero half passes no gradient in either. ``shortcut="conv"`` is option B: a 1x1 conv (stride, no bias)
+ BN where the shape changes. BatchNorm gamma is initialised to 1.

ResNet-50 (``resnet50``: n = 8 BasicBlocks per stage, option-B shortcuts by default) is the CIFAR ResNet-50 of
Table 9 and Figure 7, the weight-level code's ``resnet(depth=50)``: that code takes n = (depth - 2) // 6 and
uses bottlenecks only from depth 54, so its ResNet-50 is 48 3x3 convs in basic blocks (plus the stem, the two
projection convs and the Linear), not ImageNet's bottleneck ResNet-50. Its init here is the family's (convs
over their fan-out and BN gamma 1, as that code; the Linear N(0, 0.01), where that code keeps PyTorch's default).
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from nbprune.choices import unknown_choice
from nbprune.models.layers import init_weights, set_identity
from nbprune.models.registry import register_family, register_model, register_target
from nbprune.models.units import Unit, conv_unit
from nbprune.models.widths import cfg_error, int_list, scale

DEPTHS = (20, 32, 50, 56, 110)
STAGE_WIDTHS = (16, 32, 64)
L1_TARGETS: dict[str, tuple[int, tuple[int, ...], tuple[float, float, float]]] = {
    "resnet56-a": (56, (16, 20, 38, 54), (0.1, 0.1, 0.1)),
    "resnet56-b": (56, (16, 18, 20, 34, 38, 54), (0.6, 0.3, 0.1)),
    "resnet110-a": (110, (36,), (0.5, 0.0, 0.0)),
    "resnet110-b": (110, (36, 38, 74), (0.5, 0.4, 0.3)),
}


class ShortcutA(nn.Module):
    """Parameter-free shortcut: subsample by ``stride`` and zero-pad to ``c_out`` channels."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.pad = c_out - c_in
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.pad))


class ShortcutReference(nn.Module):
    """The L1-norm reference code's option-A shortcut: AvgPool2d(1, stride), then concatenated zeros."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(kernel_size=1, stride=stride)
        self.pad = c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(x)
        return torch.cat((x, x[:, : self.pad].mul(0)), 1)


class ShortcutConv(nn.Sequential):
    """Option-B shortcut: a 1x1 conv (``stride``, no bias) from ``c_in`` to ``c_out`` channels, then BN."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))


SHORTCUTS = {"he": ShortcutA, "reference": ShortcutReference, "conv": ShortcutConv}


class BasicBlock(nn.Module):
    """conv3x3(c_in->mid, stride)-BN-ReLU-conv3x3(mid->c_out)-BN, + shortcut, ReLU."""

    def __init__(self, c_in: int, mid: int, c_out: int, stride: int, shortcut: type[nn.Module] = ShortcutA) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = shortcut(c_in, c_out, stride) if stride != 1 or c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    """Stem conv3x3-BN-ReLU, three stages of BasicBlocks, AvgPool2d(8), Linear."""

    def __init__(self, arch: str, cfg: list[list[int]], num_classes: int, width: float, shortcut: str = "he") -> None:
        super().__init__()
        widths = [scale(c, width) for c in STAGE_WIDTHS]
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        c_in = widths[0]
        stages = []
        for s, (c_out, mids) in enumerate(zip(widths, cfg)):
            blocks = []
            for b, mid in enumerate(mids):
                blocks.append(BasicBlock(c_in, mid, c_out, 2 if s > 0 and b == 0 else 1, SHORTCUTS[shortcut]))
                c_in = c_out
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(c_in, num_classes)
        init_weights(self, bn_gamma=1.0)
        set_identity(self, arch, cfg, num_classes, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet_default_cfg(depth: int, width: float) -> list[list[int]]:
    """Unpruned cfg: every block's first conv at its stage width."""
    n = (depth - 2) // 6
    return [[scale(c, width)] * n for c in STAGE_WIDTHS]


def _check_cfg(arch: str, depth: int, cfg: Any) -> list[list[int]]:
    n = (depth - 2) // 6
    allowed = f"3 lists (one per stage) of 1 to {n} positive ints (each block's first-conv width)"
    if not isinstance(cfg, (list, tuple)) or len(cfg) != 3:
        raise cfg_error(arch, allowed, cfg)
    stages = [int_list(s, n) for s in cfg]
    if any(s is None for s in stages):
        raise cfg_error(arch, allowed, cfg)
    return stages


def l1_target_cfg(depth: int, skip: tuple[int, ...], ratios: tuple[float, ...], width: float) -> list[list[int]]:
    """L1-norm target: block j's first conv (id 2+2j) keeps int(C*(1-p_stage)) unless its id is skipped."""
    n = (depth - 2) // 6
    cfg = []
    for s, (c, p) in enumerate(zip(STAGE_WIDTHS, ratios)):
        c = scale(c, width)
        ids = [2 + 2 * (s * n + b) for b in range(n)]
        cfg.append([c if i in skip else max(1, int(c * (1 - p))) for i in ids])
    return cfg


def resnet_channel_units(model: ResNet) -> Iterator[tuple[str, Unit]]:
    """The first conv of every BasicBlock, ``layer<s>.<b>.conv1`` (``bn1``; read by ``conv2``). The block
    outputs are tied together by the residual additions and are not units."""
    for s, stage in enumerate((model.layer1, model.layer2, model.layer3)):
        for b in range(len(stage)):
            p = f"layer{s + 1}.{b}."
            yield f"{p}conv1", conv_unit(model, p, "conv1", "bn1", "conv2", (s, b))


register_family("resnet", ResNet, tuple(f"resnet{d}" for d in DEPTHS),
                paper_names={f"resnet{d}": f"ResNet-{d}" for d in DEPTHS}, channel_units=resnet_channel_units)


def build_resnet(depth: int, num_classes: int, cfg: Any, width: float, shortcut: str) -> ResNet:
    """The CIFAR ResNet of ``depth`` (one of ``DEPTHS``) with the factory arguments checked."""
    arch = f"resnet{depth}"
    if shortcut not in SHORTCUTS:
        raise unknown_choice("shortcut", shortcut, tuple(SHORTCUTS))
    cfg = resnet_default_cfg(depth, width) if cfg is None else _check_cfg(arch, depth, cfg)
    model = ResNet(arch, cfg, num_classes, width, shortcut)
    if shortcut != "he":
        model.extra_spec = {"shortcut": shortcut}
    return model


@register_model("resnet20", default_cfg=partial(resnet_default_cfg, 20))
def resnet20(num_classes: int, cfg: Any, width: float, shortcut: str = "he") -> ResNet:
    """CIFAR ResNet-20 (3 blocks per stage)."""
    return build_resnet(20, num_classes, cfg, width, shortcut)


@register_model("resnet32", default_cfg=partial(resnet_default_cfg, 32))
def resnet32(num_classes: int, cfg: Any, width: float, shortcut: str = "he") -> ResNet:
    """CIFAR ResNet-32 (5 blocks per stage)."""
    return build_resnet(32, num_classes, cfg, width, shortcut)


@register_model("resnet50", default_cfg=partial(resnet_default_cfg, 50))
def resnet50(num_classes: int, cfg: Any, width: float, shortcut: str = "conv") -> ResNet:
    """CIFAR ResNet-50 of the weight-level code (8 blocks per stage, option-B shortcuts; Table 9, Figure 7)."""
    return build_resnet(50, num_classes, cfg, width, shortcut)


@register_model("resnet56", default_cfg=partial(resnet_default_cfg, 56))
def resnet56(num_classes: int, cfg: Any, width: float, shortcut: str = "he") -> ResNet:
    """CIFAR ResNet-56 (9 blocks per stage)."""
    return build_resnet(56, num_classes, cfg, width, shortcut)


@register_model("resnet110", default_cfg=partial(resnet_default_cfg, 110))
def resnet110(num_classes: int, cfg: Any, width: float, shortcut: str = "he") -> ResNet:
    """CIFAR ResNet-110 (18 blocks per stage)."""
    return build_resnet(110, num_classes, cfg, width, shortcut)


def _l1_target(name: str, width: float) -> list[list[int]]:
    """The cfg of the L1-norm target ``name`` (a key of ``L1_TARGETS``)."""
    depth, skip, ratios = L1_TARGETS[name]
    return l1_target_cfg(depth, skip, ratios, width)


@register_target("resnet56-a", base="resnet56")
def resnet56_a(width: float) -> list[list[int]]:
    """L1-norm ResNet-56-A (Li et al. 2017), widths scaled by ``width``."""
    return _l1_target("resnet56-a", width)


@register_target("resnet56-b", base="resnet56")
def resnet56_b(width: float) -> list[list[int]]:
    """L1-norm ResNet-56-B (Li et al. 2017), widths scaled by ``width``."""
    return _l1_target("resnet56-b", width)


@register_target("resnet110-a", base="resnet110")
def resnet110_a(width: float) -> list[list[int]]:
    """L1-norm ResNet-110-A (Li et al. 2017), widths scaled by ``width``."""
    return _l1_target("resnet110-a", width)


@register_target("resnet110-b", base="resnet110")
def resnet110_b(width: float) -> list[list[int]]:
    """L1-norm ResNet-110-B (Li et al. 2017), widths scaled by ``width``."""
    return _l1_target("resnet110-b", width)
