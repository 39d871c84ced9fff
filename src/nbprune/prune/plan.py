"""What a pruning method returns (:class:`PrunePlan`) and the registries that name the methods and their
training hooks. A leaf of :mod:`nbprune.prune`: every method module imports it, and it imports none of them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from nbprune.hooks import TrainHook

__all__ = ["HOOKS", "METHODS", "METHOD_INFO", "MethodInfo", "PrunePlan", "method_info", "register_hook",
           "register_method"]


@dataclass
class PrunePlan:
    """The outcome of a pruning method on one model."""

    method: str
    arch: str
    cfg: Any  # the cfg of the pruned architecture (the parent's cfg for unstructured plans)
    keep: dict[str, torch.Tensor] = field(default_factory=dict)  # unit name -> kept channel indices
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # parameter name -> 0/1 float mask
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def structured(self) -> bool:
        """Whether the plan changes the architecture (channels kept, blocks removed, or a named architecture)."""
        return bool(self.keep) or "blocks" in self.info or "architecture" in self.info


METHODS: dict[str, Callable[..., PrunePlan]] = {}  # method name -> fn(model, **settings) -> PrunePlan


@dataclass(frozen=True)
class MethodInfo:
    """What the package needs to know about a registered method besides its function.

    ``needs_data``: the method samples activations of training images (``fn`` gets ``data=``: ThiNet, the
    regression-based reconstruction). ``data_driven``: the pruned architecture depends on the trained weights
    (Network Slimming's global threshold), so a projection made before training (pruning the large model at
    its random init, :func:`nbprune.graph.project_grid`) only estimates its size."""

    needs_data: bool = False
    data_driven: bool = True


METHOD_INFO: dict[str, MethodInfo] = {}  # method name -> what it needs (registered with the method)
HOOKS: dict[str, type[TrainHook]] = {}  # RunConfig field -> the hook class that consumes it


def register_method(name: str, *, needs_data: bool = False,
                    data_driven: bool = True) -> Callable[[Callable[..., PrunePlan]], Callable[..., PrunePlan]]:
    """Decorator: ``fn(model, **settings) -> PrunePlan`` becomes method ``name``, with what the package needs
    to know about it (:class:`MethodInfo`) registered in the same place."""
    def deco(fn):
        METHODS[name] = fn
        METHOD_INFO[name] = MethodInfo(needs_data=needs_data, data_driven=data_driven)
        return fn
    return deco


def method_info(name: str) -> MethodInfo:
    """The :class:`MethodInfo` of a registered method; a ValueError names the registered ones otherwise."""
    if name not in METHOD_INFO:
        raise ValueError(f"method: unknown {name!r}; registered: {', '.join(sorted(METHOD_INFO))}")
    return METHOD_INFO[name]


def register_hook(cls: type[TrainHook]) -> type[TrainHook]:
    """Class decorator: ``cls`` (a :class:`~nbprune.hooks.TrainHook` with a ``field``) is the hook of runs
    that set that RunConfig field (:func:`nbprune.prune.hooks_for`)."""
    if not (isinstance(cls, type) and issubclass(cls, TrainHook)) or not cls.field:
        raise ValueError(f"hook: must be a TrainHook subclass naming the config field it consumes, got {cls!r}")
    HOOKS[cls.field] = cls
    return cls
