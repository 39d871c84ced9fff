"""The model registry: names -> factories (and named pruned targets -> fixed cfgs), and building by name.

A leaf of :mod:`nbprune.models` (as ``timm/models/_registry.py``): it imports no model family. Each family
module imports it and registers one named factory per model with :func:`register_model` (and one named cfg
function per pruned target with :func:`register_target`); ``nbprune.models`` imports the families, so
importing it fills the registry.

A factory is called as ``factory(num_classes=..., cfg=..., width=..., **kwargs)``; the keyword arguments
its signature names beyond those three are the ones :func:`create_model` accepts for that model.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any

from torch import nn

from nbprune.choices import unknown_choice

__all__ = [
    "create_model",
    "default_cfg",
    "list_models",
    "list_targets",
    "model_spec",
    "named_target_cfg",
    "register_model",
    "register_target",
    "unknown_choice",
]

Factory = Callable[..., nn.Module]
CfgFn = Callable[[float], Any]

# name -> (factory, default_cfg(width) or None)
_MODELS: dict[str, tuple[Factory, CfgFn | None]] = {}
# name -> (base model name, cfg(width), default keyword arguments of the base factory)
_TARGETS: dict[str, tuple[str, CfgFn, dict[str, Any]]] = {}


def register_model(name: str, default_cfg: CfgFn | None = None) -> Callable[[Factory], Factory]:
    """Register ``factory(num_classes, cfg, width, **kwargs)`` under ``name``.

    ``default_cfg(width)`` gives the cfg used when none is passed (omit it for models without a cfg).
    """

    def decorator(factory: Factory) -> Factory:
        if name in _MODELS or name in _TARGETS:
            raise ValueError(f"model: {name!r} is already registered")
        _MODELS[name] = (factory, default_cfg)
        return factory

    return decorator


def register_target(name: str, base: str, **defaults: Any) -> Callable[[CfgFn], CfgFn]:
    """Register a named pruned target: ``cfg_fn(width)`` gives its fixed cfg for the ``base`` model.

    ``defaults`` are keyword arguments of the base factory that the target uses unless the caller of
    :func:`create_model` passes them (the built model records them in its spec as usual).
    """

    def decorator(cfg_fn: CfgFn) -> CfgFn:
        if name in _MODELS or name in _TARGETS:
            raise ValueError(f"model: {name!r} is already registered")
        _TARGETS[name] = (base, cfg_fn, dict(defaults))
        return cfg_fn

    return decorator


def list_models() -> list[str]:
    """All registered model names, named targets included."""
    return sorted([*_MODELS, *_TARGETS])


def list_targets() -> list[str]:
    """Names of the named pruned targets."""
    return sorted(_TARGETS)


def _check_name(name: str) -> None:
    """A ValueError naming ``model`` unless ``name`` is registered."""
    if name not in _MODELS and name not in _TARGETS:
        raise unknown_choice("model", name, list_models())


def _check_width(width: float) -> None:
    """A ValueError naming ``width`` unless it is a finite number in (0, 4]."""
    if (
        isinstance(width, bool)
        or not isinstance(width, numbers.Real)
        or not math.isfinite(width)
        or not 0 < width <= 4
    ):
        raise ValueError(f"width: must be a number with 0 < width <= 4, got {width!r}")


def named_target_cfg(name: str, width: float = 1.0) -> Any:
    """The fixed cfg of a named pruned target at the given width multiplier."""
    if name not in _TARGETS:
        raise unknown_choice("target", name, list_targets())
    _check_width(width)
    return _TARGETS[name][1](width)


def default_cfg(name: str, width: float = 1.0) -> Any:
    """The cfg that ``create_model(name, width=width)`` uses."""
    _check_name(name)
    if name in _TARGETS:
        return named_target_cfg(name, width)
    _check_width(width)
    cfg_fn = _MODELS[name][1]
    return None if cfg_fn is None else cfg_fn(width)


def create_model(
    name: str, num_classes: int = 10, cfg: Any = None, width: float = 1.0, **kwargs: Any
) -> nn.Module:
    """Build a registered model; ``cfg=None`` means the default (or the named target's) cfg."""
    _check_name(name)
    _check_width(width)
    if isinstance(num_classes, bool) or not isinstance(num_classes, numbers.Integral) or num_classes < 2:
        raise ValueError(f"num_classes: must be an int >= 2, got {num_classes!r}")
    if name in _TARGETS:
        base, cfg_fn, defaults = _TARGETS[name]
        if cfg is not None:
            raise ValueError(f"cfg: must be None for the named target {name!r}; pass it to {base!r}")
        name, cfg, kwargs = base, cfg_fn(width), {**defaults, **kwargs}
    factory = _MODELS[name][0]
    accepted = [p for p in inspect.signature(factory).parameters if p not in ("num_classes", "cfg", "width")]
    for key in kwargs:
        if key not in accepted:
            raise ValueError(f"{key}: not accepted by {name!r}; allowed keyword arguments: {accepted or 'none'}")
    return factory(num_classes=int(num_classes), cfg=cfg, width=float(width), **kwargs)


def model_spec(model: nn.Module) -> dict[str, Any]:
    """Keyword arguments that rebuild ``model``'s architecture via ``create_model(**spec)``."""
    spec = {"name": model.arch, "num_classes": model.num_classes, "cfg": model.cfg, "width": model.width}
    spec.update(getattr(model, "extra_spec", {}))
    return spec
