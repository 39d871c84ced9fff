"""Structured (channel) pruning methods; their plans are applied by :mod:`nbprune.prune.surgery`.

* ``l1`` (Li et al. 2017): per unit, keep the filters with the largest sum |W| over (C_in, k, k) of the
  producing conv; the widths come from a named target (``vgg16-a``, ``resnet56-a``,
  ``imagenet-resnet34-a`` ...) or from ratios.
* ``slimming`` (Liu et al. 2017): one global threshold over |gamma| of every unit's BatchNorm channels.
* ``uniform-channels``: Section 5's uniform baseline, the same fraction removed in every unit.

Every plan lists the kept channels of every unit (all of them for untouched units), ``cfg`` is the
pruned architecture, and ``info["widths"]`` maps each unit to its kept width. Ties in a ranking go to
the lower channel index. Units named as in :func:`~nbprune.prune.surgery.channel_units`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from nbprune.choices import unknown_choice
from nbprune.models import create_model, list_targets, model_spec
from nbprune.models.imagenet import ImageNetResNet
from nbprune.models.resnet import ResNet
from nbprune.prune._checks import check_fraction, is_ratio
from nbprune.prune.plan import PrunePlan, register_method
from nbprune.prune.stages import resolution_stages
from nbprune.prune.surgery import Unit, channel_units, pruned_cfg, unit_gamma

__all__ = ["l1", "l1_scores", "random_channels", "slimming", "target_widths", "top_k",
           "uniform_channels"]


def l1_scores(model: nn.Module, unit: Unit) -> torch.Tensor:
    """Sum |W| per channel of ``unit``: over (C_in, k, k) of the producing conv's filters.

    A selection unit (PreResNet/DenseNet block input, no producing conv) is scored by its consumer's
    weights on each input channel instead (sum |W| over the consumer's other dimensions).
    """
    if unit.conv is not None:
        weight = model.get_submodule(unit.conv).weight.detach()
        return weight.abs().flatten(1).sum(1)
    weight = model.get_submodule(unit.consumers[0]).weight.detach()
    return weight.abs().transpose(0, 1).flatten(1).sum(1)


def top_k(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Sorted indices of the ``k`` largest scores; ties go to the lower index."""
    order = torch.sort(scores.detach().float().cpu(), descending=True, stable=True).indices
    return order[:k].sort().values


def _plan(method: str, model: nn.Module, keep: dict[str, torch.Tensor], **info: Any) -> PrunePlan:
    widths = {name: int(idx.numel()) for name, idx in keep.items()}
    return PrunePlan(method=method, arch=model.arch, cfg=pruned_cfg(model, keep), keep=keep,
                     info={"widths": widths, **info})


def _keep_ratio(size: int, p: float) -> int:
    """Li et al.'s kept width ``int(C * (1 - p))``, at least one channel."""
    return max(1, int(size * (1 - p)))


def target_widths(model: nn.Module, units: dict[str, Unit], target: object) -> dict[str, int]:
    """Per-unit widths of a named L1 target, checked against the parent model."""
    targets = list_targets()
    if not isinstance(target, str) or target not in targets:
        raise unknown_choice("target", target, targets)
    with torch.device("meta"):  # only the architecture is needed
        ref = create_model(target, num_classes=model.num_classes, width=model.width)
        extra = getattr(model, "extra_spec", None)
        if extra and ref.arch == model.arch:  # the model's own variant (VGG head, batch_norm) of the target
            ref = create_model(target, num_classes=model.num_classes, width=model.width, **extra)
    ref_units = channel_units(ref)
    fits = ref.arch == model.arch and list(ref_units) == list(units)
    if not fits or any(ref_units[name].size > unit.size for name, unit in units.items()):
        raise ValueError(
            f"target: {target!r} prunes {ref.arch} at width {model.width} (cfg {ref.cfg}); "
            f"the model is {model.arch} at width {model.width} with cfg {model.cfg}"
        )
    return {name: unit.size for name, unit in ref_units.items()}


def _ratio_widths(model: nn.Module, units: dict[str, Unit], ratios: object, skip: object) -> dict[str, int]:
    """Per-unit widths ``int(C * (1 - p))`` from a single ratio, per-stage (ResNet) or per-unit ratios."""
    stages = 3 if isinstance(model, ResNet) else 4 if isinstance(model, ImageNetResNet) else 0
    allowed = f"a number, a list of {len(units)} per-unit ratios" + (
        f" or of {stages} per-stage ratios" if stages else "")
    if isinstance(ratios, (list, tuple)):
        if stages and len(ratios) == stages:
            per_unit = [ratios[unit.cfg_index[0]] for unit in units.values()]
        elif len(ratios) == len(units):
            per_unit = list(ratios)
        else:
            raise ValueError(f"ratios: {model.arch} needs {allowed}; got a list of {len(ratios)}")
    else:
        per_unit = [ratios] * len(units)
    if not all(is_ratio(p) for p in per_unit):
        raise ValueError(f"ratios: {model.arch} needs {allowed}, each in [0, 1); got {ratios!r}")
    if skip is None:
        skip = ()
    if isinstance(skip, str) or not isinstance(skip, (list, tuple, set, frozenset)):
        raise ValueError(f"skip: must be a list of unit names; got {skip!r}")
    for name in skip:
        if name not in units:
            raise unknown_choice("skip", name, list(units))
    return {
        name: unit.size if name in skip else _keep_ratio(unit.size, float(p))
        for (name, unit), p in zip(units.items(), per_unit)
    }


def _l1_keep(model: nn.Module, units: dict[str, Unit], widths: Mapping[str, int]) -> dict[str, torch.Tensor]:
    return {name: top_k(l1_scores(model, unit), widths[name]) for name, unit in units.items()}


@register_method("l1", data_driven=False)
def l1(model: nn.Module, target: str | None = None, ratios: Any = None, skip: Any = None) -> PrunePlan:
    """L1-norm filter pruning: keep each unit's filters with the largest sum |W| over (C_in, k, k).

    Give exactly one of ``target`` (a named L1 target whose base architecture and width the model must
    have; its cfg fixes every unit's width) and ``ratios`` (one float for every unit, a per-unit list,
    or for ResNet a per-stage list of 3 (CIFAR) or 4 (ImageNet); a unit keeps ``max(1, int(C * (1 - p)))``),
    the latter with optional ``skip`` unit names left unpruned (ResNet conv id 2+2j is block j's ``conv1``
    unit, j counted over the whole network; ImageNet ResNet-34 ids skip the 1x1 downsample convs).
    """
    units = channel_units(model)
    if (target is None) == (ratios is None):
        raise ValueError(f"target, ratios: give exactly one of them; got target={target!r}, ratios={ratios!r}")
    if target is not None:
        if skip is not None:
            raise ValueError(f"skip: only used with ratios (the target {target!r} fixes every width); got {skip!r}")
        widths = target_widths(model, units, target)
    else:
        widths = _ratio_widths(model, units, ratios, skip)
    return _plan("l1", model, _l1_keep(model, units, widths))


@register_method("random-channels", data_driven=False)
def random_channels(model: nn.Module, target: str, draw: int = 0) -> PrunePlan:
    """Random filter pruning (Le & Hua's control): the per-unit widths of the named L1 ``target``, with the
    kept channels of every unit drawn uniformly at random instead of by their L1 norm.

    ``draw`` (an integer >= 0) seeds the draw, so one draw is one fixed random architecture of the target's
    widths; the selection does not read the weights (the same draw of two large models keeps the same
    channels), so different draws, not different seeds, are what vary the choice of filters.
    """
    if isinstance(draw, bool) or not isinstance(draw, int) or draw < 0:
        raise ValueError(f"draw: must be an integer >= 0 (the random draw of the kept channels), got {draw!r}")
    units = channel_units(model)
    widths = target_widths(model, units, target)
    gen = torch.Generator().manual_seed(1_000_003 * (draw + 1))
    keep = {name: torch.randperm(unit.size, generator=gen)[:widths[name]].sort().values
            for name, unit in units.items()}
    return _plan("random-channels", model, keep, draw=draw)


@register_method("slimming", stage_pattern="keep", compared_with=(("uniform-channels", "a > b"),))
def slimming(model: nn.Module, fraction: float) -> PrunePlan:
    """Network Slimming: remove the ``fraction`` of all unit channels with the smallest |gamma|.

    One global ranking over |gamma| of every unit's BN channels (VGG/ResNet: the conv's BN; PreResNet
    and DenseNet: the selected channels of every block-input and final BN and the BN after every
    internal conv) removes ``round(fraction * total)`` channels; ties go to the earlier unit, then the
    lower index. A unit that would lose every channel keeps its largest-|gamma| channel instead (the
    reference code crashes there), so slightly fewer channels may be removed; ``info["emptied"]``
    lists those units. ``info["threshold"]`` is the |gamma| at the global cut, the largest one the ranking
    removes before the keep-one rule (None when nothing is removed).
    """
    fraction = check_fraction(fraction)
    units = channel_units(model)
    gammas = {name: unit_gamma(model, unit).abs().float().cpu() for name, unit in units.items()}
    flat = torch.cat(list(gammas.values()))
    n_remove = int(round(fraction * flat.numel()))
    order = torch.argsort(flat, stable=True)
    removed = torch.zeros(flat.numel(), dtype=torch.bool)
    removed[order[:n_remove]] = True
    keep, emptied, start = {}, [], 0
    for name, gamma in gammas.items():
        kept = torch.nonzero(~removed[start:start + gamma.numel()]).flatten()
        start += gamma.numel()
        if kept.numel() == 0:
            kept = top_k(gamma, 1)
            emptied.append(name)
        keep[name] = kept
    threshold = float(flat[order[n_remove - 1]]) if n_remove else None
    return _plan("slimming", model, keep, threshold=threshold, emptied=emptied)


@register_method("uniform-channels", data_driven=False)
def uniform_channels(model: nn.Module, fraction: float) -> PrunePlan:
    """Section 5's uniform baseline: every unit keeps ``max(1, int(C * (1 - fraction)))`` channels.

    The kept channels are the largest-L1 ones (as ``l1``), but the baseline is trained from scratch,
    which uses only the plan's ``cfg``.
    """
    fraction = check_fraction(fraction)
    units = channel_units(model)
    widths = {name: _keep_ratio(unit.size, fraction) for name, unit in units.items()}
    return _plan("uniform-channels", model, _l1_keep(model, units, widths))


def unit_stages(model: nn.Module, input_size=(3, 32, 32)) -> dict[str, int]:
    """The stage (index of the feature-map size where the unit's channels are made, largest first)."""
    units = channel_units(model)
    # a conv unit is sized by its conv's output; a selection unit by the input of its first consumer
    picks = {(u.conv or u.consumers[0]): (name, u.conv is None) for name, u in units.items()}
    stages = resolution_stages(model, picks, input_size)
    return {name: stages[name] for name in units}


def stage_keep_fractions(model: nn.Module, plan: PrunePlan) -> list[float]:
    """Fraction of channels ``plan`` keeps in each stage of ``model`` (the guide of guided pruning)."""
    units = channel_units(model)
    stages = unit_stages(model)
    n = max(stages.values()) + 1
    kept, total = [0] * n, [0] * n
    for name, unit in units.items():
        kept[stages[name]] += int(plan.keep[name].numel()) if name in plan.keep else unit.size
        total[stages[name]] += unit.size
    return [k / t for k, t in zip(kept, total)]


@register_method("guided-channels", compared_with=(("uniform-channels", "a > b"), ("slimming", "a = b")))
def guided_channels(model: nn.Module, stage_keep: list[float]) -> PrunePlan:
    """Guided pruning (Section 5): every unit of stage s keeps ``stage_keep[s]`` of its channels.

    ``stage_keep`` is typically the mean of :func:`stage_keep_fractions` over the architectures a method
    such as Network Slimming found (guided pruning), possibly on another model or dataset (transferred
    guided pruning: VGG-16 on CIFAR-10 guiding VGG-19 on CIFAR-100). Kept channels are the largest-L1 ones;
    the result is meant to be trained from scratch, which uses only the cfg.
    """
    stages = unit_stages(model)
    n = max(stages.values()) + 1
    if isinstance(stage_keep, (str, dict)) or not isinstance(stage_keep, (list, tuple)) or len(stage_keep) != n:
        raise ValueError(f"stage_keep: must list {n} fractions in (0, 1] (one per stage of {model.arch}), "
                         f"got {stage_keep!r}")
    for f in stage_keep:
        if isinstance(f, bool) or not isinstance(f, numbers.Real) or not 0 < f <= 1:
            raise ValueError(f"stage_keep: {f!r} must be a number in (0, 1]")
    units = channel_units(model)
    widths = {name: max(1, int(round(unit.size * stage_keep[stages[name]]))) for name, unit in units.items()}
    return _plan("guided-channels", model, _l1_keep(model, units, widths), stage_keep=list(stage_keep))


@register_method("architecture", data_driven=False)
def architecture(model: nn.Module, target: str) -> PrunePlan:
    """The registered pruned ``target``'s architecture, without weights: for the paper's rows that train a
    pruned architecture only from scratch (ThiNet's VGG-GAP and VGG-Tiny, whose global-pool head cannot inherit
    VGG-16's FC layers, and the regression-based ResNet-50-2x, whose blocks read a subset of their inputs; the
    paper quotes their Fine-tuned numbers from the methods' papers). The plan is structured (``cfg``, and the
    target's keyword arguments in ``info["model_kwargs"]``, e.g. ``head="gap"``) and carries no weights:
    :func:`nbprune.prune.apply_plan` builds the target afresh, and a run that would inherit weights from it
    (fine-tuning, a ticket) is refused."""
    if target not in list_targets():
        raise unknown_choice("target", target, list_targets())
    spec = model_spec(create_model(target, num_classes=model.num_classes))
    if spec["name"] != model.arch:
        raise ValueError(f"target: {target!r} is a pruned {spec['name']}, not a {model.arch}")
    kwargs = {k: v for k, v in spec.items() if k not in ("name", "num_classes", "cfg", "width")}
    return PrunePlan(method="architecture", arch=model.arch, cfg=spec["cfg"],
                     info={"architecture": target, "model_kwargs": kwargs})
