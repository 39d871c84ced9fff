"""ImageNet VGG-11/16 and ResNet-34/50 in torchvision's layout (random init, never downloaded weights).

Both families take an explicit cfg of the widths structured pruning changes; the default cfg is
torchvision's, and with it the model has exactly torchvision's modules, parameter names and shapes
(``state_dict`` keys line up with ``torchvision.models.vgg16_bn`` / ``resnet50`` ...). ``width`` must be 1.

VGG (``imagenet-vgg11``, ``imagenet-vgg16``): cfg is the CIFAR VGG format, a flat list of conv widths
with ``"M"`` for a 2x2 max-pool, e.g. VGG-16 ``[64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512,
512, "M", 512, 512, 512]``; torchvision's final max-pool (after the last conv) is always there and is not
written. An explicit cfg must have the default's length with ``"M"`` at the same positions. Modules:
``features`` (3x3 conv with bias [+ BN] + ReLU per width, as torchvision's ``make_layers``), ``avgpool``
(adaptive, to 7x7), ``classifier`` (Linear(c_last*7*7, 4096)-ReLU-Dropout-Linear(4096, 4096)-ReLU-
Dropout-Linear(4096, classes)); the first Linear reads the last conv's channels, 49 positions each.
Kwarg ``batch_norm`` (default True: VGG-11-BN is the slimming model, VGG-16-BN the weight-level one;
``batch_norm=False`` gives the plain VGG-16 of ThiNet and the regression-based method).

ResNet (``imagenet-resnet34``: BasicBlocks 3/4/6/3; ``imagenet-resnet50``: Bottlenecks 3/4/6/3): cfg is
``[stage1, stage2, stage3, stage4]``, one entry per block (no block can be removed): ResNet-34 the width
of the block's ``conv1`` (its ``conv2`` reads it), e.g. default ``[[64]*3, [128]*4, [256]*6, [512]*3]``;
ResNet-50 ``[conv1, conv2]`` widths (``conv2`` reads ``conv1``, ``conv3`` reads ``conv2``), default
``[[[64, 64]]*3, [[128, 128]]*4, [[256, 256]]*6, [[512, 512]]*3]``. Block outputs (stem, conv2 of a
BasicBlock, conv3 of a Bottleneck, the downsample shortcuts) are tied by the residual additions and stay
at torchvision's full width. The model is torchvision's ``ResNet`` with the narrowed convs and BNs
replaced (initialised as torchvision does: convs He-normal fan-out, BN gamma 1 / beta 0).

Named targets (the base family is the model's ``arch``):

* ``imagenet-resnet34-a`` / ``-b``: L1-norm filter pruning (Li et al. 2017). Only the first conv of a
  BasicBlock is pruned, keeping ``int(C * (1 - p))`` of its C filters with the stage's p:
  A [0.3, 0.3, 0.3, 0.0], B [0.5, 0.6, 0.4, 0.0]; conv ids [2, 8, 14, 16, 26, 28, 30, 32] are skipped.
  Conv-id reading (as for the CIFAR ResNet-56): ids count the 7x7 stem (id 1) and every 3x3 conv in
  forward order, *not* the 1x1 downsample convs, so block j (0..15 over the whole network) has its first
  conv at id 2 + 2j and its second at 3 + 2j; stages hold ids <= 7 / <= 15 / <= 27 / <= 33 (first convs
  2-6 / 8-14 / 16-26 / 28-32). The skipped ids are then the first block of stages 1-3, the last block
  of stages 2 and 3, and every block of stage 4 (p = 0 there anyway).
* ``imagenet-vgg16-conv``: ThiNet VGG-Conv (Luo et al. 2017): conv1_1 .. conv4_3 keep half their
  filters, conv5_x and the FC layers untouched.
* ``imagenet-resnet50-30`` / ``-50`` / ``-70``: ThiNet ResNet50-30%/50%/70%: ``conv1`` and ``conv2`` of
  every Bottleneck keep ``int(w * r)`` of their w filters (r = 0.3 / 0.5 / 0.7); ``conv3`` unchanged.
* ``imagenet-vgg16-5x``: regression-based pruning (He et al. 2017), cfg
  ``[24, 22, "M", 41, 51, "M", 108, 89, 111, "M", 184, 276, 228, "M", 512, 512, 512]``.

* ``imagenet-vgg16-gap`` / ``imagenet-vgg16-tiny``: ThiNet's VGG-GAP and VGG-Tiny (Luo et al. 2017), as the
  paper's authors trained them from scratch (``imagenet/thinet`` of their code): the convs of
  ``[32, 32, M, 64, 64, M, 128, 128, 128, M, 256, 256, 256, M, 512, 512, 512]`` (GAP) and ``[16, 16, M, 32, 32,
  M, 64, 64, 64, M, 128, 128, 128, M, 128, 128, 256]`` (Tiny), then no final max-pool, a global average
  pool and a single Linear (``head="gap"``): the FC layers are gone, which is what saves ThiNet-Tiny's 100x
  parameters.
* ``imagenet-resnet50-2x``: regression-based ResNet-50-2x (He et al. 2017), as the authors' ``resnet_2x``:
  every Bottleneck reads only some of its input channels (a ``ChannelSelection`` before ``conv1``) and has
  narrower ``conv1`` / ``conv2``; its cfg entries are ``[kept inputs, conv1, conv2]`` triples (the widths of
  the authors' ``cfg_2x``). Which input channels each block keeps is the pruned model's (``selections``);
  a model built from the cfg alone reads the first ones, which for training from scratch is the same
  architecture.

* ``imagenet-resnet41`` / ``-32`` / ``-26``: Sparse Structure Selection's ResNet-50s (Huang & Wang 2018) as the
  paper's authors describe them (``imagenet/sparse-structure-selection`` of their code): some Bottlenecks'
  residual branches removed, written ``[]`` in the cfg; a removed block computes ``relu(downsample(x))`` when it
  is a stage's first (its downsampling shortcut stays) and ``x`` otherwise. Blocks kept per stage: ResNet-41
  0/4/6/3 (every first block but stage 1's kept), ResNet-32 1/4/4/1 (stage 1's first removed), ResNet-26
  0/2/5/1 (the first blocks of stages 1-3 removed). Which of a stage's identity blocks are kept does not change
  the architecture; the first ones after the stage's first block are.

The VGG-16 ThiNet / regression targets default to ``batch_norm=False`` (the plain VGG-16 of those papers);
pass ``batch_norm=True`` for the BN variant.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any

import torch
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from nbprune.models.layers import ChannelSelection, set_identity
from nbprune.models.registry import register_family, register_model, register_target
from nbprune.models.units import Unit, conv_unit
from nbprune.models.vgg import check_vgg_cfg
from nbprune.models.widths import cfg_error, int_list

__all__ = [
    "IMAGENET_TARGETS",
    "ImageNetResNet",
    "ImageNetVGG",
    "RESNET34_L1",
    "imagenet_default_cfg",
    "resnet34_l1_cfg",
    "resnet50_thinet_cfg",
]

VGG_CFGS: dict[str, list[int | str]] = {  # torchvision's "A" / "D" configurations without the final "M"
    "imagenet-vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512],
    "imagenet-vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512],
}
STAGE_WIDTHS = (64, 128, 256, 512)
RESNET_BLOCKS: dict[str, tuple[type[nn.Module], tuple[int, ...]]] = {
    "imagenet-resnet34": (BasicBlock, (3, 4, 6, 3)),
    "imagenet-resnet50": (Bottleneck, (3, 4, 6, 3)),
}
POOL = (7, 7)  # the adaptive average pool before VGG's classifier
HIDDEN = 4096  # VGG's FC width

RESNET34_L1: dict[str, tuple[tuple[int, ...], tuple[float, float, float, float]]] = {
    "imagenet-resnet34-a": ((2, 8, 14, 16, 26, 28, 30, 32), (0.3, 0.3, 0.3, 0.0)),
    "imagenet-resnet34-b": ((2, 8, 14, 16, 26, 28, 30, 32), (0.5, 0.6, 0.4, 0.0)),
}
THINET_RESNET50 = {"imagenet-resnet50-30": 0.3, "imagenet-resnet50-50": 0.5, "imagenet-resnet50-70": 0.7}
VGG16_CONV = [32, 32, "M", 64, 64, "M", 128, 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
VGG16_5X = [24, 22, "M", 41, 51, "M", 108, 89, 111, "M", 184, 276, 228, "M", 512, 512, 512]
VGG16_GAP = [32, 32, "M", 64, 64, "M", 128, 128, 128, "M", 256, 256, 256, "M", 512, 512, 512]
VGG16_TINY = [16, 16, "M", 32, 32, "M", 64, 64, 64, "M", 128, 128, 128, "M", 128, 128, 256]
VGG_HEADS = ("fc", "gap")  # torchvision's three FC layers on a 7x7 pool, or a global average pool + one Linear
# ResNet-50-2x (He et al. 2017): [kept block inputs, conv1, conv2] per Bottleneck, the authors' cfg_2x
R50 = {64: [64, 64], 128: [128, 128], 256: [256, 256], 512: [512, 512]}  # a Bottleneck kept at full width


def _sss(counts: tuple[tuple[int, bool], ...]) -> list[list[list[int]]]:
    """A Sparse Structure Selection ResNet-50 cfg from (blocks kept, first block kept) per stage; the kept
    identity blocks are the first after the stage's first block; removed blocks are ``[]``."""
    cfg = []
    for (kept, first), w, n in zip(counts, STAGE_WIDTHS, RESNET_BLOCKS["imagenet-resnet50"][1]):
        others = kept - first
        cfg.append([list(R50[w]) if first else []] + [list(R50[w]) if i < others else [] for i in range(n - 1)])
    return cfg


