"""The variants: each way of training (or evaluating) a model from a pruned one is one registered record.

A :class:`Variant` carries everything the package knows about it: its label and order in the tables, its
text in the cost ledger, its colour in the figures, its name as a side of a verdict, the paper's (or the
later work's) claims it is side ``a`` of, and how its run config is derived from the large model and the
pruning plan (:func:`nbprune.pipeline.derived_configs` calls ``derive``). Registering one
(:func:`register_variant`) is the one change a new variant needs; :func:`list_variants` lists them in table
order, and the book's environment appendix shows :func:`variant_table`.

This module is light (no torch at import): ``derive`` returns the keyword arguments of the derived
:class:`~nbprune.config.RunConfig`, built from a :class:`Derivation` (the fields the derived runs share, the
plan's cfg and lineage, the fresh init seed), and :mod:`nbprune.pipeline` makes the config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .choices import unknown_choice

__all__ = ["CLAIMS", "FINETUNE_LR", "RESTART_WARMUP", "Derivation", "Variant", "get_variant", "list_variants",
           "pair_claim", "register_variant", "retraining_schedule", "side_name", "variant_label", "variant_order",
           "variant_table", "variants_in"]

FINETUNE_LR = 0.001  # the lowest lr of large-model training (0.1 x 0.1 x 0.1)
RESTART_WARMUP = 0.1  # the learning-rate restarts ramp up linearly over the first 10% of the retraining steps
CLAIMS = ("a >= b", "a <= b", "a > b", "a = b")  # the claims of :func:`nbprune.stats.agreement`
_NO_WARMUP = {"warmup_epochs": 0, "warmup_lr": 0.0}  # warm-up belongs to training from the start


@dataclass(frozen=True)
class Derivation:
    """What a variant's config is derived from (see :func:`nbprune.pipeline.derived_configs`)."""

    large: Any  # the large model's RunConfig
    common: dict  # fields every derived run shares with the large one (model, data, recipe, seed, ...)
    cfg: Any  # the pruned architecture's cfg (None for a masked plan: the large model's architecture)
    lineage: dict  # parent run id and the pruning spec: the runs that start from the large model's weights
    fresh: dict  # the init seed of a run drawn afresh
    scratch: dict  # a from-scratch run's architecture fields (cfg + selections, or the masked lineage)
    lr: dict  # the initial lr of the runs trained from an init ({}: the large model's)
    finetune_epochs: int  # the preset's fine-tuning budget
    flops_large: int
    flops_pruned: int


@dataclass(frozen=True)
class Variant:
    """One variant: its texts, its place in the tables and claims, and how its config is derived."""

    name: str  # the ``variant`` of result rows ("scratch-b")
    label: str  # its column in the tables and its name in verdicts ("Scratch-B")
    order: int  # its column's position in the tables (ascending)
    pipeline: str  # its pipeline in the cost ledger ("train large + prune + fine-tune")
    colour: str  # its colour in the figures (a matplotlib colour)
    # how its run is derived from a pruned large model: Derivation -> RunConfig keyword arguments; None for a
    # row that is not derived from a plan (the unpruned model, Soft Filter Pruning's trained model)
    derive: Callable[[Derivation], dict] | None = None
    # the row whose training cost its pipeline includes: "unpruned" (the large model of the same model and
    # seed), another variant of the same row ("sfp-trained"), or None (it pays only for itself)
    includes: str | None = None
    side: str | None = None  # its name as a side of a verdict (None: the label in lower case)
    # the claims it is side ``a`` of: (variant b, claim), e.g. (("fine-tuned", "a >= b"),)
    claims: tuple[tuple[str, str], ...] = ()
    group: str = ""  # a family of variants the grids and verdicts ask for together ("retraining")
    finetune_factor: int = 1  # a fine-tuning variant's epochs, as a multiple of the preset's fine-tuning budget


_VARIANTS: dict[str, Variant] = {}


