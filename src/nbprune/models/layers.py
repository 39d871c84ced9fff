"""Building blocks shared by the model families: the ``ChannelSelection`` layer (and reading / setting the
channels it keeps), the CIFAR weight init, the ``bn_gamma`` check and the identity every model records."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

__all__ = [
    "CONV_INITS",
    "ChannelSelection",
    "check_gamma",
    "init_weights",
    "selections_of",
    "set_identity",
    "set_selections",
]


def set_identity(model: nn.Module, arch: str, cfg: Any, num_classes: int, width: float) -> None:
    """Record the attributes every created model carries (read by ``model_spec``)."""
    model.arch = arch
    model.cfg = cfg
    model.num_classes = num_classes
    model.width = width


def check_gamma(bn_gamma: Any) -> float:
    """The ``bn_gamma`` model kwarg (BatchNorm2d weight init), checked: a finite number > 0."""
    if isinstance(bn_gamma, bool) or not isinstance(bn_gamma, (int, float)) or not math.isfinite(bn_gamma) or bn_gamma <= 0:
        raise ValueError(f"bn_gamma: must be a finite number > 0, got {bn_gamma!r}")
    return float(bn_gamma)


CONV_INITS = ("fan_out", "fan_in")  # the fan of init_weights' conv std: k*k*C_out (default) or k*k*C_in


def init_weights(model: nn.Module, bn_gamma: float, conv_init: str = "fan_out") -> None:
    """He init for convs, std sqrt(2 / (k*k*C_out)) (``conv_init="fan_in"``: sqrt(2 / (k*k*C_in)), the
    weight-level code's VGG), conv biases zero; N(0, 0.01) Linear, BatchNorm2d gamma/beta.

    BatchNorm1d keeps PyTorch's default (gamma 1, beta 0), as in the L1-norm reference code.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan = m.kernel_size[0] * m.kernel_size[1] * (m.in_channels if conv_init == "fan_in" else m.out_channels)
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, bn_gamma)
            nn.init.zeros_(m.bias)


class ChannelSelection(nn.Module):
    """Keeps the input channels listed in the ``indices`` buffer (default: the first ``kept``)."""

    def __init__(self, kept: int) -> None:
        super().__init__()
        self.register_buffer("indices", torch.arange(kept))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.indices)


def selections_of(model: nn.Module) -> dict[str, list[int]]:
    """Module name -> kept input-channel indices of every ``ChannelSelection`` that does not read its first k
    channels (the ones a model rebuilt from its cfg alone would get wrong)."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, ChannelSelection):
            idx = m.indices.tolist()
            if idx != list(range(len(idx))):
                out[name] = idx
    return out


def set_selections(model: nn.Module, selections: dict[str, list[int]]) -> None:
    """Make each named ``ChannelSelection`` read the given input channels (as many as it keeps, distinct)."""
    modules = dict(model.named_modules())
    for name, idx in selections.items():
        m = modules.get(name)
        if not isinstance(m, ChannelSelection):
            raise ValueError(f"selections: {name!r} is not a ChannelSelection of {getattr(model, 'arch', 'the model')}")
        if len(idx) != m.indices.numel() or len(set(idx)) != len(idx) or any(
                not isinstance(i, int) or i < 0 for i in idx):
            raise ValueError(f"selections: {name!r} must list {m.indices.numel()} distinct channel indices >= 0, "
                             f"got {len(idx)}")
        m.indices.copy_(torch.tensor(idx, dtype=m.indices.dtype))