SSS_RESNET50 = {  # the authors' ``config.units`` for SSS's pruned ResNet-50s: (blocks kept, first block kept)
    "imagenet-resnet41": ((0, False), (4, True), (6, True), (3, True)),
    "imagenet-resnet32": ((1, False), (4, True), (4, True), (1, True)),
    "imagenet-resnet26": ((0, False), (2, False), (5, False), (1, True)),
}
RESNET50_2X = [[35, 64, 55], [101, 51, 39], [97, 50, 37], [144, 128, 106], [205, 105, 72], [198, 105, 72],
               [288, 128, 110], [278, 256, 225], [418, 209, 147], [407, 204, 158], [423, 212, 155], [412, 211, 148],
               [595, 256, 213], [606, 512, 433], [1222, 512, 437], [1147, 512, 440]]


# ---- cfgs ------------------------------------------------------------------------------------------------
def imagenet_default_cfg(arch: str) -> Any:
    """torchvision's widths in ``arch``'s cfg format (a fresh copy)."""
    if arch in VGG_CFGS:
        return list(VGG_CFGS[arch])
    block, counts = RESNET_BLOCKS[arch]
    if block is BasicBlock:
        return [[w] * n for w, n in zip(STAGE_WIDTHS, counts)]
    return [[[w, w] for _ in range(n)] for w, n in zip(STAGE_WIDTHS, counts)]


