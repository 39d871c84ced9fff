"""The paper's pipelines as configs: train large -> prune -> fine-tune / Scratch-E / Scratch-B.

Every step is a :class:`~nbprune.train.RunConfig` of the run store, so a chain that was run before costs
nothing, and a chain that was interrupted continues where it stopped. The configs of the runs derived from a
large model by a pruning plan are built here (:func:`derived_configs`, from each variant's registered
``derive``, :mod:`nbprune.variants`) and nowhere else, so the notebooks, the CLI and the tests share one
definition of each variant:

* ``fine-tuned``: the pruned large model trained ``finetune_epochs`` at the lowest lr (0.001), constant.
* ``scratch-e``: the pruned architecture from random init, as many epochs as the large model.
* ``scratch-b``: the same, for ``int(epochs * FLOPs_large / FLOPs_pruned)`` epochs (same computation), the lr
  milestones scaled alike.
* ``pruned``: the pruned large model evaluated as it is (Soft Filter Pruning's result; no training).
* ``winning-ticket`` / ``random-init``: the lottery-ticket comparison: the pruned architecture (or mask)
  trained from the large model's own init vs from a fresh draw of the large model, pruned the same way (so
  both start at the unpruned model's init scale and differ in their values only).

Structured plans carry over as a cfg and the channel selections (scratch runs of the same architecture are
shared); unstructured plans carry their masks, so their scratch runs name the parent they were pruned from.
From-scratch runs draw their init from a seed stream of their own (:func:`~nbprune.train.fresh_seed`).

Soft Filter Pruning as its authors ran it (``sfp`` with ``convs="all"``, :mod:`nbprune.prune.sfp`) gives a
*masked* plan: every conv keeps its size and masks the filters SFP zeroed. Its ``pruned`` run is the masked
full-size network, and its Scratch-E/B are the full-size network drawn afresh, each conv's He std taken over
the kept filters (:func:`~nbprune.prune.unstructured.rescale_init`: ``sqrt(2 / (k*k*kept))``, the authors'
``n = mask.sum() / in_channels``), multiplied by the mask and kept masked at every step (the authors mask the
gradients; here the weights are re-masked after each step, which keeps the same zeros), as for any
unstructured plan. Scratch-B follows the paper's rule with E the large (SFP-trained) model's epochs, 200 on
SFP's recipe, FLOPs_large counted dense and FLOPs_pruned by SFP's count (:func:`nbprune.flops.count_flops`).
The authors' Scratch-B script (``pruning_resnet_longer_scratch.py``) trains ``int(400 * ratio)`` epochs with
the lr steps of the 200-epoch schedule scaled by the ratio only: twice the large model's budget, its last lr
phase stretched. The paper defines Scratch-B as the large model's budget, and where the paper and the code
disagree the paper is the spec, so the book trains ``int(200 * ratio)`` epochs with every milestone scaled
(ResNet-56 at 40%, full width: 400 epochs; the script, whose FLOPs count takes the non-zero weights only and so
keeps the input channels a masked filter feeds, would train 642).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .presets import Preset, for_dataset
from .prune import PrunePlan
from .train import RunConfig, fresh_seed
from .variants import (
    FINETUNE_LR,
    RESTART_WARMUP,
    Derivation,
    get_variant,
    list_variants,
    retraining_schedule,
    variants_in,
)

if TYPE_CHECKING:  # a type only: pipeline names configs, the run store trains them
    from .runs import RunResult

VARIANTS = ("fine-tuned", "scratch-e", "scratch-b")  # the paper's three, the default of a chain
__all__ = ["ALL_VARIANTS", "FINETUNE_LR", "RESTART_WARMUP", "RETRAINING", "VARIANTS", "Chain", "derived_configs",
           "large_config", "retraining_schedule"]


@dataclass
class Chain:
    """One large model, one pruning of it, and the runs derived from it."""

    large: RunResult
    plan: PrunePlan
    flops_large: int
    flops_pruned: int
    runs: dict[str, RunResult] = field(default_factory=dict)
    stage_sparsity: list[float] | None = None  # a masked plan's pruned fraction per stage (guided sparsification)


def large_config(preset: Preset, model: str, seed: int, dataset: str = "cifar10", **overrides) -> RunConfig:
    """The large (unpruned) model's run at a preset."""
    return RunConfig.from_preset(preset, model, seed=seed, dataset=dataset, **overrides)


