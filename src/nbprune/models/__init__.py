"""Model registry and public API.

Every model built by :func:`create_model` carries ``arch`` (registry name of the family base),
``cfg`` (explicit, JSON-serialisable channel configuration),
``num_classes`` and ``width``; ``create_model(**model_spec(model))`` rebuilds the same architecture.
The per-family cfg formats are documented in each family module.

Named pruned targets (``vgg16-a``, ``resnet56-a``, ``imagenet-resnet34-a`` ...) are registered names
whose cfg is fixed (and, optionally, some keyword arguments defaulted, e.g. ``batch_norm=False`` for the
plain VGG-16 of ThiNet); the model they build reports the base family as ``arch``.
"""

from __future__ import annotations

import difflib
import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

__all__ = [
    "ChannelSelection",
    "create_model",
    "default_cfg",
    "list_models",
    "list_targets",
    "model_spec",
    "named_target_cfg",
    "register_model",
    "register_target",
]

Factory = Callable[..., nn.Module]
CfgFn = Callable[[float], Any]

_MODELS: dict[str, tuple[Factory, CfgFn | None]] = {}
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


def unknown_choice(param: str, value: object, allowed: Sequence[str]) -> ValueError:
    """A one-line ValueError naming ``param``, the closest allowed value and all allowed values."""
    close = difflib.get_close_matches(str(value), allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ";"
    return ValueError(f"{param}: unknown {value!r}{hint} allowed: {', '.join(allowed)}")


def _check_name(name: str) -> None:
    if name not in _MODELS and name not in _TARGETS:
        raise unknown_choice("model", name, list_models())


def _check_width(width: float) -> None:
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


# ---- helpers shared by the family modules -------------------------------------------------


def scale(channels: int, width: float) -> int:
    """Width-multiplied channel count: ``max(1, round(channels * width))``."""
    return max(1, round(channels * width))


def is_pos_int(value: object) -> bool:
    """True for a positive integer (bools excluded)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= 1


def cfg_error(arch: str, allowed: str, cfg: object) -> ValueError:
    """A ValueError naming ``cfg``, the model and what is allowed."""
    return ValueError(f"cfg: {arch} needs {allowed}; got {cfg!r}")


def int_list(value: object, max_len: int, min_len: int = 1) -> list[int] | None:
    """``value`` as a list of ``min_len`` to ``max_len`` positive ints, else None."""
    if not isinstance(value, (list, tuple)) or not min_len <= len(value) <= max_len:
        return None
    if not all(is_pos_int(v) for v in value):
        return None
    return [int(v) for v in value]


def set_identity(model: nn.Module, arch: str, cfg: Any, num_classes: int, width: float) -> None:
    """Record the attributes every created model carries."""
    model.arch = arch
    model.cfg = cfg
    model.num_classes = num_classes
    model.width = width


def check_gamma(bn_gamma: Any) -> float:
    """The ``bn_gamma`` model kwarg (BatchNorm2d weight init), checked: a finite number > 0."""
    if isinstance(bn_gamma, bool) or not isinstance(bn_gamma, (int, float)) or not math.isfinite(bn_gamma) or bn_gamma <= 0:
        raise ValueError(f"bn_gamma: must be a finite number > 0, got {bn_gamma!r}")
    return float(bn_gamma)


def init_weights(model: nn.Module, bn_gamma: float) -> None:
    """He init for (bias-free) convs, std sqrt(2 / (k*k*C_out)); N(0, 0.01) Linear, BatchNorm2d gamma/beta.

    BatchNorm1d keeps PyTorch's default (gamma 1, beta 0), as in the L1-norm reference code.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
            nn.init.normal_(m.weight, 0.0, math.sqrt(2.0 / fan_out))
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, bn_gamma)
            nn.init.zeros_(m.bias)


class ChannelSelection(nn.Module):
    """Keeps the input channels listed in the ``indices`` buffer (default: the first ``kept``)."""

    def __init__(self, kept: int) -> None:
        super().__init__()
        self.register_buffer("indices", torch.arange(kept))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1, self.indices)


def selections_of(model: nn.Module) -> dict[str, list[int]]:
    """Module name -> kept input-channel indices of every ``ChannelSelection`` that does not read its first k
    channels (the ones a model rebuilt from its cfg alone would get wrong)."""
    out = {}
    for name, m in model.named_modules():
        if isinstance(m, ChannelSelection):
            idx = m.indices.tolist()
            if idx != list(range(len(idx))):
                out[name] = idx
    return out


def set_selections(model: nn.Module, selections: dict[str, list[int]]) -> None:
    """Make each named ``ChannelSelection`` read the given input channels (as many as it keeps, distinct)."""
    modules = dict(model.named_modules())
    for name, idx in selections.items():
        m = modules.get(name)
        if not isinstance(m, ChannelSelection):
            raise ValueError(f"selections: {name!r} is not a ChannelSelection of {getattr(model, 'arch', 'the model')}")
        if len(idx) != m.indices.numel() or len(set(idx)) != len(idx) or any(
                not isinstance(i, int) or i < 0 for i in idx):
            raise ValueError(f"selections: {name!r} must list {m.indices.numel()} distinct channel indices >= 0, "
                             f"got {len(idx)}")
        m.indices.copy_(torch.tensor(idx, dtype=m.indices.dtype))


from nbprune.models import densenet, imagenet, preresnet, resnet, vgg  # noqa: E402,F401  (registers)