def _check_vgg_cfg(arch: str, cfg: Any) -> list[int | str]:
    return check_vgg_cfg(arch, cfg, VGG_CFGS[arch], " (conv widths; the final max-pool is implied)")


def _check_resnet_cfg(arch: str, cfg: Any) -> list[list[Any]]:
    block, counts = RESNET_BLOCKS[arch]
    counts_text = ", ".join(map(str, counts))
    if block is BasicBlock:
        allowed = f"4 lists (one per stage) of {counts_text} positive ints (each BasicBlock's conv1 width)"
    else:
        allowed = (f"4 lists (one per stage) of {counts_text} [conv1, conv2] pairs of positive ints "
                   f"(each Bottleneck's inner widths), [kept inputs, conv1, conv2] triples (kept inputs at most "
                   f"the block's input channels) or [] (a removed residual branch)")
    if not isinstance(cfg, (list, tuple)) or len(cfg) != len(counts):
        raise cfg_error(arch, allowed, cfg)
    out: list[list[Any]] = []
    for stage, n in zip(cfg, counts):
        if not isinstance(stage, (list, tuple)) or len(stage) != n:
            raise cfg_error(arch, allowed, cfg)
        if block is BasicBlock:
            widths = int_list(stage, n, n)
            if widths is None:
                raise cfg_error(arch, allowed, cfg)
            out.append(widths)
        else:
            pairs = [[] if isinstance(entry, (list, tuple)) and len(entry) == 0 else int_list(entry, 3, 2)
                     for entry in stage]
            if any(p is None for p in pairs):
                raise cfg_error(arch, allowed, cfg)
            out.append(pairs)
    inputs = [64] + [4 * w for w, n in zip(STAGE_WIDTHS, counts) for _ in range(n)]  # each block's input channels
    flat = [entry for stage in out for entry in stage]
    if block is Bottleneck and any(len(e) == 3 and e[0] > c for e, c in zip(flat, inputs)):
        raise cfg_error(arch, allowed, cfg)
    return out