def register_variant(name: str, label: str, order: int, pipeline: str, colour: str, *,
                     derive: Callable[[Derivation], dict] | None = None, includes: str | None = None,
                     side: str | None = None, claims: tuple[tuple[str, str], ...] = (), group: str = "",
                     finetune_factor: int = 1) -> Variant:
    """Register the variant ``name`` (see :class:`Variant` for the fields); returns the record."""
    if not isinstance(name, str) or not name or name in _VARIANTS:
        raise ValueError(f"variant: {name!r} is empty or already registered")
    if isinstance(order, bool) or not isinstance(order, (int, float)):
        raise ValueError(f"order: must be a number (the column's position), got {order!r}")
    for pair in claims:
        if not (isinstance(pair, tuple) and len(pair) == 2 and pair[1] in CLAIMS):
            raise ValueError(f"claims: {pair!r} must be (variant, claim) with claim one of {', '.join(CLAIMS)}")
    if isinstance(finetune_factor, bool) or not isinstance(finetune_factor, int) or finetune_factor < 1:
        raise ValueError(f"finetune_factor: must be an integer >= 1, got {finetune_factor!r}")
    v = Variant(name, label, order, pipeline, colour, derive, includes, side, tuple(claims), group, finetune_factor)
    _VARIANTS[name] = v
    return v


def get_variant(name: str) -> Variant:
    """The variant registered as ``name``; a ValueError naming the registered ones otherwise."""
    if name not in _VARIANTS:
        raise unknown_choice("variant", name, list(_VARIANTS))
    return _VARIANTS[name]


def list_variants(derived: bool | None = None) -> list[str]:
    """The registered variant names in table order; ``derived`` True / False: only those with / without a
    ``derive`` (the ones an :class:`~nbprune.experiments.Experiment` may ask for)."""
    vs = sorted(_VARIANTS.values(), key=lambda v: v.order)
    return [v.name for v in vs if derived is None or (v.derive is not None) == derived]


def variant_order() -> list[str]:
    """Every registered variant, in the tables' column order."""
    return list_variants()


def variants_in(group: str) -> tuple[str, ...]:
    """The variants of ``group`` (e.g. "retraining": the large-lr retraining schedules), in table order."""
    out = tuple(v for v in list_variants() if _VARIANTS[v].group == group)
    if not out:
        raise unknown_choice("group", group, sorted({v.group for v in _VARIANTS.values() if v.group}))
    return out


def variant_label(name: str) -> str:
    """A row value's name in tables and figures: the variant's label; a value that is no variant (a method, a
    schedule pair such as ``random + slr``) is shown as it is."""
    v = _VARIANTS.get(name)
    return name if v is None else v.label


def side_name(name: str) -> str:
    """A side's name in a verdict: the variant's ``side`` ('scratch' for Scratch-E/B), else its label in lower
    case (a value that is no variant as it is, in lower case)."""
    v = _VARIANTS.get(name)
    return name.lower() if v is None else (v.side or v.label.lower())


def pair_claim(a: str, b: str) -> str | None:
    """The claim about ``a - b`` that variant ``a`` registered (``claims``), or None where none is made."""
    v = _VARIANTS.get(a)
    return None if v is None else dict(v.claims).get(b)


def variant_table():
    """Every registered variant as a pandas DataFrame (label, order, ledger text, claims), for the book."""
    import pandas as pd

    rows = [{"variant": v.name, "label": v.label, "derived": v.derive is not None, "pipeline": v.pipeline,
             "claims": "; ".join(" ".join({"a": v.label, "b": get_variant(b).label}.get(t, t) for t in c.split())
                                 for b, c in v.claims)}
            for v in map(get_variant, list_variants())]
    return pd.DataFrame(rows).set_index("variant")


