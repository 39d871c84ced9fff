"""Channel units: the groups of channels structured pruning may shrink, as a model family enumerates them.

A leaf of :mod:`nbprune.models` (it imports no family): each family module describes its units with
:func:`conv_unit` and :func:`selection_unit` in a generator it registers with
:func:`nbprune.models.registry.register_family` (``channel_units=``), and
:func:`nbprune.prune.surgery.channel_units` reads them from the family's registration. The unit layouts of
the families are listed in :mod:`nbprune.prune.surgery`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from torch import nn

__all__ = ["Unit", "UnitsFn", "conv_unit", "selection_unit"]


@dataclass(frozen=True)
class Unit:
    """One prunable channel group of a model."""

    size: int  # channels the unit has now
    conv: str | None  # the conv producing the channels (None: chosen from a wider stream by ``select``)
    bn: str | None  # the BatchNorm normalising them (full width when ``select`` is set; None: no BN)
    select: str | None  # the ChannelSelection choosing them from ``bn``'s output, if any
    consumers: tuple[str, ...]  # modules (conv / Linear) reading them as input channels
    cfg_index: tuple[int, ...]  # where the unit's width sits in ``model.cfg``
    consumer_block: int = 1  # consecutive input features per channel in the consumers (a Linear after a pool)


# a family's unit enumeration: model -> (unit name, unit) pairs in forward order
UnitsFn = Callable[[nn.Module], Iterator[tuple[str, Unit]]]


def conv_unit(model: nn.Module, prefix: str, conv: str, bn: str | None, consumer: str, cfg_index: tuple[int, ...],
              block: int = 1) -> Unit:
    """The unit of the channels produced by ``prefix + conv``, normalised by ``bn``, read by ``consumer``."""
    size = model.get_submodule(f"{prefix}{conv}").out_channels
    bn_name = None if bn is None else f"{prefix}{bn}"
    return Unit(size, f"{prefix}{conv}", bn_name, None, (f"{prefix}{consumer}",), cfg_index, block)


def selection_unit(model: nn.Module, prefix: str, bn: str, consumer: str, cfg_index: tuple[int, ...]) -> Unit:
    """The unit of the channels ``prefix + "select"`` keeps from ``bn``'s output for ``consumer``."""
    name = f"{prefix}select"
    size = model.get_submodule(name).indices.numel()
    return Unit(size, None, f"{prefix}{bn}", name, (f"{prefix}{consumer}",), cfg_index)
