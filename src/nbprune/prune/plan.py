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
    its random init, :func:`nbprune.projection.project_grid`) only estimates its size. ``stage_pattern``: what
    a guided follow-up copies from the method's one-shot plans (:func:`nbprune.runner.stage_patterns`):
    ``"keep"`` (the fraction of channels kept per stage, Network Slimming's architectures) or ``"sparsity"``
    (the pruned fraction of weights per stage, magnitude pruning's masks); None: none. ``compared_with``: the
    architecture-search comparisons the method is side ``a`` of, at the same fraction pruned (chapter 4,
    :func:`nbprune.report.search_stats`): (method b, the paper's finding in the terms of
    :func:`nbprune.stats.agreement`, or None where it tabulates none)."""

    needs_data: bool = False
    data_driven: bool = True
    stage_pattern: str | None = None
    compared_with: tuple[tuple[str, str | None], ...] = ()


METHOD_INFO: dict[str, MethodInfo] = {}  # method name -> what it needs (registered with the method)
HOOKS: dict[str, type[TrainHook]] = {}  # RunConfig field -> the hook class that consumes it


STAGE_PATTERNS = ("keep", "sparsity")  # the per-stage patterns a guided follow-up can copy


def register_method(name: str, *, needs_data: bool = False, data_driven: bool = True,
                    stage_pattern: str | None = None, compared_with: tuple[tuple[str, str | None], ...] = (),
                    ) -> Callable[[Callable[..., PrunePlan]], Callable[..., PrunePlan]]:
    """Decorator: ``fn(model, **settings) -> PrunePlan`` becomes method ``name``, with what the package needs
    to know about it (:class:`MethodInfo`) registered in the same place."""
    if stage_pattern is not None and stage_pattern not in STAGE_PATTERNS:
        raise ValueError(f"stage_pattern: must be None or one of {', '.join(STAGE_PATTERNS)}, got {stage_pattern!r}")
    if any(not (isinstance(c, tuple) and len(c) == 2 and isinstance(c[0], str)) for c in compared_with):
        raise ValueError(f"compared_with: must be (method, claim or None) pairs, got {compared_with!r}")

    def deco(fn):
        METHODS[name] = fn
        METHOD_INFO[name] = MethodInfo(needs_data=needs_data, data_driven=data_driven, stage_pattern=stage_pattern,
                                       compared_with=tuple(compared_with))
        return fn
    return deco


def search_comparisons() -> list[tuple[str, str, str | None]]:
    """Every registered architecture-search comparison (a, b, claim), in the methods' registration order."""
    return [(a, b, claim) for a, info in METHOD_INFO.items() for b, claim in info.compared_with]


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