def resnet34_l1_cfg(skip: tuple[int, ...], ratios: tuple[float, ...]) -> list[list[int]]:
    """L1-norm ResNet-34 target: block j's conv1 (conv id 2 + 2j) keeps ``int(C * (1 - p_stage))`` unless skipped."""
    cfg, j = [], 0
    for c, n, p in zip(STAGE_WIDTHS, RESNET_BLOCKS["imagenet-resnet34"][1], ratios):
        stage = []
        for _ in range(n):
            stage.append(c if 2 + 2 * j in skip else max(1, int(c * (1 - p))))
            j += 1
        cfg.append(stage)
    return cfg


def resnet50_thinet_cfg(keep: float) -> list[list[list[int]]]:
    """ThiNet ResNet-50: every Bottleneck's conv1 and conv2 keep ``int(w * keep)`` filters."""
    counts = RESNET_BLOCKS["imagenet-resnet50"][1]
    return [[[int(w * keep), int(w * keep)] for _ in range(n)] for w, n in zip(STAGE_WIDTHS, counts)]


# ---- modules ---------------------------------------------------------------------------------------------
def _init_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """torchvision's conv init: He normal (fan-out, ReLU gain), zero bias."""
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    if conv.bias is not None:
        nn.init.zeros_(conv.bias)
    return conv


def _resized(conv: nn.Conv2d, c_in: int, c_out: int) -> nn.Conv2d:
    """A freshly initialised conv like ``conv`` (kernel, stride, padding, bias) with other channel counts."""
    new = nn.Conv2d(c_in, c_out, conv.kernel_size, conv.stride, conv.padding, conv.dilation, conv.groups,
                    bias=conv.bias is not None, device=conv.weight.device, dtype=conv.weight.dtype)
    return _init_conv(new)


def _bn(like: nn.BatchNorm2d, c: int) -> nn.BatchNorm2d:
    """A fresh BatchNorm2d over ``c`` channels with ``like``'s settings (gamma 1, beta 0)."""
    return nn.BatchNorm2d(c, like.eps, like.momentum, device=like.weight.device, dtype=like.weight.dtype)


