"""Network Slimming's training-time penalty (Liu et al. 2017): L1 sparsity on the BatchNorm scales.

Runs with ``bn_sparsity`` = s > 0 add the subgradient ``s * sign(gamma)`` of ``s * sum |gamma|`` to the gradient
of every BatchNorm2d weight after each backward pass (:class:`SlimmingHook`). Only the conv BatchNorms are
penalised: a VGG head's BatchNorm1d is not a channel gate. The pruning itself (one global threshold on
|gamma|) is the ``slimming`` method of :mod:`nbprune.prune.structured`.
"""

from __future__ import annotations

import torch
from torch import nn

from nbprune.hooks import TrainHook
from nbprune.prune.plan import register_hook

__all__ = ["SlimmingHook", "bn_weights"]


def bn_weights(model: nn.Module) -> list[nn.Parameter]:
    """The weight (gamma) of every BatchNorm2d of ``model`` that has one, in module order."""
    return [m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d) and m.weight is not None]


@register_hook
class SlimmingHook(TrainHook):
    """``bn_sparsity``: after each backward pass, ``grad += value * sign(gamma)`` for every BatchNorm2d weight."""

    field = "bn_sparsity"

    def __init__(self, value: float) -> None:
        super().__init__(value)
        self._model: nn.Module | None = None
        self._weights: list[nn.Parameter] = []

    def after_backward(self, model: nn.Module) -> None:
        if self._model is not model:  # the weights are looked up once per model, not every step
            self._model, self._weights = model, bn_weights(model)
        for w in self._weights:
            w.grad.add_(torch.sign(w.detach()), alpha=self.value)
