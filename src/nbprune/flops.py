"""FLOPs and parameter counting (the paper's convention) and the Scratch-B budget.

FLOPs per image, counted with forward hooks on one forward pass of a zero tensor (batch 1, eval mode;
``input_size`` defaults to 3x224x224 for the ImageNet models, ``arch`` ``imagenet-*``, else 3x32x32):
conv 2*k*k*C_in*C_out*H_out*W_out/groups (bias ignored); BatchNorm 2 per output element; ReLU 1 per
element; MaxPool/AvgPool k*k per output element (adaptive pooling: the input elements of each output
element's window); Linear 2*in*out + out. Operations outside these modules (residual additions,
concatenation, channel selection, the parameter-free ResNet shortcut) are not counted.
:func:`macs` gives the alternative plain multiply-accumulate count (conv + linear only).

``masked`` counts conv and Linear weights that are non-zero, and follows Soft Filter Pruning's count for a
*filter-masked* conv (a ``weight_mask`` buffer that masks whole filters and keeps the others whole, as the
masked networks of SFP's authors, :mod:`nbprune.prune.sfp`): a masked filter removes its output channel and,
where that output reaches a conv directly (through BatchNorm and ReLU only, no residual addition), the
consumer's input channel too. In a CIFAR ResNet that is a block's ``conv1`` -> ``conv2`` and the stem ->
the first block's ``conv1`` (SFP's ``utils/cifar_resnet_flop.py`` counts the same input channels as pruned);
a block's ``conv2`` feeds the residual sum, whose channels the shortcut keeps. Other modules (BatchNorm,
ReLU) are counted at full width, as for any masked model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["count_flops", "count_params", "default_input_size", "macs", "masked_filters", "scratch_b_epochs",
           "scratch_b_milestones"]

CIFAR = ("cifar10", "cifar100")
DATASETS = (*CIFAR, "imagenet")

CIFAR_INPUT = (3, 32, 32)
IMAGENET_INPUT = (3, 224, 224)

Counter = Callable[[nn.Module, torch.Tensor, torch.Tensor], int]


def default_input_size(model: nn.Module) -> tuple[int, int, int]:
    """The per-image input the model is counted at: 3x224x224 for the ImageNet models, else CIFAR's 3x32x32."""
    return IMAGENET_INPUT if str(getattr(model, "arch", "")).startswith("imagenet") else CIFAR_INPUT


def _trace(model: nn.Module, input_size: Sequence[int] | None, counter: Counter) -> int:
    """Sum ``counter(module, input, output)`` over every module call of one batch-1 forward pass."""
    if input_size is None:
        input_size = default_input_size(model)
    total = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal total
        total += counter(module, inputs[0], output)

    modes = {m: m.training for m in model.modules()}
    handles = [m.register_forward_hook(hook) for m in model.modules()]
    param = next(model.parameters(), None)
    x = torch.zeros(1, *input_size, device=param.device if param is not None else "cpu")
    try:
        model.eval()
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.train(mode)
    return total


