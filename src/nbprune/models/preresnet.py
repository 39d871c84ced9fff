"""CIFAR pre-activation ResNets, both bottleneck (expansion 4): PreResNet-164 (n=18 blocks per stage, the
Network Slimming layout, BN gamma 0.5) and PreResNet-110 of Table 6 (the weight-level reference code:
n = (110 - 2) // 9 = 12 per stage, BN gamma 1, no channel selection; about 1.15 M parameters).

In the slimming layout each block starts BN(c_in) -> ChannelSelection(k_in) -> ReLU, so slimming can prune
a block's input channels while the residual stream keeps its full width; the selection's ``indices``
buffer holds the kept channels (default: the first k_in). Without selections (PreResNet-110) a block
reads its whole input: k_in must equal the block's input width. The shortcut is the identity, or a 1x1 conv (stride, no BN)
on the raw block input where the shape changes.

cfg format: ``[stage1, stage2, stage3, k_final]``; a stage is a list of blocks (1 to 18 of them);
a block is ``[k_in, c1, c2]`` (bottleneck: conv1x1 k_in->c1, conv3x3 c1->c2, conv1x1 c2->4*planes; the
basic-block form ``[k_in, c1]`` is kept for registered variants that use it); ``k_final`` is the number of
channels kept after the final BN (the Linear's input). Default PreResNet-164:
``[[[16,16,16]] + [[64,16,16]]*17, [[64,32,32]] + [[128,32,32]]*17, [[128,64,64]] + [[256,64,64]]*17, 256]``.
Stage planes 16/32/64 scale with ``width``.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import torch
from torch import nn

from nbprune.models.layers import ChannelSelection, init_weights, set_identity
from nbprune.models.registry import register_family, register_model
from nbprune.models.units import Unit, conv_unit, selection_unit
from nbprune.models.widths import cfg_error, int_list, is_pos_int, scale

PLANES = (16, 32, 64)
# arch -> (bottleneck, blocks per stage, BN gamma init, channel selections)
ARCHS = {"preresnet56": (True, 6, 0.5, True), "preresnet110": (True, 12, 1.0, False),
         "preresnet164": (True, 18, 0.5, True)}


def _select(k_in: int, selection: bool) -> nn.Module:
    return ChannelSelection(k_in) if selection else nn.Identity()


class PreBasicBlock(nn.Module):
    """BN-select-ReLU-conv3x3(k_in->c1, stride)-BN-ReLU-conv3x3(c1->c_out), + shortcut."""

    def __init__(self, c_in: int, widths: list[int], c_out: int, stride: int, selection: bool = True) -> None:
        super().__init__()
        k_in, c1 = widths
        self.bn1 = nn.BatchNorm2d(c_in)
        self.select = _select(k_in, selection)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(k_in, c1, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c_out, 3, 1, 1, bias=False)
        self.downsample = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.select(self.bn1(x))))
        out = self.conv2(self.relu(self.bn2(out)))
        return out + self.downsample(x)


class PreBottleneck(nn.Module):
    """BN-select-ReLU-conv1x1(k_in->c1)-BN-ReLU-conv3x3(c1->c2, stride)-BN-ReLU-conv1x1(c2->c_out), + shortcut."""

    def __init__(self, c_in: int, widths: list[int], c_out: int, stride: int, selection: bool = True) -> None:
        super().__init__()
        k_in, c1, c2 = widths
        self.bn1 = nn.BatchNorm2d(c_in)
        self.select = _select(k_in, selection)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(k_in, c1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c1)
        self.conv2 = nn.Conv2d(c1, c2, 3, stride, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(c2)
        self.conv3 = nn.Conv2d(c2, c_out, 1, bias=False)
        self.downsample = _shortcut(c_in, c_out, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.select(self.bn1(x))))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        return out + self.downsample(x)


def _shortcut(c_in: int, c_out: int, stride: int) -> nn.Module:
    """Identity, or a 1x1 conv (no BN) where the block changes shape."""
    return nn.Conv2d(c_in, c_out, 1, stride, bias=False) if stride != 1 or c_in != c_out else nn.Identity()


class PreResNet(nn.Module):
    """Stem conv3x3, three stages of pre-activation blocks, BN-select-ReLU, AvgPool2d(8), Linear."""

    def __init__(self, arch: str, cfg: list, num_classes: int, width: float, bottleneck: bool,
                 bn_gamma: float = 0.5, selection: bool = True) -> None:
        super().__init__()
        expansion, block = (4, PreBottleneck) if bottleneck else (1, PreBasicBlock)
        planes = [scale(p, width) for p in PLANES]
        c_in = planes[0]
        self.conv1 = nn.Conv2d(3, c_in, 3, 1, 1, bias=False)
        stages = []
        for s, (p, blocks_cfg) in enumerate(zip(planes, cfg[:3])):
            blocks = []
            for b, widths in enumerate(blocks_cfg):
                blocks.append(block(c_in, widths, p * expansion, 2 if s > 0 and b == 0 else 1, selection))
                c_in = p * expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.bn = nn.BatchNorm2d(c_in)
        self.select = _select(cfg[3], selection)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(cfg[3], num_classes)
        init_weights(self, bn_gamma=bn_gamma)
        set_identity(self, arch, cfg, num_classes, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.conv1(x))))
        x = self.relu(self.select(self.bn(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def _block_inputs(planes: list[int], expansion: int, blocks: list[int]) -> list[list[int]]:
    """Full input width of every block, per stage, for the given block counts."""
    c_in, out = planes[0], []
    for p, n in zip(planes, blocks):
        out.append([c_in] + [p * expansion] * (n - 1))
        c_in = p * expansion
    return out


def preresnet_channel_units(model: PreResNet) -> Iterator[tuple[str, Unit]]:
    """Per block the input selection ``layer<s>.<b>.select`` (channels of the block's ``bn1`` output that feed
    ``conv1``; the residual keeps full width), ``layer<s>.<b>.conv1`` (``bn2``) and, for bottleneck blocks,
    ``layer<s>.<b>.conv2`` (``bn3``); the selection after the final BN, ``select`` (read by ``fc``). Without
    channel selections (PreResNet-110 of Table 6) only the convs."""
    selects = isinstance(model.select, ChannelSelection)
    for s, stage in enumerate((model.layer1, model.layer2, model.layer3)):
        for b, block in enumerate(stage):
            p = f"layer{s + 1}.{b}."
            if selects:
                yield f"{p}select", selection_unit(model, p, "bn1", "conv1", (s, b, 0))
            yield f"{p}conv1", conv_unit(model, p, "conv1", "bn2", "conv2", (s, b, 1))
            if isinstance(block, PreBottleneck):
                yield f"{p}conv2", conv_unit(model, p, "conv2", "bn3", "conv3", (s, b, 2))
    if selects:
        yield "select", selection_unit(model, "", "bn", "fc", (3,))


register_family("preresnet", PreResNet, tuple(ARCHS),
                paper_names={"preresnet56": "PreResNet-56", "preresnet110": "PreResNet-110",
                             "preresnet164": "PreResNet-164"},
                slimming_penalty=1e-5, channel_units=preresnet_channel_units)


def preresnet_default_cfg(bottleneck: bool, n: int, width: float) -> list:
    """Unpruned cfg (see the module docstring)."""
    planes = [scale(p, width) for p in PLANES]
    expansion = 4 if bottleneck else 1
    inputs = _block_inputs(planes, expansion, [n] * 3)
    mids = (lambda p: [p, p]) if bottleneck else (lambda p: [p])
    stages = [[[c, *mids(p)] for c in ins] for p, ins in zip(planes, inputs)]
    return [*stages, planes[2] * expansion]


def _check_cfg(arch: str, bottleneck: bool, n: int, width: float, cfg: Any, selection: bool = True) -> list:
    per_block = 3 if bottleneck else 2
    expansion = 4 if bottleneck else 1
    planes = [scale(p, width) for p in PLANES]
    rel, final = ("<=", f"1 <= k_final <= {planes[2] * expansion}") if selection else ("==", f"k_final == {planes[2] * expansion}")
    allowed = (
        f"[stage1, stage2, stage3, k_final]: each stage 1 to {n} blocks of {per_block} "
        f"positive ints [k_in, c1{', c2' if bottleneck else ''}] with k_in {rel} the block's input width, "
        f"and {final}"
    )
    ok = isinstance(cfg, (list, tuple)) and len(cfg) == 4 and is_pos_int(cfg[3]) and cfg[3] <= planes[2] * expansion
    ok = ok and (selection or cfg[3] == planes[2] * expansion)
    ok = ok and all(isinstance(s, (list, tuple)) and 1 <= len(s) <= n for s in cfg[:3])
    if not ok:
        raise cfg_error(arch, allowed, cfg)
    stages = [[int_list(b, per_block, per_block) for b in s] for s in cfg[:3]]
    inputs = _block_inputs(planes, expansion, [len(s) for s in stages])
    for stage, ins in zip(stages, inputs):
        if any(b is None or b[0] > c or (not selection and b[0] != c) for b, c in zip(stage, ins)):
            raise cfg_error(arch, allowed, cfg)
    return [*stages, int(cfg[3])]


def _arch_default_cfg(arch: str, width: float) -> list:
    """The unpruned cfg of the PreResNet ``arch`` (a key of ``ARCHS``)."""
    bottleneck, n, _, _ = ARCHS[arch]
    return preresnet_default_cfg(bottleneck, n, width)


def build_preresnet(arch: str, num_classes: int, cfg: Any, width: float) -> PreResNet:
    """The PreResNet ``arch`` (a key of ``ARCHS``) with its cfg checked (None: the default)."""
    bottleneck, n, bn_gamma, selection = ARCHS[arch]
    if cfg is None:
        cfg = preresnet_default_cfg(bottleneck, n, width)
    else:
        cfg = _check_cfg(arch, bottleneck, n, width, cfg, selection)
    return PreResNet(arch, cfg, num_classes, width, bottleneck, bn_gamma, selection)


@register_model("preresnet56", default_cfg=partial(_arch_default_cfg, "preresnet56"))
def preresnet56(num_classes: int, cfg: Any, width: float) -> PreResNet:
    """PreResNet-56 of Table 13, the Network Slimming layout at depth 56 (its code: n = (56 - 2) // 9 = 6
    bottlenecks per stage, BN gamma 0.5, selections)."""
    return build_preresnet("preresnet56", num_classes, cfg, width)


@register_model("preresnet110", default_cfg=partial(_arch_default_cfg, "preresnet110"))
def preresnet110(num_classes: int, cfg: Any, width: float) -> PreResNet:
    """PreResNet-110 of Table 6 (12 bottlenecks per stage, BN gamma 1, no channel selection)."""
    return build_preresnet("preresnet110", num_classes, cfg, width)


@register_model("preresnet164", default_cfg=partial(_arch_default_cfg, "preresnet164"))
def preresnet164(num_classes: int, cfg: Any, width: float) -> PreResNet:
    """PreResNet-164, the Network Slimming layout (18 bottlenecks per stage, BN gamma 0.5, selections)."""
    return build_preresnet("preresnet164", num_classes, cfg, width)