class ImageNetVGG(nn.Module):
    """torchvision's VGG layout for any cfg: ``features``, ``avgpool`` (to 7x7), ``classifier``."""

    def __init__(self, arch: str, cfg: list[int | str], num_classes: int, batch_norm: bool, head: str = "fc") -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for v in [*cfg, "M"] if head == "fc" else cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                continue
            layers.append(nn.Conv2d(c_in, v, kernel_size=3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            c_in = v
        self.features = nn.Sequential(*layers)
        if head == "gap":  # ThiNet's VGG-GAP / VGG-Tiny: global average pool (14x14 at 224 px), one Linear
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Linear(c_in, num_classes))
        else:
            self.avgpool = nn.AdaptiveAvgPool2d(POOL)
            self.classifier = nn.Sequential(
                nn.Linear(c_in * POOL[0] * POOL[1], HIDDEN),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(HIDDEN, HIDDEN),
                nn.ReLU(True),
                nn.Dropout(p=0.5),
                nn.Linear(HIDDEN, num_classes),
            )
        for m in self.modules():  # torchvision's init, in the same module order
            if isinstance(m, nn.Conv2d):
                _init_conv(m)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)
        set_identity(self, arch, cfg, num_classes, 1.0)
        self.batch_norm = batch_norm
        self.extra_spec = {"batch_norm": batch_norm, **({"head": head} if head != "fc" else {})}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


class RemovedBlock(nn.Module):
    """A Bottleneck whose residual branch Sparse Structure Selection removed: its shortcut alone, then the
    block's ReLU (``relu(downsample(x))``; an identity shortcut's input is already a ReLU output: ``x``)."""

    def __init__(self, downsample: nn.Module | None) -> None:
        super().__init__()
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.downsample is None else torch.relu(self.downsample(x))


class ImageNetResNet(torchvision.models.ResNet):
    """torchvision's ResNet-34/50 with each block's inner widths set by the cfg."""

    def __init__(self, arch: str, cfg: list[list[Any]], num_classes: int) -> None:
        block, counts = RESNET_BLOCKS[arch]
        super().__init__(block, list(counts), num_classes=num_classes)
        default = imagenet_default_cfg(arch)
        for s, stage in enumerate((self.layer1, self.layer2, self.layer3, self.layer4)):
            for b, blk in enumerate(stage):
                if cfg[s][b] == default[s][b]:
                    continue
                if block is BasicBlock:
                    mid = cfg[s][b]
                    blk.conv1 = _resized(blk.conv1, blk.conv1.in_channels, mid)
                    blk.bn1 = _bn(blk.bn1, mid)
                    blk.conv2 = _resized(blk.conv2, mid, blk.conv2.out_channels)
                elif not cfg[s][b]:  # Sparse Structure Selection removed the residual branch
                    stage[b] = RemovedBlock(blk.downsample)
                else:
                    *sel, c1, c2 = cfg[s][b]
                    c_in = blk.conv1.in_channels
                    if sel and sel[0] != c_in:  # ResNet-50-2x: the block's conv1 reads sel[0] of its inputs
                        blk.conv1 = nn.Sequential(ChannelSelection(sel[0]), _resized(blk.conv1, sel[0], c1))
                    else:
                        blk.conv1 = _resized(blk.conv1, c_in, c1)
                    blk.bn1 = _bn(blk.bn1, c1)
                    blk.conv2 = _resized(blk.conv2, c1, c2)
                    blk.bn2 = _bn(blk.bn2, c2)
                    blk.conv3 = _resized(blk.conv3, c2, blk.conv3.out_channels)
        set_identity(self, arch, cfg, num_classes, 1.0)


def imagenet_vgg_channel_units(model: ImageNetVGG) -> Iterator[tuple[str, Unit]]:
    """Every conv, ``features.<i>`` (its BN follows, or none with ``batch_norm=False``; read by the next conv,
    or by ``classifier.0``, which sees each channel as 7 x 7 = 49 consecutive input features after the adaptive
    pool and flatten: ``Unit.consumer_block``)."""
    step = 3 if model.batch_norm else 2  # conv [+ BN] + ReLU
    convs: list[tuple[int, int]] = []  # (index in ``features``, cfg position)
    module = 0
    for pos, v in enumerate(model.cfg):
        if v != "M":
            convs.append((module, pos))
        module += 1 if v == "M" else step
    out_h, out_w = model.avgpool.output_size
    for i, (m, pos) in enumerate(convs):
        bn = f"features.{m + 1}" if model.batch_norm else None
        if i + 1 < len(convs):
            yield f"features.{m}", conv_unit(model, "", f"features.{m}", bn, f"features.{convs[i + 1][0]}", (pos,))
        else:  # the classifier's first Linear reads every channel at out_h * out_w positions
            yield f"features.{m}", conv_unit(model, "", f"features.{m}", bn, "classifier.0", (pos,), out_h * out_w)