# ---- the derivations ------------------------------------------------------------------------------------
def retraining_schedule(variant: str, large: Any, epochs: int) -> dict:
    """The lr fields of a retraining run of ``epochs`` after ``large`` (a RunConfig):

    * ``lr-rewinding``: the large model's own schedule, its last ``epochs`` epochs replayed (its lr there, its
      later milestones shifted; Renda et al.). Where those epochs all sit in the last lr phase, this is
      fine-tuning at that lr (and then the same run as fine-tuning when that lr is the fine-tuning lr).
    * ``slr`` (scaled learning-rate restarting): the large model's initial lr, x``gamma`` at 50% and 75% of
      the run's steps (step-exact, so a run of one epoch steps down too), after a linear warm-up over the
      first 10% of the steps.
    * ``clr`` (cyclic learning-rate restarting): the large model's initial lr after the same warm-up, then a
      cosine decay to 0 over the run.
    """
    if variant == "lr-rewinding":
        start = max(large.epochs - epochs, 0)
        lr = round(large.lr_at(start), 12)  # 0.1 x 0.1 x 0.1 is 0.001, as fine-tuning's literal
        milestones = tuple(m - start for m in large.lr_milestones() if m > start)
        return {"lr": lr, "milestones": milestones, "gamma": large.gamma}
    if variant == "slr":
        return {"lr": large.lr, "milestones": (), "gamma": large.gamma,
                "schedule": (("drops", (0.5, 0.75)), ("name", "step"), ("warmup", RESTART_WARMUP))}
    if variant == "clr":
        return {"lr": large.lr, "milestones": (), "schedule": (("name", "cosine"), ("warmup", RESTART_WARMUP))}
    raise ValueError(f"variant: {variant!r} is not a retraining schedule; allowed: lr-rewinding, slr, clr")


def _scaled(large: Any, epochs: int) -> tuple[int, ...] | None:
    """The large model's explicit lr milestones scaled to ``epochs`` (None: the default 50%/75% rule)."""
    if large.milestones is None:
        return None
    return tuple(int(m * epochs / large.epochs) for m in large.milestones)


def _fine_tuned(d: Derivation, factor: int = 1) -> dict:
    """The pruned large model trained ``factor x finetune_epochs`` at the lowest lr (0.001), constant."""
    return {**d.common, **_NO_WARMUP, "cfg": d.cfg, **d.lineage, "init": "parent",
            "epochs": factor * d.finetune_epochs, "lr": FINETUNE_LR, "milestones": ()}


def _fine_tuned_longer(factor: int) -> Callable[[Derivation], dict]:
    """Table 16: fine-tuning for ``factor`` times the preset's fine-tuning epochs (at ``paper``: 80 or 160)."""
    def derive(d: Derivation) -> dict:
        return _fine_tuned(d, factor)
    return derive


def _retrained(name: str) -> Callable[[Derivation], dict]:
    """Chapter 6: the pruned model retrained for the fine-tuning budget with schedule ``name``."""
    def derive(d: Derivation) -> dict:
        return {**d.common, **_NO_WARMUP, **retraining_schedule(name, d.large, d.finetune_epochs), "cfg": d.cfg,
                **d.lineage, "init": "parent", "epochs": d.finetune_epochs}
    return derive


def _pruned(d: Derivation) -> dict:
    """The pruned model as it is (Soft Filter Pruning's result): evaluated, not trained."""
    return {**d.common, **_NO_WARMUP, "cfg": d.cfg, **d.lineage, "init": "parent", "epochs": 0}


def _scratch_e(d: Derivation) -> dict:
    """The pruned architecture from a fresh init, as many epochs as the large model."""
    return {**d.common, **d.scratch, "epochs": d.large.epochs, "milestones": d.large.milestones, **d.lr}


def _scratch_b(d: Derivation) -> dict:
    """The same, for ``int(epochs * FLOPs_large / FLOPs_pruned)`` epochs, the lr milestones scaled alike."""
    from .flops import scratch_b_epochs  # torch: only when a config is derived

    epochs = scratch_b_epochs(d.flops_large, d.flops_pruned, d.large.epochs, d.large.dataset)
    return {**d.common, **d.scratch, "epochs": epochs, "milestones": _scaled(d.large, epochs), **d.lr}


def _winning_ticket(d: Derivation) -> dict:
    """The pruned architecture (or mask) trained from the large model's own init."""
    return {**d.common, "cfg": d.cfg, **d.lineage, "init": "parent-init", "epochs": d.large.epochs, **d.lr}


