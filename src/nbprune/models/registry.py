"""The model registry: names -> factories (and named pruned targets -> fixed cfgs), and building by name.

A leaf of :mod:`nbprune.models` (as ``timm/models/_registry.py``): it imports no model family. Each family
module imports it and registers one named factory per model with :func:`register_model` (and one named cfg
function per pruned target with :func:`register_target`); ``nbprune.models`` imports the families, so
importing it fills the registry.

A factory is called as ``factory(num_classes=..., cfg=..., width=..., **kwargs)``; the keyword arguments
its signature names beyond those three are the ones :func:`create_model` accepts for that model.

A *family* (VGG, ResNet, ...) registers once, in its module, with :func:`register_family`: its module class,
its model names, and what the rest of the package asks of it: the paper's spelling of each model
(:func:`paper_name`), Network Slimming's sparsity penalty (:func:`slimming_penalty`) and how its channel
units are enumerated for surgery (:func:`family_of` ``(model).require("channel_units")``). A property a family
did not register is a ValueError naming it, never a default borrowed from another family.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from nbprune.choices import unknown_choice
from nbprune.models.units import UnitsFn

__all__ = [
    "Family",
    "create_model",
    "default_cfg",
    "family_of",
    "list_families",
    "list_models",
    "list_targets",
    "model_spec",
    "models_with",
    "named_target_cfg",
    "paper_name",
    "register_family",
    "register_model",
    "register_target",
    "slimming_penalty",
    "unknown_choice",
]

Factory = Callable[..., nn.Module]
CfgFn = Callable[[float], Any]

# name -> (factory, default_cfg(width) or None)
_MODELS: dict[str, tuple[Factory, CfgFn | None]] = {}
# name -> (base model name, cfg(width), default keyword arguments of the base factory)
_TARGETS: dict[str, tuple[str, CfgFn, dict[str, Any]]] = {}
# family name -> its registration, in registration order
_FAMILIES: dict[str, Family] = {}

# what a family may register, with the words an error about a missing one uses
FAMILY_PROPERTIES = {"paper_names": "paper names", "slimming_penalty": "Network Slimming sparsity penalty",
                     "channel_units": "channel-unit enumeration (for channel surgery)"}


@dataclass(frozen=True)
class Family:
    """One model family's registration (see :func:`register_family`)."""

    name: str
    cls: type[nn.Module]  # the class every model of the family is an instance of
    models: tuple[str, ...]  # its registered model names (named targets belong to their base's family)
    paper_names: Mapping[str, str] = field(default_factory=dict)  # model name -> the paper's spelling
    slimming_penalty: float | None = None  # Network Slimming's sparsity penalty s (the paper's, per family)
    channel_units: UnitsFn | None = None  # model -> (unit name, Unit) pairs in forward order

    def require(self, prop: str) -> Any:
        """The registered value of ``prop`` (a field above); a ValueError naming the family when it registered
        none."""
        if prop not in FAMILY_PROPERTIES:
            raise unknown_choice("property", prop, FAMILY_PROPERTIES)
        value = getattr(self, prop)
        if value is None or (prop == "paper_names" and not value):
            raise ValueError(f"model: the {self.name!r} family registers no {FAMILY_PROPERTIES[prop]}; "
                             f"families that do: {', '.join(list_families(prop)) or 'none'}")
        return value


def register_family(name: str, cls: type[nn.Module], models: tuple[str, ...] | list[str], *,
                    paper_names: Mapping[str, str] | None = None, slimming_penalty: float | None = None,
                    channel_units: UnitsFn | None = None) -> Family:
    """Register the model family ``name``: every model in ``models`` builds an instance of ``cls``.

    ``paper_names`` maps each model to the paper's spelling (``{"vgg16": "VGG-16"}``); ``slimming_penalty`` is
    Network Slimming's sparsity penalty s for the family (None: the family is not slimmed);
    ``channel_units(model)`` yields the model's prunable channel groups as ``(name, Unit)`` pairs in forward
    order (:mod:`nbprune.models.units`; None: structured methods refuse the family). Returns the record.
    """
    if name in _FAMILIES:
        raise ValueError(f"family: {name!r} is already registered")
    models = tuple(models)
    if not models or any(not isinstance(m, str) for m in models):
        raise ValueError(f"models: must be a non-empty list of model names, got {models!r}")
    for m in models:
        if (other := next((f.name for f in _FAMILIES.values() if m in f.models), None)) is not None:
            raise ValueError(f"models: {m!r} already belongs to the {other!r} family")
    paper_names = dict(paper_names or {})
    if stray := [m for m in paper_names if m not in models]:
        raise ValueError(f"paper_names: {', '.join(map(repr, stray))} not among the family's models "
                         f"({', '.join(models)})")
    bad = isinstance(slimming_penalty, bool) or not isinstance(slimming_penalty, numbers.Real) \
        or not 0 < slimming_penalty < 1
    if slimming_penalty is not None and bad:
        raise ValueError(f"slimming_penalty: must be None or a number in (0, 1), got {slimming_penalty!r}")
    family = Family(name, cls, models, paper_names, slimming_penalty, channel_units)
    _FAMILIES[name] = family
    return family


def list_families(prop: str | None = None) -> list[str]:
    """The registered family names, in registration order; with ``prop``, only those that register it."""
    return [n for n, f in _FAMILIES.items()
            if prop is None or (getattr(f, prop) is not None and getattr(f, prop) != {})]


def models_with(prop: str) -> list[str]:
    """The model names (named targets aside) whose family registers ``prop`` (e.g. ``"slimming_penalty"``: the
    models Network Slimming can run on), families in registration order."""
    return [m for name in list_families(prop) for m in _FAMILIES[name].models]


def family_of(model: str | nn.Module) -> Family:
    """The family of a model name (a named target's is its base's) or of a built model (by its class); a
    ValueError naming ``model`` when no family claims it."""
    if isinstance(model, nn.Module):
        for family in _FAMILIES.values():
            if isinstance(model, family.cls):
                return family
        raise ValueError(f"model: {getattr(model, 'arch', type(model).__name__)!r} is an instance of no registered "
                         f"family's class; families: {', '.join(_FAMILIES)}")
    _check_name(model)
    base = _TARGETS[model][0] if model in _TARGETS else model
    for family in _FAMILIES.values():
        if base in family.models:
            return family
    raise ValueError(f"model: {model!r} belongs to no registered family (register_family(..., models=...)); "
                     f"families: {', '.join(_FAMILIES)}")


def paper_name(model: str) -> str:
    """The paper's spelling of ``model`` ("vgg16" -> "VGG-16"), as its family registered it; a ValueError
    naming ``model`` when the family registered none for it."""
    names = family_of(model).require("paper_names")
    if model not in names:
        raise ValueError(f"model: the {family_of(model).name!r} family registers no paper name for {model!r}; "
                         f"it names: {', '.join(names)}")
    return names[model]


def slimming_penalty(model: str) -> float:
    """Network Slimming's sparsity penalty s for ``model``, its family's (1e-4 for VGG, 1e-5 for PreResNet and
    DenseNet in the paper); a ValueError when the family registered none."""
    return family_of(model).require("slimming_penalty")


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
