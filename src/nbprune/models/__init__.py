"""Model registry and public API.

Every model built by :func:`create_model` carries ``arch`` (registry name of the family base),
``cfg`` (explicit, JSON-serialisable channel configuration),
``num_classes`` and ``width``; ``create_model(**model_spec(model))`` rebuilds the same architecture.
The per-family cfg formats are documented in each family module.

Named pruned targets (``vgg16-a``, ``resnet56-a``, ``imagenet-resnet34-a`` ...) are registered names
whose cfg is fixed (and, optionally, some keyword arguments defaulted, e.g. ``batch_norm=False`` for the
plain VGG-16 of ThiNet); the model they build reports the base family as ``arch``.

Layout (no module here imports this package's ``__init__``): :mod:`nbprune.models.registry` holds the
registry and :func:`create_model`; :mod:`nbprune.models.layers` and :mod:`nbprune.models.widths` the
building blocks and cfg helpers the families share; each family module (``vgg``, ``resnet``, ``preresnet``,
``densenet``, ``imagenet``) registers its family (:func:`register_family`: paper names, Network Slimming's
penalty, channel units for surgery) and its models when imported. This ``__init__`` imports every module of the
package (:func:`nbprune.plugins.import_all`), so a new family module registers itself by being here.
"""

from __future__ import annotations

from nbprune.models.layers import (
    ChannelSelection,
    check_gamma,
    init_weights,
    selections_of,
    set_identity,
    set_selections,
)
from nbprune.models.registry import (
    Family,
    create_model,
    default_cfg,
    family_of,
    list_families,
    list_models,
    list_targets,
    model_spec,
    models_with,
    named_target_cfg,
    paper_name,
    register_family,
    register_model,
    register_target,
    slimming_penalty,
    unknown_choice,
)
from nbprune.models.units import Unit, conv_unit, selection_unit
from nbprune.models.widths import cfg_error, int_list, is_pos_int, scale
from nbprune.plugins import import_all

FAMILY_MODULES = import_all(__name__, __path__)  # importing a module registers its family and models

__all__ = [
    "ChannelSelection",
    "Family",
    "Unit",
    "cfg_error",
    "check_gamma",
    "conv_unit",
    "create_model",
    "default_cfg",
    "family_of",
    "init_weights",
    "int_list",
    "is_pos_int",
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
    "scale",
    "selection_unit",
    "selections_of",
    "set_identity",
    "set_selections",
    "slimming_penalty",
    "unknown_choice",
]