def _rewound_ticket(d: Derivation) -> dict:
    """The ticket restarted from the large model's weights after ~2% of its training."""
    return {**d.common, "cfg": d.cfg, **d.lineage, "init": "parent-rewind",
            "rewind_step": d.large.rewind_steps()[-1], "epochs": d.large.epochs, **d.lr}


def _random_init(d: Derivation) -> dict:
    """The lottery control: the ticket's architecture drawn afresh at the unpruned model's scale."""
    return {**d.common, "cfg": d.cfg, **d.lineage, **d.fresh, "init": "parent-random", "epochs": d.large.epochs,
            **d.lr}


# ---- the registered variants, in the tables' order ------------------------------------------------------
_AS_GOOD = (("fine-tuned", "a >= b"), ("pruned", "a >= b"))  # the paper: scratch is as good as fine-tuning
register_variant("unpruned", "Unpruned", 0, "train large", "tab:blue")
register_variant("sfp-trained", "SFP-trained", 1, "train with soft filter pruning", "tab:purple")
register_variant("pruned", "Pruned", 2, "SFP training + removal (no fine-tuning)", "tab:brown", derive=_pruned,
                 includes="sfp-trained")
register_variant("fine-tuned", "Fine-tuned", 3, "train large + prune + fine-tune", "tab:orange", derive=_fine_tuned,
                 includes="unpruned")
# Table 16: fine-tuning for longer (2x and 4x the preset's fine-tuning epochs), beside Table 1's 40 epochs
register_variant("fine-tune-80", "Fine-tune-80", 4, "train large + prune + fine-tune (2x)", "#8c6d31",
                 derive=_fine_tuned_longer(2), includes="unpruned", group="longer fine-tuning", finetune_factor=2)
register_variant("fine-tune-160", "Fine-tune-160", 5, "train large + prune + fine-tune (4x)", "#e7969c",
                 derive=_fine_tuned_longer(4), includes="unpruned", group="longer fine-tuning", finetune_factor=4)
# chapter 6, the later work's claim (Le & Hua 2021): a large retraining lr beats fine-tuning and training from
# scratch
_LATER = (("fine-tuned", "a > b"), ("scratch-b", "a > b"))
register_variant("lr-rewinding", "LR rewinding", 6, "train large + prune + retrain (its last epochs' lr)", "tab:cyan",
                 derive=_retrained("lr-rewinding"), includes="unpruned", claims=_LATER, group="retraining")
register_variant("slr", "Scaled LR restart", 7, "train large + prune + retrain (scaled lr restart)", "#393b79",
                 derive=_retrained("slr"), includes="unpruned", claims=_LATER, group="retraining")
register_variant("clr", "Cyclic LR restart", 8, "train large + prune + retrain (cyclic lr restart)", "#bd9e39",
                 derive=_retrained("clr"), includes="unpruned", claims=_LATER, group="retraining")
register_variant("scratch-e", "Scratch-E", 9, "Scratch-E", "tab:green", derive=_scratch_e, side="scratch",
                 claims=_AS_GOOD)
register_variant("scratch-b", "Scratch-B", 10, "Scratch-B", "tab:red", derive=_scratch_b, side="scratch",
                 claims=_AS_GOOD)
# the paper: at lr 0.1 a winning ticket is no better than a random init
register_variant("winning-ticket", "Winning ticket", 11, "train large + prune + retrain from its init", "tab:pink",
                 derive=_winning_ticket, includes="unpruned", claims=(("random-init", "a <= b"),))
# Frankle et al. 2019, 2020: at lr 0.1 a rewound ticket beats the reset one and a random init
register_variant("rewound-ticket", "Rewound ticket", 12, "train large + prune + retrain from its early weights",
                 "tab:olive", derive=_rewound_ticket, includes="unpruned",
                 claims=(("winning-ticket", "a > b"), ("random-init", "a > b")))
register_variant("random-init", "Random init", 13, "random init", "tab:gray", derive=_random_init)
