"""Soft Filter Pruning (He et al. 2018): zero filters every epoch, let them recover, remove them at the end.

Two scopes (``RunConfig.sfp_convs``, the method's ``convs`` setting, :data:`SFP_CONVS`):

* ``"all"``: SFP as its authors ran it for the paper's Tables 10 and 11. Their code
  (``cifar/soft-filter-pruning/pruning_cifar10_resnet.py`` of Eric-mingjie/rethinking-network-pruning,
  ``Mask.init_rate``/``init_mask``, run with ``--layer_begin 0 --layer_end 162 --layer_inter 3`` on ResNet-56)
  masks the parameters 0, 3, ..., 162 of ``model.parameters()``: in the CIFAR ResNet of he-y/soft-filter-pruning
  (``models/resnet.py``: stem conv, BN weight, BN bias, then per block conv_a, BN, BN, conv_b, BN, BN; no conv
  bias) these are the 55 convs, the stem and both convs of every block. The method then returns *masks*: the
  pruned model is the full-size network with those filters masked (what the authors evaluate and what their
  Scratch-E/B train, ``pruning_resnet_scratch.py``), not a physically smaller one; its FLOPs follow SFP's count
  (a masked filter removes its output and the input channel it feeds directly, :func:`nbprune.flops.count_flops`)
  and the large model's are counted dense (its zeroed filters kept training).
* ``"units"`` (the default, and the chapter's rule before issue 30): only the convs that the final removal can
  remove (:func:`sfp_convs`; ResNet: every block's ``conv1``), so that what is zeroed equals what is removed.

* :func:`sfp_step` zeroes, in place, the ``int(C_out * fraction)`` filters of smallest L2 norm (over
  C_in x k x k) of every conv of the scope, or of the named convs. The weights stay ordinary trainable
  parameters: the next optimizer step (gradient, momentum) may make them non-zero again, and the next step may
  pick other filters. Called once per epoch (at the end of it; the paper also applies it once before training).
* ``sfp`` (a registered method): the final removal. With ``convs="all"`` it masks, in every conv, the filters
  the last ``sfp_step`` zeroed (the same ranking). With ``convs="units"`` each prunable unit of
  :func:`~nbprune.prune.surgery.channel_units` keeps its ``C - int(C * fraction)`` filters of largest L2
  norm; after a last ``sfp_step`` these are exactly the non-zero ones, so what training zeroed and what
  the plan removes are the same filters, and the pruned model's FLOPs (the Scratch-B budget) count what is
  kept. In this scope convs that are not units (the stem, a block's second conv tied to the residual) are
  never zeroed: zeroing filters that stay in the model would make the Scratch runs denser than the pruned
  model. Note the removed channels still had a BN bias feeding the consumer while they were soft-pruned; the
  physical removal drops it, where the masked networks of ``"all"`` keep it (as the authors' do).
* :data:`SFP_RECIPE`: SFP's own CIFAR training recipe as RunConfig overrides, its 1-epoch warm-up at
  lr 0.01 and its own normalisation (:data:`nbprune.data.NORMS` ``"sfp"``) included.
* :class:`SFPHook`: the training hook of runs with ``sfp_rate`` > 0: an ``sfp_step`` over the run's
  ``sfp_convs`` before the first epoch of a fresh run and after every epoch (before the epoch's evaluation and
  checkpoint), as the authors' code does (it masks once before training and after every epoch).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from nbprune.config import SFP_CONVS
from nbprune.data import SFP_MEAN, SFP_STD
from nbprune.hooks import TrainHook
from nbprune.prune._checks import check_fraction
from nbprune.prune.plan import PrunePlan, register_hook, register_method
from nbprune.prune.surgery import channel_units, pruned_cfg

__all__ = ["SFPHook", "SFP_CONVS", "SFP_MEAN", "SFP_RECIPE", "SFP_STD", "filter_masks", "filter_norms", "sfp",
           "sfp_convs", "sfp_step"]

SFP_RECIPE: dict[str, object] = {
    "nesterov": True,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "batch_size": 128,
    "epochs": 200,
    "lr": 0.1,
    "gamma": 0.2,
    "milestones": (60, 120, 160),
    "warmup_epochs": 1,
    "warmup_lr": 0.01,
    "normalization": "sfp",
}


def filter_norms(conv: nn.Conv2d) -> torch.Tensor:
    """L2 norm of each output filter of ``conv`` (over C_in x k x k), detached, float32 on the CPU."""
    return conv.weight.detach().flatten(1).norm(dim=1).float().cpu()


def _n_pruned(channels: int, fraction: float) -> int:
    return min(channels - 1, int(channels * fraction))


def _check_scope(scope: str, param: str = "convs") -> str:
    if scope not in SFP_CONVS:
        raise ValueError(f"{param}: must be one of {', '.join(SFP_CONVS)}, got {scope!r}")
    return scope


def sfp_convs(model: nn.Module, scope: str = "units") -> list[str]:
    """The convs whose filters SFP zeroes: ``"units"``, the producing conv of every prunable unit (what the
    final removal removes); ``"all"``, every Conv2d of the model in module order (the authors' runs)."""
    if _check_scope(scope) == "all":
        return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    convs = []
    for name, unit in channel_units(model).items():
        if unit.conv is None:
            raise ValueError(f"sfp: unit {name!r} has no producing conv (SFP prunes conv filters)")
        convs.append(unit.conv)
    return convs


def _weakest(conv: nn.Conv2d, fraction: float) -> torch.Tensor:
    """The ``int(C * fraction)`` lowest-L2-norm filters of ``conv`` (ties: the lower index), sorted."""
    order = torch.sort(filter_norms(conv), stable=True).indices
    return order[:_n_pruned(conv.out_channels, fraction)].sort().values


@torch.no_grad()
def sfp_step(model: nn.Module, fraction: float, convs: Iterable[str] | str | None = None) -> dict[str, torch.Tensor]:
    """Zero the ``int(C * fraction)`` lowest-L2-norm filters of every conv of ``convs`` in place: a scope of
    :func:`sfp_convs` (None: ``"units"``) or a list of conv names.

    Ties go to the lower filter index; at least one filter per conv survives. Returns conv name -> the
    zeroed filter indices (sorted). Momentum buffers are left alone (as in the SFP code), so zeroed
    filters can recover on the next optimizer step.
    """
    fraction = check_fraction(fraction)
    modules = dict(model.named_modules())
    names = sfp_convs(model, convs or "units") if convs is None or isinstance(convs, str) else list(convs)
    zeroed = {}
    for name in names:
        conv = modules.get(name)
        if not isinstance(conv, nn.Conv2d):
            raise ValueError(f"convs: {name!r} is not a Conv2d of the model")
        idx = _weakest(conv, fraction)
        conv.weight[idx.to(conv.weight.device)] = 0
        zeroed[name] = idx
    return zeroed


def filter_masks(model: nn.Module, fraction: float, convs: Iterable[str] | str = "all") -> dict[str, torch.Tensor]:
    """``<conv>.weight`` -> a 0/1 mask of the conv weight's shape that masks the filters :func:`sfp_step` would
    zero (all other filters kept whole), for every conv of ``convs`` (a scope or names). On a model whose
    last ``sfp_step`` was at ``fraction`` these are exactly its zero filters: the authors' Scratch mask
    (``weight != 0`` of the pruned model's convs, ``pruning_resnet_scratch.py``)."""
    fraction = check_fraction(fraction)
    modules = dict(model.named_modules())
    names = sfp_convs(model, convs) if isinstance(convs, str) else list(convs)
    out = {}
    for name in names:
        conv = modules[name]
        mask = torch.ones_like(conv.weight, dtype=torch.float32, device="cpu")
        mask[_weakest(conv, fraction)] = 0.0
        out[f"{name}.weight"] = mask
    return out


@register_hook
class SFPHook(TrainHook):
    """``sfp_rate``: zero that fraction of the filters of every conv of ``sfp_convs`` (the config's scope,
    :func:`sfp_convs`) before a fresh run's first epoch and after every epoch; the zeroed filters may recover
    during the next epoch."""

    field = "sfp_rate"
    options = ("sfp_convs",)  # further config fields :func:`nbprune.prune.hooks_for` passes as keywords

    def __init__(self, value=None, sfp_convs: str = "units") -> None:
        super().__init__(value)
        self.convs = _check_scope(sfp_convs, "sfp_convs")

    def __repr__(self) -> str:
        return f"SFPHook({self.value!r})" if self.convs == "units" else f"SFPHook({self.value!r}, {self.convs!r})"

    def on_train_start(self, model: nn.Module, start_epoch: int) -> None:
        if start_epoch == 0:  # a resumed run already had its initial step
            sfp_step(model, self.value, self.convs)

    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        sfp_step(model, self.value, self.convs)


@register_method("sfp")
def sfp(model: nn.Module, fraction: float, convs: str = "units") -> PrunePlan:
    """Remove the soft-pruned filters. ``convs="units"``: every unit keeps its ``C - int(C * fraction)``
    largest-L2 filters (a smaller architecture). ``convs="all"``: every conv's weakest ``int(C * fraction)``
    filters are masked (:func:`filter_masks`; the same full-size architecture, ``info["dense_large"]``: the
    large model's FLOPs are counted dense, see :func:`nbprune.plans.compute_plan`).

    ``info["zero_kept"]`` counts, per unit (per conv), kept filters that are exactly zero (non-zero when the
    model did not end with an ``sfp_step`` at this fraction).
    """
    fraction = check_fraction(fraction)
    if _check_scope(convs) == "all":
        masks = filter_masks(model, fraction, "all")
        modules = dict(model.named_modules())
        zero_kept, masked = {}, {}
        for key, mask in masks.items():
            name = key[:-len(".weight")]
            kept = mask.flatten(1)[:, 0] > 0
            zero_kept[name] = int((filter_norms(modules[name])[kept] == 0).sum())
            masked[name] = int((~kept).sum())
        return PrunePlan(method="sfp", arch=model.arch, cfg=model.cfg, masks=masks,
                         info={"fraction": fraction, "convs": "all", "masked_filters": masked,
                               "zero_kept": zero_kept, "dense_large": True})
    keep, zero_kept = {}, {}
    for name, unit in channel_units(model).items():
        if unit.conv is None:
            raise ValueError(f"sfp: unit {name!r} has no producing conv (SFP prunes conv filters)")
        norms = filter_norms(model.get_submodule(unit.conv))
        n = _n_pruned(unit.size, fraction)
        order = torch.sort(norms, descending=True, stable=True).indices
        keep[name] = order[:unit.size - n].sort().values
        zero_kept[name] = int((norms[keep[name]] == 0).sum())
    widths = {n: int(k.numel()) for n, k in keep.items()}
    return PrunePlan(method="sfp", arch=model.arch, cfg=pruned_cfg(model, keep), keep=keep,
                     info={"widths": widths, "fraction": fraction, "zero_kept": zero_kept})