def imagenet_resnet_channel_units(model: ImageNetResNet) -> Iterator[tuple[str, Unit]]:
    """ResNet-34: ``layer<s>.<b>.conv1`` (``bn1``; read by ``conv2``); ResNet-50 also ``layer<s>.<b>.conv2``
    (``bn2``; read by ``conv3``). Block outputs (and the downsample shortcuts) are tied by the residual
    additions and are not units."""
    for s, stage in enumerate((model.layer1, model.layer2, model.layer3, model.layer4)):
        for b, block in enumerate(stage):
            p = f"layer{s + 1}.{b}."
            if isinstance(block, Bottleneck):
                yield f"{p}conv1", conv_unit(model, p, "conv1", "bn1", "conv2", (s, b, 0))
                yield f"{p}conv2", conv_unit(model, p, "conv2", "bn2", "conv3", (s, b, 1))
            else:
                yield f"{p}conv1", conv_unit(model, p, "conv1", "bn1", "conv2", (s, b))


# the ImageNet models are not in the book's tables: no paper names, no slimming penalty registered
register_family("imagenet-vgg", ImageNetVGG, tuple(VGG_CFGS), channel_units=imagenet_vgg_channel_units,
                paper_names={"imagenet-vgg11": "VGG-11", "imagenet-vgg16": "VGG-16"})
register_family("imagenet-resnet", ImageNetResNet, tuple(RESNET_BLOCKS), channel_units=imagenet_resnet_channel_units,
                paper_names={"imagenet-resnet34": "ResNet-34", "imagenet-resnet50": "ResNet-50"})


# ---- registration ----------------------------------------------------------------------------------------
def _check_width(arch: str, width: float) -> None:
    if width != 1.0:
        raise ValueError(f"width: {arch} supports only width 1.0; got {width!r}")


def _fixed(name: str, width: float, cfg: Any) -> Any:
    """``cfg`` for width 1 (ImageNet models and targets have no width multiplier)."""
    _check_width(name, width)
    return cfg


def _default_cfg_at(arch: str, width: float) -> Any:
    """The default cfg of ``arch``, which exists for width 1 only."""
    return _fixed(arch, width, imagenet_default_cfg(arch))


def build_imagenet_vgg(arch: str, num_classes: int, cfg: Any, width: float, batch_norm: bool,
                       head: str = "fc") -> ImageNetVGG:
    """The ImageNet VGG ``arch`` (a key of ``VGG_CFGS``) with the factory arguments checked."""
    _check_width(arch, width)
    if not isinstance(batch_norm, bool):
        raise ValueError(f"batch_norm: must be True or False, got {batch_norm!r}")
    if head not in VGG_HEADS:
        raise ValueError(f"head: must be one of {', '.join(VGG_HEADS)}, got {head!r}")
    cfg = imagenet_default_cfg(arch) if cfg is None else _check_vgg_cfg(arch, cfg)
    return ImageNetVGG(arch, cfg, num_classes, batch_norm, head)


def build_imagenet_resnet(arch: str, num_classes: int, cfg: Any, width: float) -> ImageNetResNet:
    """The ImageNet ResNet ``arch`` (a key of ``RESNET_BLOCKS``) with the factory arguments checked."""
    _check_width(arch, width)
    cfg = imagenet_default_cfg(arch) if cfg is None else _check_resnet_cfg(arch, cfg)
    return ImageNetResNet(arch, cfg, num_classes)