def _pair(v: int | Sequence[int]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (v[0], v[1])


def _adaptive_window_sum(n_in: int, n_out: int) -> int:
    """Sum of the adaptive-pooling window lengths along one axis."""
    return sum(-(-(i + 1) * n_in // n_out) - (i * n_in // n_out) for i in range(n_out))


def _nnz(t: torch.Tensor) -> int:
    return int(torch.count_nonzero(t))


def masked_filters(conv: nn.Module) -> torch.Tensor | None:
    """The filters (a bool per output channel) that ``conv``'s ``weight_mask`` masks whole, when the mask
    masks whole filters only (every other filter kept whole) and at least one; else None."""
    mask = getattr(conv, "weight_mask", None)
    if not isinstance(conv, nn.Conv2d) or mask is None or conv.groups != 1:
        return None
    rows = mask.detach().flatten(1)
    dead, whole = (rows == 0).all(1), (rows != 0).all(1)
    if not bool(dead.any()) or not bool((dead | whole).all()):
        return None
    return dead.cpu()


# modules that pass each channel through on its own: a masked filter's channel stays "its" channel after them
_CHANNELWISE = (nn.BatchNorm2d, nn.ReLU, nn.Identity)


def _flops_counter(masked: bool) -> Counter:
    dead_in: dict[int, torch.Tensor] = {}  # id of a tensor -> the channels of it that masked filters produced
    held: list[torch.Tensor] = []  # keeps those tensors alive, so that no other tensor takes their id

    def mark(t: torch.Tensor, dead: torch.Tensor | None) -> None:
        if dead is not None:
            dead_in[id(t)] = dead
            held.append(t)

    def count(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
        if isinstance(m, nn.Conv2d):
            spatial = y.shape[-1] * y.shape[-2]
            w = m.weight
            if masked:
                dead = dead_in.get(id(x))
                if dead is not None and m.groups == 1 and dead.numel() == w.shape[1]:
                    w = w[:, ~dead.to(w.device)]  # input channels fed only by masked filters
                mark(y, masked_filters(m))
            weights = _nnz(w) if masked else w.numel()
            return 2 * weights * spatial
        if masked and isinstance(m, _CHANNELWISE) and id(x) in dead_in:
            mark(y, dead_in[id(x)])
        if isinstance(m, nn.Linear):
            rows = x.numel() // m.in_features
            weights = _nnz(m.weight) if masked else m.weight.numel()
            return rows * (2 * weights + (m.out_features if m.bias is not None else 0))
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            return 2 * y.numel()
        if isinstance(m, nn.ReLU):
            return y.numel()
        if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
            kh, kw = _pair(m.kernel_size)
            return kh * kw * y.numel()
        if isinstance(m, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
            rows = _adaptive_window_sum(x.shape[-2], y.shape[-2])
            return rows * _adaptive_window_sum(x.shape[-1], y.shape[-1]) * y.shape[-3]
        return 0

    return count


def count_flops(model: nn.Module, input_size: Sequence[int] | None = None, masked: bool = False) -> int:
    """FLOPs per image (module docstring); ``masked`` counts only non-zero conv/linear weights.

    ``input_size`` (C, H, W): None means :func:`default_input_size` (224x224 for ImageNet models).
    """
    return _trace(model, input_size, _flops_counter(masked))


def _macs_counter(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    if isinstance(m, nn.Conv2d):
        return m.weight.numel() * y.shape[-1] * y.shape[-2]
    if isinstance(m, nn.Linear):
        return (x.numel() // m.in_features) * m.weight.numel()
    return 0


def macs(model: nn.Module, input_size: Sequence[int] | None = None) -> int:
    """Alternative convention: multiply-accumulates of convs and Linears only, per image (``input_size``
    as in :func:`count_flops`)."""
    return _trace(model, input_size, _macs_counter)


def count_params(model: nn.Module, masked: bool = False) -> int:
    """Number of parameters (``masked``: non-zero ones only)."""
    return sum(_nnz(p) if masked else p.numel() for p in model.parameters())


def _check_dataset(dataset: str) -> None:
    if dataset not in DATASETS:
        raise ValueError(f"dataset: unknown {dataset!r}; allowed: {', '.join(DATASETS)}")


def scratch_b_epochs(flops_full: int, flops_pruned: int, epochs: int = 160, dataset: str = "cifar10") -> int:
    """Scratch-B epochs for the same compute: CIFAR int(E*full/pruned) (no cap); ImageNet 2E if the
    ratio >= 2, else int(E*ratio). Exact integer arithmetic (floor)."""
    _check_dataset(dataset)
    for name, value in (("flops_full", flops_full), ("flops_pruned", flops_pruned), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{name}: must be a positive int, got {value!r}")
    if dataset == "imagenet" and flops_full >= 2 * flops_pruned:
        return 2 * epochs
    return epochs * flops_full // flops_pruned


def scratch_b_milestones(epochs_b: int, dataset: str = "cifar10") -> list[int]:
    """lr x0.1 steps: CIFAR [int(0.5E), int(0.75E)]; ImageNet every E/3 ([30, 60] at 90, [60, 120] at 180)."""
    _check_dataset(dataset)
    if isinstance(epochs_b, bool) or not isinstance(epochs_b, int) or epochs_b <= 0:
        raise ValueError(f"epochs_b: must be a positive int, got {epochs_b!r}")
    if dataset == "imagenet":
        return [epochs_b // 3, 2 * epochs_b // 3]
    return [epochs_b // 2, 3 * epochs_b // 4]
