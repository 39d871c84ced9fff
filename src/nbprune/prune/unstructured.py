"""Unstructured (weight-level) pruning: masks over conv weights.

* ``magnitude`` (Han et al. 2015): one global threshold over |w| of every conv weight removes the given
  fraction; iterative pruning (20% of the remaining weights per round, the lottery-ticket schedule) is a
  chain of runs, each pruning its parent further (:func:`iterative_fractions`).
* ``uniform-sparsity``: Section 5's baseline: every conv layer keeps the same fraction of weights, chosen
  at random (each weight kept with the same probability).
* ``guided-sparsity``: per-stage sparsity taken from another plan (e.g. magnitude pruning of a model,
  possibly of another architecture: "transferred"), random weights within each layer at its stage's
  sparsity.

Masks are ``<name>_mask`` buffers (0/1 floats) next to the weight; training multiplies them in after every
optimiser step, so pruned weights stay exactly 0.0 through momentum and weight decay.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from nbprune.prune._checks import check_fraction
from nbprune.prune.plan import PrunePlan, register_method
from nbprune.prune.stages import resolution_stages

ITERATIVE_RATE = 0.2  # each round of iterative pruning removes 20% of the remaining weights


def conv_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """Every conv weight of ``model`` by parameter name (the weights unstructured pruning touches)."""
    return {f"{name}.weight": m.weight for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}


def current_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The masks a model already carries (all ones where it has none)."""
    out = {}
    modules = dict(model.named_modules())
    for key, w in conv_weights(model).items():
        owner = modules[key.rsplit(".", 1)[0]]
        out[key] = getattr(owner, "weight_mask", torch.ones_like(w)).detach().clone().float()
    return out


def global_magnitude_masks(weights: dict[str, torch.Tensor], prev: dict[str, torch.Tensor],
                           n_remove: int) -> dict[str, torch.Tensor]:
    """Remove the ``n_remove`` smallest |w| among the weights ``prev`` still keeps (ties: lower index)."""
    flat = torch.cat([(w.detach().abs() * prev[k]).flatten() for k, w in weights.items()])
    alive = torch.cat([prev[k].flatten() for k in weights]) > 0
    scores = torch.where(alive, flat, torch.full_like(flat, -1.0))  # already-pruned weights go first
    n_dead = int((~alive).sum())
    order = torch.argsort(scores, stable=True)
    keep = torch.ones_like(flat)
    keep[order[: n_dead + n_remove]] = 0.0
    out, start = {}, 0
    for k, w in weights.items():
        out[k] = keep[start:start + w.numel()].view_as(w)
        start += w.numel()
    return out


@register_method("magnitude", data_driven=False, stage_pattern="sparsity",
                 compared_with=(("uniform-sparsity", None),))  # Figure 3: the paper tabulates no claim
def magnitude(model: nn.Module, fraction: float) -> PrunePlan:
    """Global magnitude pruning of conv weights until ``fraction`` of them are pruned.

    Weights the model already masks stay pruned, so iterative pruning is a chain of runs: prune the
    parent to the next of :func:`iterative_fractions`, retrain, prune that run further, and so on.
    """
    fraction = check_fraction(fraction)
    weights = conv_weights(model)
    masks = current_masks(model)
    total = sum(w.numel() for w in weights.values())
    n_target = int(round(fraction * total))
    n_already = int(sum((m == 0).sum() for m in masks.values()))
    if n_already > n_target:
        raise ValueError(f"fraction: the model already has {n_already / total:.3f} of its conv weights pruned, "
                         f"more than the asked-for {fraction}")
    masks = global_magnitude_masks(weights, masks, n_target - n_already)
    return _plan("magnitude", model, masks, {"fraction": fraction})


def iterative_fractions(fraction: float, rate: float = ITERATIVE_RATE) -> list[float]:
    """Cumulative pruned fractions of iterative pruning: 0.2, 0.36, 0.488, ... up to ``fraction``."""
    fraction = check_fraction(fraction)
    out, kept = [], 1.0
    while not out or out[-1] < fraction - 1e-9:
        kept *= 1 - rate
        out.append(min(fraction, round(1 - kept, 10)))
    return out


@register_method("uniform-sparsity", data_driven=False)
def uniform_sparsity(model: nn.Module, fraction: float, seed: int = 0) -> PrunePlan:
    """Every conv layer keeps the same fraction of its weights, chosen at random."""
    fraction = check_fraction(fraction)
    weights = conv_weights(model)
    return _plan("uniform-sparsity", model, _random_masks(weights, {k: fraction for k in weights}, seed),
                 {"fraction": fraction, "seed": seed})


