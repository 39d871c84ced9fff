"""Training hooks: how a pruning method's training-time regulariser plugs into :func:`nbprune.train.train`.

A leaf module (it imports nothing from nbprune). :class:`TrainHook` has one no-op method per point of the
training loop where a method acts; a method overrides the ones it needs, in its own module
(:mod:`nbprune.prune.slimming`, :mod:`nbprune.prune.sfp`, :mod:`nbprune.prune.sss`), and
:func:`nbprune.prune.hooks_for` maps a run config to its hooks. The training loop calls, in this order:

* ``on_build(model)``: the model was just built (:func:`nbprune.train.build_model`); add parameters here.
* ``no_decay(model)``: parameters the optimiser must not apply weight decay to.
* ``on_train_start(model, start_epoch)``: the model is loaded (and resumed at ``start_epoch``), before the
  first step.
* per step: ``after_backward(model)`` (a gradient regulariser), then ``opt.step()``, then
  ``after_step(model, lr)`` (a proximal step), then the masks are re-applied.
* ``on_epoch_end(model, epoch)``: after the epoch's last step, before the model is evaluated and checkpointed.

A hook names the config field it consumes (:attr:`TrainHook.field`) and carries that field's value, so a
run that sets the field but is not given the hook (or is given a hook for another value) is refused
(:func:`check_hooks`) instead of silently training without the method.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from torch import nn

__all__ = ["TrainHook", "check_hooks"]


class TrainHook:
    """A pruning method's actions during training; every method is a no-op here (see the module docstring).

    ``field`` is the RunConfig field the hook consumes (None: it consumes none) and ``value`` that field's
    value in the run the hook was made for.
    """

    field: ClassVar[str | None] = None

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r})"

    def on_build(self, model: nn.Module) -> None:
        """Change the freshly built model in place (before the optimiser exists)."""

    def no_decay(self, model: nn.Module) -> list[nn.Parameter]:
        """Parameters of ``model`` that get no weight decay."""
        return []

    def on_train_start(self, model: nn.Module, start_epoch: int) -> None:
        """Once before training, after a resume from ``start_epoch`` (0: a fresh run)."""

    def after_backward(self, model: nn.Module) -> None:
        """After the step's gradients are computed, before ``opt.step()``: regularise the gradients."""

    def after_step(self, model: nn.Module, lr: float) -> None:
        """Right after ``opt.step()`` at learning rate ``lr``."""

    def on_epoch_end(self, model: nn.Module, epoch: int) -> None:
        """After the last step of ``epoch`` (0-based), before evaluation and the checkpoint."""


def check_hooks(required: Mapping[str, Any], allowed: Mapping[str, Any], hooks: Sequence[TrainHook],
                param: str = "hooks") -> list[TrainHook]:
    """``hooks`` as a list, checked against a run's fields: every field of ``required`` (name -> value) must be
    consumed by exactly one hook, and every hook that consumes a field must find it in ``allowed`` with the
    value the hook carries. Anything else is a ValueError of one line naming ``param``."""
    hooks = list(hooks)
    given: dict[str, Any] = {}
    for hook in hooks:
        if not isinstance(hook, TrainHook):
            raise ValueError(f"{param}: must be TrainHook instances (nbprune.hooks), got {hook!r}")
        if hook.field is None:
            continue
        if hook.field in given:
            raise ValueError(f"{param}: two hooks consume {hook.field}; give one")
        if hook.field not in allowed or allowed[hook.field] != hook.value:
            have = allowed.get(hook.field, "its default")
            raise ValueError(f"{param}: {hook!r} is for {hook.field}={hook.value!r} but the config has "
                             f"{hook.field}={have!r}; make the hooks from this config")
        given[hook.field] = hook.value
    missing = [name for name in required if name not in given]
    if missing:
        fields = ", ".join(f"{name}={required[name]!r}" for name in missing)
        raise ValueError(f"{param}: the config sets {fields} but no hook consumes it; pass "
                         f"{param}=nbprune.prune.hooks_for(config)")
    return hooks
