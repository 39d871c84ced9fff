"""Pruning methods as plug-ins behind one interface: score -> plan -> apply.

A method looks at a trained model and returns a :class:`PrunePlan`: which channels each prunable unit
keeps (structured) and/or which weights stay (unstructured masks), plus a report (per-layer widths,
thresholds). :func:`apply_plan` turns a plan into a model: structured plans through surgery (a physically
smaller model of the same family), unstructured plans as ``weight_mask`` buffers that training keeps at
zero. Plans depend only on the model they were computed from, so the same plan applied to the model's
random init gives a lottery ticket.

Methods register themselves with :func:`register_method`; :func:`make_plan` runs one by name.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn


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
        """Whether the plan changes the architecture (channels kept, or blocks removed)."""
        return bool(self.keep) or "blocks" in self.info


_METHODS: dict[str, Callable[..., PrunePlan]] = {}


def register_method(name: str) -> Callable[[Callable[..., PrunePlan]], Callable[..., PrunePlan]]:
    """Decorator: ``fn(model, **settings) -> PrunePlan`` becomes method ``name``."""
    def deco(fn):
        _METHODS[name] = fn
        return fn
    return deco


def list_methods() -> list[str]:
    """The names of every registered pruning method."""
    _load_methods()
    return sorted(_METHODS)


def _load_methods() -> None:
    from . import reconstruct, sfp, sss, structured, unstructured  # noqa: F401  (importing registers them)


def make_plan(model: nn.Module, method: str, **settings) -> PrunePlan:
    """Run pruning method ``method`` on ``model`` (not modified) and return its plan."""
    _load_methods()
    if method not in _METHODS:
        close = difflib.get_close_matches(str(method), _METHODS, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ValueError(f"method: unknown {method!r}{hint} allowed: {', '.join(sorted(_METHODS))}")
    return _METHODS[method](model, **settings)


def apply_plan(model: nn.Module, plan: PrunePlan, reconstruct: bool = True) -> nn.Module:
    """A new model pruned by ``plan``: block removal (Sparse Structure Selection), surgery for kept channels
    (with the consumers' refitted weights of ThiNet / regression when ``reconstruct``), ``weight_mask``
    buffers for masks."""
    if "blocks" in plan.info:
        from .sss import apply_block_removal

        return apply_block_removal(model, plan)
    if plan.keep:
        if reconstruct and plan.info.get("weights"):
            from .reconstruct import apply_reconstruction

            model = apply_reconstruction(model, plan)
        else:
            from .surgery import prune_channels

            model = prune_channels(model, plan.keep)
    else:
        import copy

        model = copy.deepcopy(model)
    if plan.masks:
        from .unstructured import attach_masks

        attach_masks(model, plan.masks)
    return model


NEEDS_DATA = ("thinet", "regression")  # methods that sample activations of training images


def derive_state(parent, config) -> dict | None:
    """The starting state of a run derived from ``parent`` (a finished RunResult) by ``config.prune``."""
    from ..train import build_model, _thaw

    settings = dict(config.prune)
    method = settings.pop("method")
    settings = {k: _thaw(v) for k, v in settings.items()}
    if method in NEEDS_DATA:
        from ..data import calibration_images

        settings["data"] = calibration_images(parent.config)
    plan = make_plan(parent.model("final"), method, **settings)
    want = None if config.cfg is None else _thaw(config.cfg)
    if want is not None and plan.structured and plan.cfg != want:
        raise ValueError(f"cfg: the run asks for {want} but pruning the parent {config.parent} "
                         f"with {dict(config.prune)} gives {plan.cfg}")
    if config.init == "parent":
        return apply_plan(parent.model("final"), plan).state_dict()
    if config.init == "parent-init":  # refitted weights mean nothing on an init: plain surgery
        return apply_plan(parent.model("init"), plan, reconstruct=False).state_dict()
    from ..data import DATASETS

    if config.init == "parent-random":  # the ticket's control: a fresh draw of the unpruned model, pruned alike
        seed = config.seed if config.init_seed is None else config.init_seed
        fresh_large = build_model(parent.config.replace(init_seed=seed), DATASETS[config.dataset])
        return apply_plan(fresh_large, plan, reconstruct=False).state_dict()
    if not plan.masks:  # structured scratch training: the architecture is all that carries over
        return None
    from .unstructured import attach_masks, rescale_init

    fresh = build_model(config, DATASETS[config.dataset])
    attach_masks(fresh, plan.masks)
    rescale_init(fresh)
    return fresh.state_dict()


def resolution_stages(model: nn.Module, picks: dict[str, tuple[str, bool]],
                      input_size=(3, 32, 32)) -> dict[str, int]:
    """Stages by feature-map size, from one batch-1 forward pass: ``picks`` maps a module name to
    ``(key, use_input)``; each key gets the index (largest first) of the spatial size of that module's output
    (or input, with ``use_input``) among the distinct sizes seen."""
    sizes: dict[str, int] = {}

    def hook(key: str, use_input: bool):
        def record(module, inputs, output) -> None:
            sizes[key] = (inputs[0] if use_input else output).shape[-1]
        return record

    hooks = [m.register_forward_hook(hook(*picks[name])) for name, m in model.named_modules() if name in picks]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, *input_size, device=next(model.parameters()).device))
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    resolutions = sorted(set(sizes.values()), reverse=True)
    return {k: resolutions.index(v) for k, v in sizes.items()}
