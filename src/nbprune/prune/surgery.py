"""Channel surgery: physically remove channels from the CIFAR and ImageNet model families.

A *unit* is a group of channels that structured pruning may shrink, named after the module that decides
its channels: the conv producing them, or the ``ChannelSelection`` choosing them from a wider stream. Each
family enumerates its own units (``channel_units=`` of its :func:`~nbprune.models.registry.register_family`,
in its module); the layouts of the registered families:

* VGG: every conv, ``features.<i>`` (its BN follows; the next conv, or the first Linear of the head,
  reads it). The hidden Linear of the ``"mlp"`` head is not a unit.
* ResNet: the first conv of every BasicBlock, ``layer<s>.<b>.conv1`` (``bn1``; read by ``conv2``).
  The block outputs are tied together by the residual additions and are not units.
* PreResNet: per block the input selection ``layer<s>.<b>.select`` (channels of the block's ``bn1``
  output that feed ``conv1``; the residual keeps full width), ``layer<s>.<b>.conv1`` (``bn2``) and,
  for bottleneck blocks, ``layer<s>.<b>.conv2`` (``bn3``); the selection after the final BN, ``select``
  (read by ``fc``).
* DenseNet: per layer the input selection ``dense<i>.<j>.select`` and, for bottleneck (BC) layers,
  ``dense<i>.<j>.conv1`` (``bn2``); the transition input selections ``trans<i>.select`` and the final
  ``select``. Transition outputs are fixed by the compression and are not units.
* ImageNet VGG: every conv, ``features.<i>`` (its BN follows, or none with ``batch_norm=False``; read by
  the next conv, or by ``classifier.0``, which sees each channel as 7 x 7 = 49 consecutive input
  features after the adaptive pool and flatten: ``Unit.consumer_block``).
* ImageNet ResNet-34: ``layer<s>.<b>.conv1`` (``bn1``; read by ``conv2``); ResNet-50 also
  ``layer<s>.<b>.conv2`` (``bn2``; read by ``conv3``). Block outputs (and the downsample shortcuts) are
  tied by the residual additions and are not units.

A unit's channels are numbered ``0 .. size-1`` in the order they flow through the model *now*: for a
selection unit these are positions in the selection's current ``indices`` (which themselves index the
full-width BN), so pruning an already pruned model composes the selections.

:func:`prune_channels` builds a new, smaller model of the same family with ``create_model`` and copies
the kept weights into it. Every unit must keep at least one channel: an empty kept set raises
``ValueError`` naming the unit (methods that may empty a layer, such as Network Slimming, choose the
channel to keep themselves). ``<name>_mask`` buffers of unstructured pruning are not carried over.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nbprune.choices import unknown_choice
from nbprune.models import create_model, family_of, model_spec
from nbprune.models.units import Unit

__all__ = ["Unit", "block_indices", "channel_units", "prune_channels", "pruned_cfg", "unit_gamma"]


def channel_units(model: nn.Module) -> dict[str, Unit]:
    """The prunable channel groups of a model, in forward order, as its family enumerates them (the
    ``channel_units`` of :func:`nbprune.models.registry.register_family`); a ValueError naming ``model`` when its
    family registers none (or no family claims it)."""
    return dict(family_of(model).require("channel_units")(model))


def unit_gamma(model: nn.Module, unit: Unit) -> torch.Tensor:
    """The BatchNorm scale factors of ``unit``'s channels, in the unit's channel order (detached)."""
    if unit.bn is None:
        raise ValueError(f"unit: {unit.conv!r} has no BatchNorm (a model built with batch_norm=False), "
                         f"so its channels have no scale factor")
    gamma = model.get_submodule(unit.bn).weight.detach()
    if unit.select is None:
        return gamma
    return gamma[model.get_submodule(unit.select).indices]


def block_indices(idx: torch.Tensor, block: int) -> torch.Tensor:
    """The input features of kept channels ``idx`` when every channel spans ``block`` consecutive features."""
    if block == 1:
        return idx
    offsets = torch.arange(block, device=idx.device)
    return (idx[:, None] * block + offsets).flatten()


def _as_indices(name: str, value: Any, size: int) -> torch.Tensor:
    """``value`` checked as the kept channels of unit ``name``: a sorted, unique, in-range, non-empty index list."""
    what = f"keep[{name!r}]"
    try:
        t = torch.as_tensor(value).detach()
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(f"{what}: must be a 1-D list or tensor of channel indices; got {value!r}") from err
    if t.dim() == 1 and t.numel() == 0:
        raise ValueError(
            f"{what}: keeps no channel; every unit must keep at least one (a pruning method that can empty "
            f"a layer must choose the channel to keep, e.g. its highest-scoring one)"
        )
    if t.dtype == torch.bool or t.is_floating_point() or t.is_complex() or t.dim() != 1:
        raise ValueError(f"{what}: must be a 1-D integer list or tensor of channel indices; got {value!r}")
    t = t.to("cpu", torch.long)
    if bool((t[1:] <= t[:-1]).any()):
        raise ValueError(f"{what}: indices must be sorted and unique; got {t.tolist()}")
    if int(t[0]) < 0 or int(t[-1]) >= size:
        raise ValueError(f"{what}: indices must lie in [0, {size}) (the unit's {size} channels); got {t.tolist()}")
    return t


def _check_keep(units: dict[str, Unit], keep: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Every unit's kept channels (all of them for units missing from ``keep``), validated."""
    if not isinstance(keep, Mapping):
        raise ValueError(f"keep: must be a mapping of unit name -> kept channel indices; got {type(keep).__name__}")
    for name in keep:
        if name not in units:
            raise unknown_choice("keep", name, list(units))
    return {
        name: _as_indices(name, keep[name], unit.size) if name in keep else torch.arange(unit.size)
        for name, unit in units.items()
    }


