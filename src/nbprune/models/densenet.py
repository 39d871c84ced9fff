"""CIFAR DenseNets: DenseNet-40 (growth 12, 3 blocks of 12 layers, no bottleneck, compression 1) and
DenseNet-BC-100 (growth 12, 3 blocks of 16 bottleneck layers, compression 0.5), slimming layout.

Every BN that feeds a conv is followed by a ChannelSelection (``indices`` buffer of kept channels,
default the first k_in), so Network Slimming can prune the concatenated input of each layer, each
transition and the final BN, while the concatenated feature maps keep their full width.
A layer is BN-select-ReLU-conv3x3(k_in->growth) (basic) or BN-select-ReLU-conv1x1(k_in->c_mid)-BN-
ReLU-conv3x3(c_mid->growth) (bottleneck), its output concatenated to its input. A transition is
BN-select-ReLU-conv1x1(k_in->floor(c*compression))-AvgPool2d(2), c its full input width.

cfg format: ``[block1, block2, block3]``; each block lists one entry per layer, ``[k_in]`` (basic) or
``[k_in, c_mid]`` (bottleneck), then one closing ``[k_in]`` entry: the transition after the block,
or, for block 3, the channels kept after the final BN (the Linear's input). Default DenseNet-40:
``[[[24], [36], ..., [156], [168]], [[168], ..., [312]], [[312], ..., [456]]]``.
Growth 12, initial width 24 and bottleneck width 48 scale with ``width``. BN gamma init 0.5 (the slimming
code) or the kwarg ``bn_gamma`` (1 in the weight-level code of Table 6).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from nbprune.models.layers import ChannelSelection, check_gamma, init_weights, set_identity
from nbprune.models.registry import register_family, register_model
from nbprune.models.units import Unit, conv_unit, selection_unit
from nbprune.models.widths import cfg_error, int_list, scale


@dataclass(frozen=True)
class DenseSpec:
    """Depth-defining hyper-parameters of a DenseNet."""

    layers: int
    bottleneck: bool
    compression: float


ARCHS = {
    "densenet40": DenseSpec(layers=12, bottleneck=False, compression=1.0),
    "densenet-bc-100": DenseSpec(layers=16, bottleneck=True, compression=0.5),
}
GROWTH, INIT_WIDTH, BOTTLENECK_WIDTH = 12, 24, 48


class DenseLayer(nn.Module):
    """BN-select-ReLU-conv3x3 (basic) or BN-select-ReLU-conv1x1-BN-ReLU-conv3x3 (bottleneck); concat."""

    def __init__(self, c_in: int, widths: list[int], growth: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.select = ChannelSelection(widths[0])
        self.relu = nn.ReLU(inplace=True)
        if len(widths) == 2:
            self.conv1 = nn.Conv2d(widths[0], widths[1], 1, bias=False)
            self.bn2 = nn.BatchNorm2d(widths[1])
            self.conv2 = nn.Conv2d(widths[1], growth, 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(widths[0], growth, 3, 1, 1, bias=False)
            self.bn2 = self.conv2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(self.relu(self.select(self.bn1(x))))
        if self.conv2 is not None:
            out = self.conv2(self.relu(self.bn2(out)))
        return torch.cat((x, out), 1)


class Transition(nn.Module):
    """BN-select-ReLU-conv1x1(k_in->c_out)-AvgPool2d(2)."""

    def __init__(self, c_in: int, k_in: int, c_out: int) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.select = ChannelSelection(k_in)
        self.relu = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(k_in, c_out, 1, bias=False)
        self.pool = nn.AvgPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.conv1(self.relu(self.select(self.bn1(x)))))


def _input_widths(spec: DenseSpec, width: float) -> list[list[int]]:
    """Full input width of every layer and closing BN, per block (the cfg's k_in upper bounds)."""
    growth, c = scale(GROWTH, width), scale(INIT_WIDTH, width)
    out = []
    for _ in range(3):
        out.append([c + j * growth for j in range(spec.layers + 1)])
        c = math.floor(out[-1][-1] * spec.compression)
    return out


class DenseNet(nn.Module):
    """Stem conv3x3, dense1, trans1, dense2, trans2, dense3, BN-select-ReLU, AvgPool2d(8), Linear."""

    def __init__(self, arch: str, cfg: list, num_classes: int, width: float, spec: DenseSpec,
                 bn_gamma: float = 0.5) -> None:
        super().__init__()
        growth = scale(GROWTH, width)
        inputs = _input_widths(spec, width)
        self.conv1 = nn.Conv2d(3, inputs[0][0], 3, 1, 1, bias=False)
        dense, trans = [], []
        for i, (block_cfg, ins) in enumerate(zip(cfg, inputs)):
            dense.append(nn.Sequential(*(DenseLayer(c, w, growth) for c, w in zip(ins, block_cfg[:-1]))))
            if i < 2:
                trans.append(Transition(ins[-1], block_cfg[-1][0], inputs[i + 1][0]))
        self.dense1, self.dense2, self.dense3 = dense
        self.trans1, self.trans2 = trans
        k_final = cfg[2][-1][0]
        self.bn = nn.BatchNorm2d(inputs[2][-1])
        self.select = ChannelSelection(k_final)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AvgPool2d(8)
        self.fc = nn.Linear(k_final, num_classes)
        init_weights(self, bn_gamma=bn_gamma)
        set_identity(self, arch, cfg, num_classes, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.trans1(self.dense1(self.conv1(x)))
        x = self.dense3(self.trans2(self.dense2(x)))
        x = self.relu(self.select(self.bn(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def densenet_default_cfg(spec: DenseSpec, width: float) -> list:
    """Unpruned cfg (see the module docstring)."""
    mid = [scale(BOTTLENECK_WIDTH, width)] if spec.bottleneck else []
    return [[[c, *mid] for c in ins[:-1]] + [[ins[-1]]] for ins in _input_widths(spec, width)]


def _check_cfg(arch: str, spec: DenseSpec, width: float, cfg: Any) -> list:
    inputs = _input_widths(spec, width)
    layer = "[k_in, c_mid]" if spec.bottleneck else "[k_in]"
    allowed = (
        f"3 lists (one per dense block) of {spec.layers} layer entries {layer} then one closing [k_in], "
        f"positive ints with k_in <= the full input widths {[[ins[0], ins[-1]] for ins in inputs]} (first..last)"
    )
    ok = isinstance(cfg, (list, tuple)) and len(cfg) == 3
    ok = ok and all(isinstance(b, (list, tuple)) and len(b) == spec.layers + 1 for b in cfg)
    if not ok:
        raise cfg_error(arch, allowed, cfg)
    n_layer = 2 if spec.bottleneck else 1
    blocks = [[int_list(e, n, n) for e, n in zip(b, [n_layer] * spec.layers + [1])] for b in cfg]
    for block, ins in zip(blocks, inputs):
        if any(e is None or e[0] > c for e, c in zip(block, ins)):
            raise cfg_error(arch, allowed, cfg)
    return blocks


def densenet_channel_units(model: DenseNet) -> Iterator[tuple[str, Unit]]:
    """Per layer the input selection ``dense<i>.<j>.select`` and, for bottleneck (BC) layers,
    ``dense<i>.<j>.conv1`` (``bn2``); the transition input selections ``trans<i>.select`` and the final
    ``select``. Transition outputs are fixed by the compression and are not units."""
    for i, dense in enumerate((model.dense1, model.dense2, model.dense3)):
        for j, layer in enumerate(dense):
            p = f"dense{i + 1}.{j}."
            yield f"{p}select", selection_unit(model, p, "bn1", "conv1", (i, j, 0))
            if layer.conv2 is not None:  # BC bottleneck
                yield f"{p}conv1", conv_unit(model, p, "conv1", "bn2", "conv2", (i, j, 1))
        if i < 2:
            yield f"trans{i + 1}.select", selection_unit(model, f"trans{i + 1}.", "bn1", "conv1", (i, len(dense), 0))
    yield "select", selection_unit(model, "", "bn", "fc", (2, len(model.dense3), 0))


register_family("densenet", DenseNet, tuple(ARCHS),
                paper_names={"densenet40": "DenseNet-40", "densenet-bc-100": "DenseNet-BC-100"},
                slimming_penalty=1e-5, channel_units=densenet_channel_units)


def build_densenet(arch: str, num_classes: int, cfg: Any, width: float, bn_gamma: float) -> DenseNet:
    """The DenseNet ``arch`` (a key of ``ARCHS``) with the factory arguments checked."""
    spec = ARCHS[arch]
    cfg = densenet_default_cfg(spec, width) if cfg is None else _check_cfg(arch, spec, width, cfg)
    return DenseNet(arch, cfg, num_classes, width, spec, check_gamma(bn_gamma))


@register_model("densenet40", default_cfg=partial(densenet_default_cfg, ARCHS["densenet40"]))
def densenet40(num_classes: int, cfg: Any, width: float, bn_gamma: float = 0.5) -> DenseNet:
    """DenseNet-40 (growth 12, 12 basic layers per block, compression 1)."""
    return build_densenet("densenet40", num_classes, cfg, width, bn_gamma)


@register_model("densenet-bc-100", default_cfg=partial(densenet_default_cfg, ARCHS["densenet-bc-100"]))
def densenet_bc_100(num_classes: int, cfg: Any, width: float, bn_gamma: float = 0.5) -> DenseNet:
    """DenseNet-BC-100 (growth 12, 16 bottleneck layers per block, compression 0.5)."""
    return build_densenet("densenet-bc-100", num_classes, cfg, width, bn_gamma)