@register_method("guided-sparsity", compared_with=(("uniform-sparsity", None),))
def guided_sparsity(model: nn.Module, stage_sparsity: list[float], seed: int = 0) -> PrunePlan:
    """Random masks whose per-stage sparsity follows ``stage_sparsity`` (one value per stage of this model)."""
    weights = conv_weights(model)
    stages = stage_of_layers(model)
    n_stages = max(stages.values()) + 1
    if not isinstance(stage_sparsity, (list, tuple)) or len(stage_sparsity) != n_stages:
        raise ValueError(f"stage_sparsity: must list {n_stages} fractions (one per stage of {model.arch}), "
                         f"got {stage_sparsity!r}")
    fractions = {k: check_fraction(stage_sparsity[stages[k]]) for k in weights}
    return _plan("guided-sparsity", model, _random_masks(weights, fractions, seed),
                 {"stage_sparsity": list(stage_sparsity), "seed": seed})


def _random_masks(weights: dict[str, torch.Tensor], fractions: dict[str, float], seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for k, w in weights.items():
        n_remove = int(round(fractions[k] * w.numel()))
        order = torch.randperm(w.numel(), generator=g)
        m = torch.ones(w.numel())
        m[order[:n_remove]] = 0.0
        out[k] = m.view_as(w)
    return out


def stage_of_layers(model: nn.Module, input_size=(3, 32, 32)) -> dict[str, int]:
    """The stage (index of distinct input resolution, in order) of every conv weight."""
    picks = {name: (f"{name}.weight", True) for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    return resolution_stages(model, picks, input_size)


def stage_sparsity(model: nn.Module, masks: dict[str, torch.Tensor]) -> list[float]:
    """Fraction of pruned conv weights per stage (Figure 4's heatmap rows; guided sparsification)."""
    stages = stage_of_layers(model)
    n = max(stages.values()) + 1
    pruned, total = [0] * n, [0] * n
    for k, m in masks.items():
        pruned[stages[k]] += int((m == 0).sum())
        total[stages[k]] += m.numel()
    return [p / t for p, t in zip(pruned, total)]


def _plan(method: str, model: nn.Module, masks: dict[str, torch.Tensor], settings: dict) -> PrunePlan:
    total = sum(m.numel() for m in masks.values())
    kept = sum(int(m.sum()) for m in masks.values())
    layer_sparsity = {k: 1 - float(m.mean()) for k, m in masks.items()}
    return PrunePlan(method=method, arch=model.arch, cfg=model.cfg, masks=masks,
                     info={**settings, "pruned_fraction": 1 - kept / total, "layer_sparsity": layer_sparsity})


def attach_masks(model: nn.Module, masks: dict[str, torch.Tensor]) -> None:
    """Register ``weight_mask`` buffers on the masked convs and zero the masked weights."""
    modules = dict(model.named_modules())
    for key, mask in masks.items():
        owner_name, _, pname = key.rpartition(".")
        owner = modules.get(owner_name)
        if owner is None or not isinstance(getattr(owner, pname, None), torch.Tensor):
            raise ValueError(f"masks: {key!r} is not a parameter of this {getattr(model, 'arch', 'model')}")
        param = getattr(owner, pname)
        if mask.shape != param.shape:
            raise ValueError(f"masks: {key!r} has shape {tuple(mask.shape)}, the weight {tuple(param.shape)}")
        mask = mask.to(param.device, param.dtype)
        if hasattr(owner, f"{pname}_mask"):
            getattr(owner, f"{pname}_mask").copy_(mask)
        else:
            owner.register_buffer(f"{pname}_mask", mask)
        with torch.no_grad():
            param.mul_(mask)


@torch.no_grad()
def rescale_init(model: nn.Module) -> None:
    """Scratch init of a masked model: rescale each conv's He-init std by its remaining fan-in.

    The paper's init is N(0, sqrt(2 / n)) with n = k*k*C_out; a layer keeping a fraction d of its weights
    gets std sqrt(2 / (n * d)) so its output variance matches the dense layer's.
    """
    for m in model.modules():
        mask = getattr(m, "weight_mask", None)
        if isinstance(m, nn.Conv2d) and mask is not None:
            density = float(mask.mean())
            if density > 0:
                n = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.normal_(0, math.sqrt(2.0 / (n * density))).mul_(mask)
