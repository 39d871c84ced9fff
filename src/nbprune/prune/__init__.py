"""Pruning methods as plug-ins behind one interface: score -> plan -> apply.

A method looks at a trained model and returns a :class:`PrunePlan`: which channels each prunable unit
keeps (structured) and/or which weights stay (unstructured masks), plus a report (per-layer widths,
thresholds). :func:`apply_plan` turns a plan into a model: structured plans through surgery (a physically
smaller model of the same family), unstructured plans as ``weight_mask`` buffers that training keeps at
zero. Plans depend only on the model they were computed from, so the same plan applied to the model's
random init gives a lottery ticket.

Methods register themselves with :func:`register_method` (:mod:`nbprune.prune.plan`); :func:`make_plan` runs
one by name. A method that acts during training (Network Slimming's penalty, Soft Filter Pruning's zeroing,
Sparse Structure Selection's block scales) also registers a training hook (:func:`register_hook`, see
:mod:`nbprune.hooks`) for the RunConfig field it consumes; :func:`hooks_for` makes a config's hooks.
"""

from __future__ import annotations

import copy

import torch.nn as nn

from nbprune.choices import unknown_choice
from nbprune.data import calibration_images
from nbprune.hooks import TrainHook
from nbprune.models import create_model
from nbprune.plugins import import_all
from nbprune.prune._checks import check_fraction
from nbprune.prune.plan import (
    HOOKS,
    METHOD_INFO,
    METHODS,
    MethodInfo,
    PrunePlan,
    method_info,
    register_hook,
    register_method,
    search_comparisons,
)
from nbprune.prune.reconstruct import apply_reconstruction
from nbprune.prune.sss import apply_block_removal
from nbprune.prune.stages import resolution_stages
from nbprune.prune.surgery import prune_channels
from nbprune.prune.unstructured import attach_masks, rescale_init
from nbprune.train import RunConfig, build_model, thaw

METHOD_MODULES = import_all(__name__, __path__)  # importing a module registers its methods and hooks

__all__ = ["METHOD_INFO", "MethodInfo", "PrunePlan", "apply_plan", "method_info", "check_fraction", "derive_state", "hooks_for", "list_methods",
           "make_plan", "register_hook", "register_method", "resolution_stages", "search_comparisons"]


def list_methods() -> list[str]:
    """The names of every registered pruning method."""
    return sorted(METHODS)


def make_plan(model: nn.Module, method: str, **settings) -> PrunePlan:
    """Run pruning method ``method`` on ``model`` (not modified) and return its plan."""
    if method not in METHODS:
        raise unknown_choice("method", method, sorted(METHODS))
    return METHODS[method](model, **settings)


def hooks_for(config: RunConfig) -> list[TrainHook]:
    """The training hooks of ``config``'s pruning methods: one per field of
    :meth:`~nbprune.config.RunConfig.regularizer_fields`, carrying its value, in field order (and, as keywords,
    the config fields its class lists in ``options``, e.g. Soft Filter Pruning's ``sfp_convs``). Pass them to
    :func:`nbprune.train.train` and :func:`nbprune.train.build_model`."""
    hooks = []
    for name, value in config.regularizer_fields().items():
        if name not in HOOKS:
            raise ValueError(f"{name}: no training hook is registered for it; allowed: {', '.join(sorted(HOOKS))}")
        cls = HOOKS[name]
        hooks.append(cls(value, **{o: getattr(config, o) for o in getattr(cls, "options", ())}))
    return hooks


def apply_plan(model: nn.Module, plan: PrunePlan, reconstruct: bool = True) -> nn.Module:
    """A new model pruned by ``plan``: block removal (Sparse Structure Selection), surgery for kept channels
    (with the consumers' refitted weights of ThiNet / regression when ``reconstruct``), ``weight_mask``
    buffers for masks."""
    if "blocks" in plan.info:
        return apply_block_removal(model, plan)
    if "architecture" in plan.info:  # a named architecture without weights (prune.structured.architecture)
        return create_model(plan.arch, num_classes=model.num_classes, cfg=plan.cfg, **plan.info["model_kwargs"])
    if plan.keep:
        if reconstruct and plan.info.get("weights"):
            model = apply_reconstruction(model, plan)
        else:
            model = prune_channels(model, plan.keep)
    else:
        model = copy.deepcopy(model)
    if plan.masks:
        attach_masks(model, plan.masks)
    return model




def derive_state(parent, config: RunConfig, plan: PrunePlan | None = None) -> dict | None:
    """The starting state of a run derived from ``parent`` (a finished RunResult) by ``config.prune``, with
    ``plan`` (the stored plan of that prune, :func:`nbprune.plans.plan_for`; None: computed here)."""
    if plan is None:
        settings = dict(config.prune)
        method = settings.pop("method")
        settings = {k: thaw(v) for k, v in settings.items()}
        if method_info(method).needs_data:
            settings["data"] = calibration_images(parent.config)
        plan = make_plan(parent.model("final"), method, **settings)
    want = None if config.cfg is None else thaw(config.cfg)
    if want is not None and plan.structured and plan.cfg != want:
        raise ValueError(f"cfg: the run asks for {want} but pruning the parent {config.parent} "
                         f"with {dict(config.prune)} gives {plan.cfg}")
    if "architecture" in plan.info and config.init != "random":
        raise ValueError(f"init: {config.init!r} inherits weights, but the plan {plan.info['architecture']!r} is an "
                         "architecture without weights; allowed: 'random' (Scratch-E/B)")
    if config.init == "parent":
        return apply_plan(parent.model("final"), plan).state_dict()
    if config.init == "parent-init":  # refitted weights mean nothing on an init: plain surgery
        return apply_plan(parent.model("init"), plan, reconstruct=False).state_dict()
    if config.init == "parent-rewind":  # a rewound ticket: the parent's weights early in its training, pruned alike
        return apply_plan(parent.model(f"rewind-{config.rewind_step}"), plan, reconstruct=False).state_dict()
    if config.init == "parent-random":  # the ticket's control: a fresh draw of the unpruned model, pruned alike
        seed = config.seed if config.init_seed is None else config.init_seed
        large = parent.config.replace(init_seed=seed)
        fresh_large = build_model(large, large.classes, hooks_for(large))
        return apply_plan(fresh_large, plan, reconstruct=False).state_dict()
    if not plan.masks:  # structured scratch training: the architecture is all that carries over
        return None
    fresh = build_model(config, config.classes, hooks_for(config))
    attach_masks(fresh, plan.masks)
    rescale_init(fresh)
    return fresh.state_dict()