@register_model("imagenet-vgg11", default_cfg=partial(_default_cfg_at, "imagenet-vgg11"))
def imagenet_vgg11(num_classes: int, cfg: Any, width: float, batch_norm: bool = True, head: str = "fc") -> ImageNetVGG:
    """torchvision's VGG-11 (``vgg11_bn`` with ``batch_norm``; ``head="gap"``: global average pool + Linear)."""
    return build_imagenet_vgg("imagenet-vgg11", num_classes, cfg, width, batch_norm, head)


@register_model("imagenet-vgg16", default_cfg=partial(_default_cfg_at, "imagenet-vgg16"))
def imagenet_vgg16(num_classes: int, cfg: Any, width: float, batch_norm: bool = True, head: str = "fc") -> ImageNetVGG:
    """torchvision's VGG-16 (``vgg16_bn`` with ``batch_norm``; ``head="gap"``: global average pool + Linear)."""
    return build_imagenet_vgg("imagenet-vgg16", num_classes, cfg, width, batch_norm, head)


@register_model("imagenet-resnet34", default_cfg=partial(_default_cfg_at, "imagenet-resnet34"))
def imagenet_resnet34(num_classes: int, cfg: Any, width: float) -> ImageNetResNet:
    """torchvision's ResNet-34 with each BasicBlock's conv1 width from the cfg."""
    return build_imagenet_resnet("imagenet-resnet34", num_classes, cfg, width)


@register_model("imagenet-resnet50", default_cfg=partial(_default_cfg_at, "imagenet-resnet50"))
def imagenet_resnet50(num_classes: int, cfg: Any, width: float) -> ImageNetResNet:
    """torchvision's ResNet-50 with each Bottleneck's conv1 / conv2 widths from the cfg."""
    return build_imagenet_resnet("imagenet-resnet50", num_classes, cfg, width)


IMAGENET_TARGETS: dict[str, tuple[str, Any, dict[str, Any]]] = {  # name -> (base, cfg, default kwargs)
    **{name: ("imagenet-resnet34", resnet34_l1_cfg(*spec), {}) for name, spec in RESNET34_L1.items()},
    "imagenet-vgg16-conv": ("imagenet-vgg16", VGG16_CONV, {"batch_norm": False}),
    **{name: ("imagenet-resnet50", resnet50_thinet_cfg(r), {}) for name, r in THINET_RESNET50.items()},
    "imagenet-vgg16-5x": ("imagenet-vgg16", VGG16_5X, {"batch_norm": False}),
    "imagenet-vgg16-gap": ("imagenet-vgg16", VGG16_GAP, {"batch_norm": False, "head": "gap"}),
    "imagenet-vgg16-tiny": ("imagenet-vgg16", VGG16_TINY, {"batch_norm": False, "head": "gap"}),
    **{name: ("imagenet-resnet50", _sss(units), {}) for name, units in SSS_RESNET50.items()},
    "imagenet-resnet50-2x": ("imagenet-resnet50",
                             [RESNET50_2X[0:3], RESNET50_2X[3:7], RESNET50_2X[7:13], RESNET50_2X[13:16]], {}),
}


def _copy(cfg: Any) -> Any:
    """A deep copy of a nested list cfg (callers may edit what they get)."""
    return [_copy(v) for v in cfg] if isinstance(cfg, list) else cfg


def _target_cfg(name: str, width: float) -> Any:
    """A fresh copy of the fixed cfg of the target ``name`` (a key of ``IMAGENET_TARGETS``), width 1 only."""
    return _fixed(name, width, _copy(IMAGENET_TARGETS[name][1]))


# every named ImageNet target: L1-norm ResNet-34-A/B (Li et al. 2017); ThiNet's VGG-Conv, VGG-GAP, VGG-Tiny and
# ResNet50-30/50/70% (Luo et al. 2017); the regression-based VGG-16-5x and ResNet-50-2x (He et al. 2017);
# Sparse Structure Selection's ResNet-41/32/26 (Huang & Wang 2018). Each fixed cfg is the table's entry above.
for _name, (_base, _, _defaults) in IMAGENET_TARGETS.items():
    register_target(_name, base=_base, **_defaults)(partial(_target_cfg, _name))