# recipe fields a derived run takes from its large model (all default in the paper's recipe; SFP sets them)
RECIPE_FIELDS = ("momentum", "weight_decay", "nesterov", "gamma", "warmup_epochs", "warmup_lr", "normalization")


def derived_configs(large: RunConfig, plan: PrunePlan, spec: dict, flops_large: int, flops_pruned: int,
                    preset: Preset, variants=VARIANTS, lr: float | None = None,
                    selections: dict[str, list[int]] | None = None) -> dict[str, RunConfig]:
    """The configs of each variant derived from ``large`` by ``plan`` (made with ``spec``).

    ``lr``: the initial lr of the runs trained from an init (Scratch, tickets; None: the large model's); a
    warm-up of the large model's recipe keeps its ratio to it (Table 11: SFP from a pretrained model at lr 0.01
    after 0.001, its Scratch runs at 0.1 after 0.01, as the authors' scratch scripts).
    ``selections``: the pruned model's channel selections (:func:`nbprune.models.selections_of`), carried
    into every structured run trained from scratch, so it reads the channels the pruned model reads.
    Every from-scratch run draws its init from :func:`~nbprune.train.fresh_seed` (no value shared with the
    large model's init); ``random-init``, the lottery control, is the ticket's architecture drawn afresh at
    the unpruned model's scale (``init="parent-random"``), so it differs from the ticket in values only.
    """
    p = for_dataset(preset, large.dataset)
    kwargs = large.model_kwargs  # a named architecture's own keyword arguments win (VGG-GAP's head)
    if plan.info.get("model_kwargs"):
        kwargs = tuple(sorted({**dict(large.model_kwargs), **plan.info["model_kwargs"]}.items()))
    common = dict(model=plan.arch, dataset=large.dataset, width=large.width, model_kwargs=kwargs,
                  num_classes=large.num_classes, image_size=large.image_size,
                  batch_size=large.batch_size, seed=large.seed, train_subset=large.train_subset,
                  test_subset=large.test_subset, val_size=large.val_size, amp=large.amp,
                  **{f: getattr(large, f) for f in RECIPE_FIELDS})
    cfg = plan.cfg if plan.structured else None
    lineage = dict(parent=large.run_id, prune=spec)
    fresh = dict(init_seed=fresh_seed(large.seed))
    sel = dict(selections=selections or {}) if plan.structured else {}
    scratch = dict(cfg=cfg, **sel, **fresh) if plan.structured else dict(cfg=cfg, **lineage, **fresh)
    lr_kw = {} if lr is None else {"lr": lr}
    if lr is not None and large.warmup_epochs and large.lr:  # a warm-up keeps its ratio to the initial lr
        common["warmup_lr"] = round(large.warmup_lr * lr / large.lr, 12)
    d = Derivation(large, common, cfg, lineage, fresh, scratch, lr_kw, p.finetune_epochs, flops_large, flops_pruned)
    out = {}
    for v in variants:
        derive = get_variant(v).derive if v in list_variants() else None
        if derive is None:
            raise ValueError(f"variants: unknown {v!r}; allowed: {', '.join(list_variants(derived=True))}")
        out[v] = RunConfig(**derive(d))
    return out


# Table 16's longer fine-tuning, as multiples of the preset's fine-tuning epochs (at ``paper``: 80 and 160 of 40):
# the variants of group "longer fine-tuning" (nbprune.variants)
LONGER_FINETUNING = {v: get_variant(v).finetune_factor for v in variants_in("longer fine-tuning")}
# chapter 6's retraining schedules (Le & Hua 2021; Renda et al. 2020): same budget as fine-tuning, another lr
RETRAINING = variants_in("retraining")
ALL_VARIANTS = tuple(list_variants(derived=True))