def _set_widths(model: nn.Module, units: dict[str, Unit], widths: Mapping[str, int]) -> Any:
    cfg = copy.deepcopy(model.cfg)
    for name, unit in units.items():
        entry = cfg
        for i in unit.cfg_index[:-1]:
            entry = entry[i]
        entry[unit.cfg_index[-1]] = int(widths[name])
    return cfg


def pruned_cfg(model: nn.Module, keep: Mapping[str, Any]) -> Any:
    """The cfg of ``model`` after keeping the given channels (same checks as :func:`prune_channels`)."""
    units = channel_units(model)
    kept = _check_keep(units, keep)
    return _set_widths(model, units, {name: idx.numel() for name, idx in kept.items()})


@torch.no_grad()
def prune_channels(model: nn.Module, keep: Mapping[str, Any]) -> nn.Module:
    """A new, physically smaller model keeping, per unit, the channel indices in ``keep``.

    Units missing from ``keep`` keep all their channels; indices must be sorted, unique, in range and
    non-empty (``ValueError`` naming the unit otherwise, and for unknown unit names). The producing conv
    keeps the listed filters, the BN (or the channel selection, composed with its current indices) the
    listed channels, and the consumers the matching input channels; everything else is copied as is.
    ``model`` is not modified; the result has its device, dtype and train/eval mode.
    """
    units = channel_units(model)
    kept = _check_keep(units, keep)
    cfg = _set_widths(model, units, {name: idx.numel() for name, idx in kept.items()})
    ref = next(model.parameters())
    new = create_model(**{**model_spec(model), "cfg": cfg}).to(device=ref.device, dtype=ref.dtype)

    dims: dict[str, dict[int, torch.Tensor]] = {}  # module -> {tensor dim: kept indices along it}
    selections: dict[str, torch.Tensor] = {}  # ChannelSelection -> its new indices
    for name, unit in units.items():
        idx = kept[name].to(ref.device)
        if unit.conv is not None:
            dims.setdefault(unit.conv, {})[0] = idx
        if unit.select is not None:
            selections[unit.select] = model.get_submodule(unit.select).indices[idx]
        elif unit.bn is not None:
            dims.setdefault(unit.bn, {})[0] = idx
        for consumer in unit.consumers:
            dims.setdefault(consumer, {})[1] = block_indices(idx, unit.consumer_block)

    for mod_name, new_mod in new.named_modules():
        old_mod = model.get_submodule(mod_name)
        tensors = [*new_mod.named_parameters(recurse=False), *new_mod.named_buffers(recurse=False)]
        for attr, target in tensors:
            if attr == "indices" and mod_name in selections:
                source = selections[mod_name]
            else:
                source = getattr(old_mod, attr).detach()
                for dim, idx in dims.get(mod_name, {}).items():
                    if source.dim() > dim:
                        source = source.index_select(dim, idx)
            target.copy_(source)
    return new.train(model.training)
