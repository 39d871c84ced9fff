"""Soft Filter Pruning (He et al. 2018): zero filters every epoch, let them recover, remove them at the end.

* :func:`sfp_step` zeroes, in place, the ``int(C_out * fraction)`` filters of smallest L2 norm (over
  C_in x k x k) of every conv that the final removal can remove (:func:`sfp_convs`; ResNet: every block's
  ``conv1``), or of the named convs. The weights stay ordinary trainable parameters: the next optimizer
  step (gradient, momentum) may make them non-zero again, and the next step may pick other filters.
  Called once per epoch (at the end of it; the paper also applies it once before training).
* ``sfp`` (a registered method): the final removal. Each prunable unit of
  :func:`~nbprune.prune.surgery.channel_units` keeps its ``C - int(C * fraction)`` filters of largest L2
  norm; after a last ``sfp_step`` these are exactly the non-zero ones, so what training zeroed and what
  the plan removes are the same filters, and the pruned model's FLOPs (the Scratch-B budget) count what is
  kept. Convs that are not units (the stem, a block's second conv tied to the residual) are never zeroed:
  zeroing filters that stay in the model would make the Scratch runs denser than the pruned model.
  Note the removed channels still had a BN bias feeding the consumer while they were soft-pruned; the
  physical removal drops it (the SFP authors do the same).
* :data:`SFP_RECIPE`: SFP's own CIFAR training recipe as RunConfig overrides, its 1-epoch warm-up at
  lr 0.01 and its own normalisation (:data:`nbprune.data.NORMS` ``"sfp"``) included.
* :class:`SFPHook`: the training hook of runs with ``sfp_rate`` > 0: an ``sfp_step`` before the first epoch
  of a fresh run and after every epoch (before the epoch's evaluation and checkpoint).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from nbprune.data import SFP_MEAN, SFP_STD
from nbprune.hooks import TrainHook
from nbprune.prune._checks import check_fraction
from nbprune.prune.plan import PrunePlan, register_hook, register_method
from nbprune.prune.surgery import channel_units, pruned_cfg

__all__ = ["SFPHook", "SFP_MEAN", "SFP_RECIPE", "SFP_STD", "filter_norms", "sfp", "sfp_convs", "sfp_step"]

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


def sfp_convs(model: nn.Module) -> list[str]:
    """The convs whose filters SFP zeroes and finally removes: the producing conv of every prunable unit."""
    convs = []
    for name, unit in channel_units(model).items():
        if unit.conv is None:
            raise ValueError(f"sfp: unit {name!r} has no producing conv (SFP prunes conv filters)")
        convs.append(unit.conv)
    return convs


@torch.no_grad()
def sfp_step(model: nn.Module, fraction: float, convs: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """Zero the ``int(C * fraction)`` lowest-L2-norm filters of every removable conv (:func:`sfp_convs`)
    or of ``convs``, in place.

    Ties go to the lower filter index; at least one filter per conv survives. Returns conv name -> the
    zeroed filter indices (sorted). Momentum buffers are left alone (as in the SFP code), so zeroed
    filters can recover on the next optimizer step.
    """
    fraction = check_fraction(fraction)
    modules = dict(model.named_modules())
    names = sfp_convs(model) if convs is None else list(convs)
    zeroed = {}
    for name in names:
        conv = modules.get(name)
        if not isinstance(conv, nn.Conv2d):
            raise ValueError(f"convs: {name!r} is not a Conv2d of the model")
        n = _n_pruned(conv.out_channels, fraction)
        order = torch.sort(filter_norms(conv), stable=True).indices
        idx = order[:n].sort().values
        conv.weight[idx.to(conv.weight.device)] = 0
        zeroed[name] = idx
    return zeroed


@register_hook
class SFPHook(TrainHook):
    """``sfp_rate``: zero that fraction of every removable conv's filters before a fresh run's first epoch and
    after every epoch; the zeroed filters may recover during the next epoch."""

    field = "sfp_rate"

    def on_train_start(self, model: nn.Module, start_epoch: int) -> None:
        if start_epoch == 0:  # a resumed run already had its initial step
            sfp_step(model, self.value)

    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        sfp_step(model, self.value)


@register_method("sfp")
def sfp(model: nn.Module, fraction: float) -> PrunePlan:
    """Remove the soft-pruned filters: every unit keeps its ``C - int(C * fraction)`` largest-L2 filters.

    ``info["zero_kept"]`` counts, per unit, kept filters that are exactly zero (non-zero when the model
    did not end with an ``sfp_step`` at this fraction).
    """
    fraction = check_fraction(fraction)
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
