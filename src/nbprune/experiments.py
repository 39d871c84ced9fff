"""The book's experiments as data: one :class:`Experiment` per row of a paper table, and the grids of rows.

An experiment names a base model, a pruning method with its settings, the variants trained from it and
where the paper's numbers for that row are. The grid builders here are pure functions of their arguments (a
preset, a list of fractions or targets); nothing in this module trains, reads the run store or imports a
module that does. :mod:`nbprune.chapters` assembles them into chapter records; :mod:`nbprune.graph` turns
an experiment and a seed into run configs.
"""

from __future__ import annotations

from dataclasses import dataclass

from .choices import unknown_choice
from .models import list_models, list_targets, models_with, paper_name, slimming_penalty
from .models.vgg import WEIGHT_LEVEL_VGG
from .paper import paper_value
from .params import parse_param
from .presets import Preset, at_budget, budget_seed_count, row_seed_count
from .prune.sfp import SFP_RECIPE
from .prune.unstructured import iterative_fractions
from .variants import variants_in

WEIGHT_LEVEL = (("model_kwargs", (("bn_gamma", 1.0),)),)  # Table 6's models: the weight-level code inits gamma 1
# Table 9's, Figure 7's and Figure 3 (right)'s VGG-16 at ``paper``: the weight-level code's vgg16_bn (linear head,
# BN gamma 1, conv bias, fan-in init: nbprune.models.vgg.WEIGHT_LEVEL_VGG), another model than Table 1's VGG-16
WEIGHT_LEVEL_VGG16 = (("model_kwargs", WEIGHT_LEVEL_VGG),)
WEIGHT_LEVEL_ROW = "weight-level"  # the row of its unpruned results (Experiment.large_row), apart from Table 1's
SFP_TABLE10 = {"resnet20": (0.1, 0.2, 0.3), "resnet32": (0.1, 0.2, 0.3), "resnet56": (0.1, 0.2, 0.3, 0.4),
               "resnet110": (0.1, 0.2, 0.3)}  # Table 10: Soft Filter Pruning without pretrained models
SFP_TABLE11 = {"resnet56": (0.3, 0.4), "resnet110": (0.3,)}  # Table 11: Soft Filter Pruning from pretrained models
# SFP from a pretrained model trains at a tenth of the lr: 0.001 for the first epoch, then 0.01 (the SFP command of
# cifar/soft-filter-pruning/README.md in the paper's code; he-y/soft-filter-pruning's README: pretrained, lr / 10)
SFP_PRETRAINED_LR = {"lr": 0.01, "warmup_lr": 0.001}
SFP_UNPRUNED = "SFP's recipe"  # the row (target) of the unpruned models of Tables 10 and 11, beside Table 1's


@dataclass(frozen=True)
class Experiment:
    """One pruned row: ``model`` pruned by ``method(**settings)``, each of ``variants`` trained from it."""

    label: str  # the row's name in the paper's table ("VGG-16-A", "70%")
    model: str
    method: str
    settings: tuple  # sorted (key, value) pairs
    variants: tuple[str, ...] = ("fine-tuned", "scratch-e", "scratch-b")
    large: tuple = ()  # overrides of the large model's config, e.g. (("bn_sparsity", 1e-4),)
    lr: float | None = None  # initial lr of the from-scratch variants (lottery: 0.1 or 0.01)
    paper_table: str = ""
    paper_target: str = ""
    paper_note: str | None = None
    previous: Experiment | None = None  # iterative pruning: this round prunes the previous round's ticket
    large_variant: str = "unpruned"  # the large model's row; "sfp-trained": a Soft Filter Pruning run, its own row
    budget: int | None = None  # the large model's epochs at a point of a budget curve (None: the preset's)
    seeds: int | None = None  # how many of the seeds it is run with this row trains, the first ones (None: all)
    # the large model starts from the final weights of the unpruned model with these overrides (Table 11's SFP
    # from a pretrained model; that model is a row of the grid too); empty: from its random init
    pretrained: tuple = ()
    paper_figure: str = ""  # the paper's figure the row is a point of ("Figure 7a"), beside or instead of a table
    # the row (target) of its large model's unpruned results: "" is the one every experiment of the model shares;
    # another name keeps a different large model of the same paper model apart (Table 17's 300 epochs, Table 9's
    # weight-level VGG-16 beside Table 8's), and the paper's unpruned number of its table is looked up for it
    large_row: str = ""

    @property
    def source(self) -> str:
        """Where the row is in the paper: "Table 9a", "Figure 7a", "Table 9a, Figure 7b" ("" where nowhere)."""
        return ", ".join(x for x in (self.paper_table and f"Table {self.paper_table}", self.paper_figure) if x)

    @property
    def paper_model(self) -> str:
        """The paper's spelling of the model ("VGG-16"), as its family registered it."""
        return paper_name(self.model)

    @property
    def round(self) -> int:
        """1 for a one-shot prune; k for the k-th round of iterative pruning."""
        return 1 if self.previous is None else self.previous.round + 1


def experiment(label: str, model: str, method: str, settings: dict, **kw) -> Experiment:
    """An :class:`Experiment` with ``settings`` given as a mapping."""
    return Experiment(label, model, method, tuple(sorted(settings.items())), **kw)


def seeds_of(exp: Experiment, seeds) -> list[int]:
    """The seeds of ``seeds`` that ``exp`` trains: the first :attr:`Experiment.seeds` of them (all when None)."""
    return list(seeds) if exp.seeds is None else list(seeds)[:exp.seeds]


def preset_for(exp: Experiment, preset: Preset) -> Preset:
    """The preset an experiment's runs are made at: the preset itself, or its point of the budget curve."""
    return preset if exp.budget is None else at_budget(preset, exp.budget)


def budget_grid(preset: Preset, target: str = "vgg16-a") -> list[Experiment]:
    """Chapter 1's budget curve: the L1-norm row ``target`` at each of the preset's budgets (large-model epochs;
    fine-tuning scaled alike, see :func:`nbprune.presets.at_budget`), plus the unpruned model alone at twice the
    largest budget, so that at every point the gain of doubling the unpruned model's epochs is measured (with
    budgets that double, the next point's unpruned model is the doubled one). Each point trains the first
    :func:`~nbprune.presets.budget_seed_count` seeds of the curve's. Empty when the preset has none."""
    p = preset
    if not p.budgets:
        return []
    model = target.split("-")[0]
    out = [experiment(f"{_paper_target(target)}, {e} epochs", model, "l1", {"target": target}, budget=e,
                      seeds=budget_seed_count(p, e)) for e in p.budgets]
    top = 2 * max(p.budgets)
    if top not in p.budgets:
        out.append(experiment(f"unpruned, {top} epochs", model, "", {}, variants=(), budget=top,
                              seeds=budget_seed_count(p, top)))
    return out


def _at_budgets(rows: list[Experiment], preset: Preset) -> list[Experiment]:
    """``rows`` at each of the preset's ``row_budgets`` (labelled "<row>, <n> epochs"), each point training
    :func:`~nbprune.presets.row_seed_count` seeds. Empty when the preset has no such budgets."""
    from dataclasses import replace

    p = preset
    return [replace(e, label=f"{e.label}, {b} epochs", budget=b, seeds=row_seed_count(p, b))
            for b in p.row_budgets for e in rows]


def automatic_curve(preset: Preset) -> list[Experiment]:
    """Chapter 2's curve: Network Slimming on VGG-19 at 70% (the large model trained with the sparsity penalty
    at each budget; fine-tuned, Scratch-E, Scratch-B) at the preset's ``row_budgets``."""
    return _at_budgets([_slim("vgg19", 0.7)], preset)


def lottery_curve(preset: Preset) -> list[Experiment]:
    """Chapter 5's curve: winning ticket vs random init at lr 0.1 for VGG-16-A (structured, L1-norm) and 20%
    magnitude pruning (unstructured) at the preset's ``row_budgets``. Their large models are chapter 1's
    curve models where the budget, seed and images are the same (the same runs)."""
    rows = [e for e in lottery_rows(preset, 0.1) if e.previous is None]
    return _at_budgets(rows, preset)


def _sparse(model: str) -> tuple:
    """The large model's Network Slimming penalty: its family's (an error for a family that registers none)."""
    return (("bn_sparsity", slimming_penalty(model)),)


def _l1(target: str, model: str, **kw) -> Experiment:
    return experiment(target.upper().replace("VGG16", "VGG-16").replace("RESNET", "ResNet-"), model, "l1",
                      {"target": target}, paper_table="1", paper_target=_paper_target(target), **kw)


def _paper_target(target: str) -> str:
    name = {"vgg16-a": "VGG-16-A", "resnet56-a": "ResNet-56-A", "resnet56-b": "ResNet-56-B",
            "resnet110-a": "ResNet-110-A", "resnet110-b": "ResNet-110-B"}
    return name[target]


def _slim(model: str, fraction: float, table: str = "4", **kw) -> Experiment:
    return experiment(f"{fraction:.0%}", model, "slimming", {"fraction": fraction}, large=_sparse(model),
                      paper_table=table, paper_target=f"{fraction:.0%}", **kw)


def _magnitude(model: str, fraction: float, **kw) -> Experiment:
    """A Table 6 row; the model is the weight-level code's (BN gamma 1; PreResNet-110 has it built in)."""
    large = () if model == "preresnet110" else WEIGHT_LEVEL
    return experiment(f"{fraction:.0%}", model, "magnitude", {"fraction": fraction}, paper_table="6",
                      paper_target=f"{fraction:.0%}", large=large, **kw)


def _sfp_recipe(preset: Preset) -> dict:
    """SFP's own recipe at ``paper`` (Nesterov, wd 5e-4, batch 128, 200 epochs, its warm-up and normalisation);
    nothing at the CPU presets (their budget)."""
    return {**SFP_RECIPE} if preset.sfp_recipe else {}


def _sfp(model: str, fraction: float, preset: Preset, pretrained: bool = False) -> Experiment:
    """A Table 10 row (Table 11's with ``pretrained``): Soft Filter Pruning as its authors ran it, every conv's
    weakest filters zeroed after each epoch (``sfp_convs="all"``, :mod:`nbprune.prune.sfp`), then the masked
    full-size model as it is, and Scratch-E and -B as masked full-size networks (:mod:`nbprune.pipeline`).
    The large model follows :func:`_sfp_recipe`; ``pretrained``: it starts from the final weights of the
    unpruned model of that recipe (:func:`_sfp_unpruned`) at :data:`SFP_PRETRAINED_LR`, and its Scratch runs train
    at the recipe's own lr. At a preset whose ``sfp_scope`` is "units" (the committed ``quick`` book), the
    earlier method instead: each block's first conv only, the pruned model physically smaller."""
    if preset.sfp_scope == "units":  # the committed quick rows' method: see Preset.sfp_scope
        return experiment(f"SFP {fraction:.0%}", model, "sfp", {"fraction": fraction},
                          variants=("pruned", "scratch-e", "scratch-b"), large=(("sfp_rate", fraction),),
                          paper_table="10", paper_target=f"{fraction:.0%}", large_variant="sfp-trained")
    recipe = _sfp_recipe(preset)
    lr = SFP_PRETRAINED_LR if pretrained else {}
    large = tuple(sorted({**recipe, **lr, "sfp_rate": fraction, "sfp_convs": "all"}.items()))
    label, table = (f"SFP {fraction:.0%}, pretrained", "11") if pretrained else (f"SFP {fraction:.0%}", "10")
    return experiment(label, model, "sfp", {"fraction": fraction, "convs": "all"},
                      variants=("pruned", "scratch-e", "scratch-b"), large=large, paper_table=table,
                      lr=recipe.get("lr", 0.1) if pretrained else None,
                      paper_target=f"{fraction:.0%}", large_variant="sfp-trained",
                      pretrained=tuple(sorted(recipe.items())) if pretrained else ())


def _sfp_unpruned(model: str, preset: Preset) -> Experiment:
    """Table 10's (and 11's) unpruned model: trained alone on :func:`_sfp_recipe` (the authors'
    ``pruning_cifar10_pretrain.py``); Table 11's SFP runs start from it."""
    return experiment("unpruned, SFP's recipe", model, "", {}, variants=(),
                      large=tuple(sorted(_sfp_recipe(preset).items())), paper_table="10", paper_target=SFP_UNPRUNED)


def predefined_grid(preset: Preset) -> list[Experiment]:
    """Chapter 1: Table 1's L1-norm targets, Table 10's Soft Filter Pruning rows with their four unpruned models
    on SFP's recipe, Table 11's SFP rows from those unpruned models and the appendix's L1-norm rows of Tables 14,
    16 and 17 (:func:`l1_appendix_rows`) (``paper``); VGG-16-A and one SFP row
    (ResNet-56, 40% of every conv's filters, at the preset's budget) on the CPU presets."""
    p = preset
    if p.full_grid:
        l1 = [_l1(t, t.split("-")[0]) for t in ("vgg16-a", "resnet56-a", "resnet56-b", "resnet110-a", "resnet110-b")]
        return (l1 + [_sfp_unpruned(m, p) for m in SFP_TABLE10]
                + [_sfp(m, f, p) for m, fs in SFP_TABLE10.items() for f in fs]
                + [_sfp(m, f, p, pretrained=True) for m, fs in SFP_TABLE11.items() for f in fs]
                + l1_appendix_rows())
    return [_l1("vgg16-a", "vgg16"), _sfp("resnet56", 0.4, p)]


# ------------------------------------------------------------------ the appendix's CIFAR rows (``paper`` only)
# Table 13: Network Slimming at larger ratios than Liu et al. 2017 (model, fraction of channels pruned) per dataset
SLIMMING_TABLE13 = {"cifar10": (("preresnet56", 0.8), ("preresnet164", 0.8), ("preresnet164", 0.9), ("densenet40", 0.8)),
                    "cifar100": (("densenet40", 0.8),)}
L1_TABLE14_RATIO = 0.9  # Table 14: ResNet-56 with 90% of every block's first-conv filters pruned (L1-norm)
L1_TARGETS = ("vgg16-a", "resnet56-a", "resnet56-b", "resnet110-a", "resnet110-b")  # Tables 1, 16 and 17
LONG_SCHEDULE = 300  # Table 17: the large model's CIFAR schedule extended from 160 to 300 epochs
# Table 9 and Figure 7 at ``paper``: the weight-level code's VGG-16 and its CIFAR ResNet-50 (BN gamma 1 built in)
LOTTERY_MODELS = {"vgg16": WEIGHT_LEVEL_VGG16, "resnet50": ()}


def l1_appendix_rows() -> list[Experiment]:
    """The appendix's L1-norm rows (``paper``): Table 14 (ResNet-56, 90% of each block's first-conv filters, no
    layer skipped: the ``ratios`` form of the l1 method), Table 16 (Table 1's targets fine-tuned 80 and 160
    epochs, :data:`nbprune.pipeline.LONGER_FINETUNING`; their Fine-tune-40 and Scratch-E are Table 1's runs) and
    Table 17 (Table 1's targets with the large model trained :data:`LONG_SCHEDULE` epochs; Scratch-E trains as
    long, Scratch-B by the FLOPs rule, fine-tuning the preset's epochs)."""
    ratio = f"{L1_TABLE14_RATIO:.0%}"
    rows = [experiment(f"ResNet-56, {ratio}", "resnet56", "l1", {"ratios": L1_TABLE14_RATIO}, paper_table="14",
                       paper_target=ratio)]
    rows += [experiment(f"{_paper_target(t)}, longer fine-tuning", t.split("-")[0], "l1", {"target": t},
                        variants=("fine-tune-80", "fine-tune-160"), paper_table="16", paper_target=_paper_target(t))
             for t in L1_TARGETS]
    rows += [experiment(f"{_paper_target(t)}, {LONG_SCHEDULE} epochs", t.split("-")[0], "l1", {"target": t},
                        large=(("epochs", LONG_SCHEDULE),), paper_table="17", paper_target=_paper_target(t),
                        large_row=f"{LONG_SCHEDULE} epochs")
             for t in L1_TARGETS]
    return rows


def automatic_grid(preset: Preset) -> list[Experiment]:
    """Chapter 2: Table 4's Network Slimming rows and Table 13's aggressively pruned ones (``paper``); VGG-19 at
    70% on the CPU presets."""
    if preset.full_grid:
        return [_slim("vgg19", 0.7), _slim("preresnet164", 0.4), _slim("preresnet164", 0.6),
                _slim("densenet40", 0.4), _slim("densenet40", 0.6),
                *(_slim(m, f, table="13") for m, f in SLIMMING_TABLE13["cifar10"])]
    return [_slim("vgg19", 0.7)]


def unstructured_grid(preset: Preset) -> list[Experiment]:
    """Chapter 3: Table 6's CIFAR-10 models at 30/80/95% (``paper``); VGG-19 at 30% on the CPU presets."""
    if preset.full_grid:
        return [_magnitude(m, f) for m in ("vgg19", "preresnet110", "densenet-bc-100") for f in (0.3, 0.8, 0.95)]
    return [_magnitude("vgg19", 0.3)]


def architecture_search_grid(preset: Preset) -> list[Experiment]:
    """Chapter 4: Figure 3 (left) / Table 21 (VGG-16's Network Slimming architectures vs uniformly pruned
    channels) and Figure 5 / Table 18 (PreResNet-164's), all Scratch-E, and (``paper`` only) Figure 3's
    unstructured curve, the source of guided sparsification; VGG-16 only on the CPU presets."""
    p = preset
    if p.full_grid:  # Figure 3 (right) on the weight-level code's VGG-16, as Table 9's
        return (search_grid([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], model="vgg16")
                + search_grid([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7], model="preresnet164")
                + sparsity_search_grid([0.3, 0.5, 0.7, 0.9, 0.95], large=WEIGHT_LEVEL_VGG16))
    return search_grid(list(p.search_fractions), model="vgg16")


def lottery_ticket_grid(preset: Preset) -> list[Experiment]:
    """Chapter 5: Table 8 (structured, L1-norm), Table 9 (unstructured one-shot) and Figure 7 (iterative), at
    lr 0.1 (and 0.01 on ``paper``)."""
    p = preset
    return [e for lr in ((0.1, 0.01) if p.full_grid else (0.1,)) for e in lottery_rows(p, lr)]


def lottery_rows(preset: Preset, lr: float) -> list[Experiment]:
    """Chapter 5's rows at one initial lr: Table 8 (L1-norm targets), Table 9 (one-shot magnitude) and Figure 7
    (iterative magnitude pruning, 20% of the remaining weights per round; round 1 is the one-shot 20% row)."""
    full = preset.full_grid
    tag = "" if lr == 0.1 else f" (lr {lr:g})"  # rows of another lr are other rows of the tables
    t8, t9 = {0.1: ("8a", "9a"), 0.01: ("8b", "9b")}.get(lr, ("", ""))
    large = (("lr", lr),) if lr != 0.1 else ()

    def row(kwargs: tuple) -> str:  # the unpruned row of a large model other than Table 1's at lr 0.1
        return ", ".join(x for x in (WEIGHT_LEVEL_ROW if kwargs == WEIGHT_LEVEL_VGG16 else "", tag.strip(" ()")) if x)

    targets = ("vgg16-a", "resnet56-a", "resnet56-b", "resnet110-a", "resnet110-b") if full else ("vgg16-a",)
    grid = [experiment(_paper_target(t) + tag, t.split("-")[0], "l1", {"target": t},
                       variants=("winning-ticket", "random-init"), lr=lr, paper_table=t8,
                       paper_target=_paper_target(t), large=large, large_row=row(())) for t in targets]
    rounds = list(range(2, 15)) if full else [2]  # 0.8 ** 14 keeps 4.4% (95.6% pruned)
    # ``paper``: Table 9's and Figure 7's models; the CPU presets: Table 1's VGG-16 (their committed runs)
    for model, kwargs in LOTTERY_MODELS.items() if full else (("vgg16", ()),):
        grid += iterative_grid(model, 0.2, rounds, lr, paper_table=t9, large=kwargs, large_row=row(kwargs))
        for f in (0.2, 0.4, 0.6, 0.8, 0.95) if full else (0.2,):
            grid.append(experiment(f"{f:.0%}{tag}", model, "magnitude", {"fraction": f},
                                   variants=("winning-ticket", "random-init"), lr=lr, paper_table=t9,
                                   paper_target=f"{f:.0%}", large=large + kwargs, paper_figure="Figure 7b",
                                   large_row=row(kwargs)))
    return grid


def iterative_grid(model: str, per_round: float, rounds: list[int], lr: float = 0.1,
                   paper_table: str = "", large: tuple = (), large_row: str = "") -> list[Experiment]:
    """Iterative magnitude pruning (Frankle & Carbin; the paper's Figure 7): each round removes ``per_round``
    of the weights that remain (globally, by magnitude) from the previous round's trained ticket, then trains
    the new ticket from the original init and its control from a fresh draw, under the same mask. Round k
    keeps ``(1 - per_round) ** k`` of the conv weights; the rows are the rounds listed in ``rounds``.
    ``large``: overrides of the large model's config beside the lr (e.g. :data:`WEIGHT_LEVEL_VGG16`);
    ``large_row``: the row of its unpruned results (:attr:`Experiment.large_row`)."""
    if isinstance(per_round, bool) or not isinstance(per_round, (int, float)) or not 0 < per_round < 1:
        raise ValueError(f"per_round: must be a number in (0, 1), got {per_round!r}")
    if not rounds or any(isinstance(k, bool) or not isinstance(k, int) or k < 1 for k in rounds):
        raise ValueError(f"rounds: must be a non-empty list of integers >= 1, got {rounds!r}")
    tag = "" if lr == 0.1 else f" (lr {lr:g})"
    chain, prev = [], None
    for k, pruned in enumerate(iterative_fractions(round(1 - (1 - per_round) ** max(rounds), 10), per_round), 1):
        first = k == 1  # round 1 is the one-shot prune at per_round: the same runs as that row
        prev = experiment(f"{pruned:.0%}{tag}" if first else f"iterative {pruned:.0%}{tag}", model, "magnitude",
                          {"fraction": pruned}, variants=("winning-ticket", "random-init"), lr=lr,
                          large=((("lr", lr),) if lr != 0.1 else ()) + tuple(large), previous=prev,
                          paper_table=paper_table if first else "", paper_target=f"{pruned:.0%}" if first else "",
                          paper_figure=("Figure 7b" if paper_table else "") if first else "Figure 7a", large_row=large_row)
        chain.append(prev)
    return [e for e in chain if e.round in rounds]


def paper_refs(grid: list[Experiment], dataset: str = "cifar10") -> dict[tuple[str, str, str], tuple[float, float]]:
    """The paper's (mean, std) for every (model, row label, variant) of ``grid`` that the paper reports,
    the unpruned model included (under an empty label). A cell the paper gives as a drop from an unpruned
    accuracy (Tables 2 and 3: ``top1_acc_drop``, "relative to <accuracy>") is that accuracy plus the drop."""
    refs = {}
    for exp in grid:
        if not exp.paper_table:
            continue
        variants = ("unpruned", *exp.variants)
        for v in variants:
            target = "" if v == "unpruned" else exp.paper_target
            ref = paper_value(exp.paper_table, dataset, exp.paper_model, target, v, note=exp.paper_note)
            if ref is None and v != "unpruned":
                ref = _paper_from_drop(exp.paper_table, dataset, exp.paper_model, target, v)
            if ref is not None:  # a lone large model is its own row (its paper_target), others its large_row
                row = (exp.paper_target if not exp.variants else exp.large_row) if v == "unpruned" else exp.label
                refs.setdefault((exp.paper_model, row, v), ref)
    return refs


def _paper_from_drop(table: str, dataset: str, model: str, target: str, variant: str) -> tuple[float, float] | None:
    """The accuracy of a cell the paper reports as a drop ``relative to <accuracy>`` (its note), or None."""
    import math
    import re

    drop = paper_value(table, dataset, model, target, variant, metric="top1_acc_drop")
    if drop is None:
        return None
    from .paper import paper_table

    df = paper_table(table, dataset)
    row = df[(df["model"] == model) & (df["target"] == target) & (df["variant"] == variant)
             & (df["metric"] == "top1_acc_drop")]
    base = re.search(r"relative to (\d+(?:\.\d+)?)", row["note"].iloc[0])
    return None if base is None else (round(float(base.group(1)) + drop[0], 2), math.nan)


def l1_grid(targets: list[str]) -> list[Experiment]:
    """L1-norm experiments for named targets (chapter 1's ``targets`` parameter)."""
    targets = parse_param("targets", targets, list, "[resnet56-b]")
    allowed = [t for t in list_targets() if t.startswith(("vgg16-", "resnet56-", "resnet110-"))]
    if isinstance(targets, str) or not isinstance(targets, (list, tuple)) or not targets:
        raise ValueError(f"targets: must be None or a non-empty list of L1-norm targets ({', '.join(allowed)}), "
                         f"got {targets!r}")
    for t in targets:
        if t not in allowed:
            raise unknown_choice("targets", t, allowed)
    return [_l1(t, t.split("-")[0]) for t in targets]


def slimming_grid(fractions: dict[str, list[float]]) -> list[Experiment]:
    """Network Slimming experiments from ``{model: [fraction, ...]}`` (chapter 2's ``fractions`` parameter)."""
    fractions = parse_param("fractions", fractions, dict, "{vgg19: [0.7]}")
    allowed = models_with("slimming_penalty")  # the families that register Network Slimming's penalty
    if not isinstance(fractions, dict) or not fractions:
        raise ValueError(f"fractions: must be None or a mapping model -> list of fractions, got {fractions!r}")
    out = []
    for model, fs in fractions.items():
        if model not in allowed:
            raise ValueError(f"fractions: model {model!r} is not one slimming prunes; allowed: {', '.join(allowed)}")
        if isinstance(fs, (str, dict)) or not isinstance(fs, (list, tuple)):
            raise ValueError(f"fractions: {fs!r} for {model} must be a list of fractions, e.g. {{{model}: [0.7]}}")
        for f in fs:
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
                raise ValueError(f"fractions: {f!r} for {model} must be a number in (0, 1)")
            out.append(_slim(model, float(f)))
    return out


def magnitude_grid(fractions: dict[str, list[float]]) -> list[Experiment]:
    """Magnitude-pruning experiments from ``{model: [fraction, ...]}`` (chapter 3's ``fractions`` parameter)."""
    fractions = parse_param("fractions", fractions, dict, "{vgg19: [0.3, 0.8]}")
    if not isinstance(fractions, dict) or not fractions:
        raise ValueError(f"fractions: must be None or a mapping model -> list of fractions, got {fractions!r}")
    out = []
    for model, fs in fractions.items():
        if model not in list_models() or model.startswith("imagenet"):
            raise unknown_choice("fractions", model, [m for m in list_models() if not m.startswith("imagenet")])
        if isinstance(fs, (str, dict)) or not isinstance(fs, (list, tuple)):
            raise ValueError(f"fractions: {fs!r} for {model} must be a list of fractions, e.g. {{{model}: [0.3]}}")
        for f in fs:
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
                raise ValueError(f"fractions: {f!r} for {model} must be a number in (0, 1)")
            out.append(_magnitude(model, float(f)))
    return out


SEARCH_MODELS = {"vgg16": (("model_kwargs", (("head", "linear"),)),), "vgg19": (), "preresnet164": ()}
SEARCH_TABLES = {"vgg16": "21", "preresnet164": "18"}  # the tables of Figure 3 (left) and Figure 5
SEARCH_FIGURES = {"vgg16": "Figure 3 (left)", "preresnet164": "Figure 5 (left)"}


def search_grid(fractions: list[float], model: str = "vgg16", figure: str | None = None) -> list[Experiment]:
    """Chapter 4's slimming-vs-uniform experiments at the given channel fractions (Scratch-E). VGG-16 uses the
    slimming code's single-Linear head; the Network Slimming penalty is the family's. ``figure``: the paper's
    figure of the rows (None: :data:`SEARCH_FIGURES`'s for ``model``)."""
    fractions = parse_param("fractions", fractions, list, "[0.2, 0.5, 0.8]")
    if isinstance(fractions, (str, dict)) or not isinstance(fractions, (list, tuple)) or not fractions:
        raise ValueError(f"fractions: must be None or a non-empty list of fractions in (0, 1), got {fractions!r}")
    out = []
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            raise ValueError(f"fractions: {f!r} must be a number in (0, 1)")
        large = _sparse(model) + SEARCH_MODELS[model]
        table = dict(paper_table=SEARCH_TABLES[model], paper_target=f"{f:.0%}") if model in SEARCH_TABLES else {}
        table["paper_figure"] = SEARCH_FIGURES.get(model, "") if figure is None else figure
        out.append(experiment(f"slimming {f:.0%}", model, "slimming", {"fraction": float(f)},
                              variants=("scratch-e",), large=large, **table))
        out.append(experiment(f"uniform {f:.0%}", model, "uniform-channels", {"fraction": float(f)},
                              variants=("scratch-e",), large=large, **table))
    return out


def sparsity_search_grid(fractions: list[float], model: str = "vgg16", large: tuple | None = None,
                         figure: str = "Figure 3 (right)") -> list[Experiment]:
    """Figure 3's unstructured curve (and guided sparsification's source): magnitude-pruned masks vs uniformly
    sparse ones at the same fraction of conv weights, both trained from scratch (Scratch-E). ``large``: the
    large model's overrides (None: :data:`SEARCH_MODELS`'s for ``model``); ``figure``: the paper's figure."""
    large = SEARCH_MODELS[model] if large is None else large
    out = []
    for f in fractions:
        out.append(experiment(f"magnitude {f:.0%}", model, "magnitude", {"fraction": float(f)},
                              variants=("scratch-e",), large=large, paper_figure=figure,
                              large_row=WEIGHT_LEVEL_ROW if large == WEIGHT_LEVEL_VGG16 else ""))
        out.append(experiment(f"uniform sparsity {f:.0%}", model, "uniform-sparsity", {"fraction": float(f)},
                              variants=("scratch-e",), large=large, paper_figure=figure,
                              large_row=WEIGHT_LEVEL_ROW if large == WEIGHT_LEVEL_VGG16 else ""))
    return out


def guided_grid(patterns: list[tuple[Experiment, list[float]]], model: str | None = None,
                fractions: list[float] | None = None) -> list[Experiment]:
    """Chapter 4's guided pruning (Figure 6). ``patterns`` pairs each experiment of a method registered with
    ``stage_pattern="keep"`` (Network Slimming) with the per-stage fractions of channels one seed's pruned
    architecture keeps (see :func:`nbprune.runner.stage_patterns`); their mean over seeds (3 decimals) defines a new architecture that
    keeps that fraction in every layer of the stage, trained from scratch (Scratch-E). ``model`` None: the
    model the patterns come from (guided pruning); another model: *transferred* guided pruning (the paper
    moves VGG-16's patterns to VGG-19). ``fractions``: only these slimming fractions (None: all)."""
    by_fraction: dict[tuple[str, float], list[list[float]]] = {}
    for exp, keep in patterns:
        f = dict(exp.settings).get("fraction")
        if fractions is None or f in fractions:  # the patterns are those of methods registered with "keep"
            by_fraction.setdefault((exp.model, f), []).append(keep)
    out = []
    for (source, fraction), keeps in by_fraction.items():
        target = source if model is None else model
        mean = tuple(round(sum(k[i] for k in keeps) / len(keeps), 3) for i in range(len(keeps[0])))
        label = f"guided {fraction:.0%}" if target == source else f"transferred {fraction:.0%}"
        out.append(experiment(label, target, "guided-channels", {"stage_keep": mean}, variants=("scratch-e",),
                              large=_sparse(target) + SEARCH_MODELS.get(target, ())))
    return out


def guided_sparsity_grid(patterns: list[tuple[Experiment, list[float]]], model: str | None = None) -> list[Experiment]:
    """Guided sparsification (Figure 6): ``patterns`` pairs each one-shot experiment of a method registered with
    ``stage_pattern="sparsity"`` (magnitude pruning) with one seed's per-stage sparsity of its mask; their mean
    over seeds (3 decimals), applied at random within each stage, is trained from scratch (Scratch-E).
    ``model``: another model with as many stages to apply them to (*transferred* guided sparsification, VGG-16's
    patterns on VGG-19; its large model is :data:`SEARCH_MODELS`'s)."""
    by_fraction: dict[tuple[str, float, tuple], list[list[float]]] = {}
    for exp, sparsity in patterns:
        if exp.previous is None:  # one-shot plans of methods registered with stage_pattern="sparsity"
            key = (exp.model, dict(exp.settings)["fraction"], exp.large)
            by_fraction.setdefault(key, []).append(sparsity)
    out = []
    for (source, fraction, large), sparsities in by_fraction.items():
        mean = tuple(round(sum(s[i] for s in sparsities) / len(sparsities), 3) for i in range(len(sparsities[0])))
        if model is None or model == source:
            out.append(experiment(f"guided sparsity {fraction:.0%}", source, "guided-sparsity",
                                  {"stage_sparsity": mean}, variants=("scratch-e",), large=large))
        else:
            out.append(experiment(f"transferred sparsity {fraction:.0%}", model, "guided-sparsity",
                                  {"stage_sparsity": mean}, variants=("scratch-e",), large=SEARCH_MODELS.get(model, ())))
    return out


def lottery_grid(preset: Preset, lrs: list[float] | None = None) -> list[Experiment]:
    """Chapter 5's experiments at ``preset``, at the preset's learning rates or the given ones."""
    lrs = parse_param("lrs", lrs, list, "[0.1, 0.01]")
    if lrs is None:
        return lottery_ticket_grid(preset)
    if isinstance(lrs, (str, dict)) or not isinstance(lrs, (list, tuple)) or not lrs:
        raise ValueError(f"lrs: must be None or a non-empty list of learning rates, got {lrs!r}")
    for lr in lrs:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 1:
            raise ValueError(f"lrs: {lr!r} must be a number in (0, 1]")
    return [e for lr in lrs for e in lottery_rows(preset, float(lr))]


# chapter 6: later work (Le & Hua 2021; Renda et al. 2020; Frankle et al. 2019, 2020) on the same runs
RETRAINING_VARIANTS = ("fine-tuned", *variants_in("retraining"))  # the retraining schedules, same budget F
RANDOM_DRAWS = 3  # random architectures of the target's widths per seed
REWOUND_FRACTIONS = (0.2, 0.8)  # chapter 5's one-shot magnitude rows, with the rewound ticket added


def later_work_grid(preset: Preset, draws: int | None = None) -> list[Experiment]:
    """Chapter 6's experiments, the same at every preset (their large models are chapter 1's, 2's and 5's):

    1. retraining schedules: VGG-16 -> VGG-16-A (L1-norm) and VGG-19 at 70% (Network Slimming), each pruned
       model retrained for the preset's fine-tuning budget with every schedule of :data:`RETRAINING_VARIANTS`,
       beside Scratch-E and Scratch-B (the same runs as chapters 1 and 2);
    2. random pruning: VGG-16-A's per-unit widths with the kept filters drawn at random (``draws`` draws,
       default :data:`RANDOM_DRAWS`; all draws share one row label, so a seed's value is its mean over draws),
       retrained with every schedule (the report compares the best one, chosen on the L1-norm row);
    3. rewound tickets: VGG-16 magnitude-pruned at 20% and 80% at lr 0.1: the winning ticket (reset to the
       init), the ticket rewound to the large model's weights after ~2% of its training, and the random
       re-initialisation, all under the same mask.
    """
    draws = parse_param("draws", draws, int, "3")
    draws = RANDOM_DRAWS if draws is None else draws
    if isinstance(draws, bool) or not isinstance(draws, int) or draws < 1:
        raise ValueError(f"draws: must be None or an integer >= 1 (random architectures per seed), got {draws!r}")
    retrain = (*RETRAINING_VARIANTS, "scratch-e", "scratch-b")
    grid = [_l1("vgg16-a", "vgg16", variants=retrain), _slim("vgg19", 0.7, variants=retrain)]
    grid += [experiment("VGG-16-A, random filters", "vgg16", "random-channels", {"target": "vgg16-a", "draw": d},
                        variants=RETRAINING_VARIANTS, paper_target="VGG-16-A") for d in range(draws)]
    wl = WEIGHT_LEVEL_VGG16 if preset.full_grid else ()  # chapter 5's VGG-16 at ``paper``
    grid += [experiment(f"{f:.0%}", "vgg16", "magnitude", {"fraction": f},
                        variants=("winning-ticket", "rewound-ticket", "random-init"), lr=0.1, paper_table="9a",
                        paper_target=f"{f:.0%}", large=wl, large_row=WEIGHT_LEVEL_ROW if wl else "")
             for f in REWOUND_FRACTIONS]
    return grid


# ----------------------------------------------------------------------------- CIFAR-100 rows (Chapter.datasets)
# The paper's CIFAR-100 rows, one builder per chapter (nbprune.chapters.Chapter.datasets): every row at ``paper``,
# one central row at the CPU presets (a smoke-sized check of the path; CIFAR-100 has no committed CPU book).
SLIMMING_CIFAR100 = (("vgg19", 0.5), ("preresnet164", 0.4), ("preresnet164", 0.6), ("densenet40", 0.4),
                     ("densenet40", 0.6))  # Table 4's CIFAR-100 rows (the paper's ratios there)
MAGNITUDE_CIFAR100 = {m: (0.3, 0.5, 0.95) for m in ("vgg19", "preresnet110", "densenet-bc-100")}  # Table 6's
# Figure 5 (middle, right): unstructured pruning vs uniform sparsification of PreResNet-110 and DenseNet-40 on
# CIFAR-100 (Scratch-E); Tables 19 and 20 are the 3x3-kernel patterns of its pruned models at 10/50/90%
FIGURE5_CIFAR100 = {"preresnet110": ("19", "Figure 5 (middle)"), "densenet40": ("20", "Figure 5 (right)")}
FIGURE5_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)
KERNEL_TABLE_FRACTIONS = (0.1, 0.5, 0.9)  # the columns of Tables 19 and 20
FIGURE6_FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)  # Figure 6: VGG-19 on CIFAR-100, Network Slimming's fractions
FIGURE6_SPARSITY = (0.3, 0.5, 0.7, 0.9, 0.95)  # and unstructured pruning's (Figure 3 (right)'s)


def automatic_cifar100_grid(preset: Preset) -> list[Experiment]:
    """Chapter 2 on CIFAR-100: Table 4's Network Slimming rows and Table 13's DenseNet-40 at 80% (``paper``);
    VGG-19 at 50% on the CPU presets."""
    if not preset.full_grid:
        return [_slim("vgg19", 0.5)]
    return ([_slim(m, f) for m, f in SLIMMING_CIFAR100]
            + [_slim(m, f, table="13") for m, f in SLIMMING_TABLE13["cifar100"]])


def unstructured_cifar100_grid(preset: Preset) -> list[Experiment]:
    """Chapter 3 on CIFAR-100: Table 6's rows at 30/50/95% (``paper``; Table 15's VGG-19 at 95% is Table 6's
    row); VGG-19 at 30% on the CPU presets."""
    if not preset.full_grid:
        return [_magnitude("vgg19", 0.3)]
    return [_magnitude(m, f) for m, fs in MAGNITUDE_CIFAR100.items() for f in fs]


def _figure5_rows(model: str, fractions) -> list[Experiment]:
    """Figure 5 (middle or right): ``model`` magnitude-pruned vs uniformly sparsified on CIFAR-100, Scratch-E; the
    weight-level code's model (BN gamma 1), as Table 6's; Tables 19/20's fractions carry that table."""
    table, figure = FIGURE5_CIFAR100[model]
    large = () if model == "preresnet110" else WEIGHT_LEVEL
    out = []
    for f in fractions:
        ref = dict(paper_table=table, paper_target=f"{f:.0%}") if f in KERNEL_TABLE_FRACTIONS else {}
        out.append(experiment(f"magnitude {f:.0%}", model, "magnitude", {"fraction": float(f)},
                              variants=("scratch-e",), large=large, paper_figure=figure, **ref))
        out.append(experiment(f"uniform sparsity {f:.0%}", model, "uniform-sparsity", {"fraction": float(f)},
                              variants=("scratch-e",), large=large, paper_figure=figure))
    return out


def architecture_search_cifar100_grid(preset: Preset) -> list[Experiment]:
    """Chapter 4 on CIFAR-100 (``paper``): Figure 5 (middle, right) with Tables 19 and 20 (PreResNet-110 and
    DenseNet-40, unstructured), and Figure 6's VGG-19: Network Slimming vs uniform channels (left) and magnitude
    vs uniform sparsity (right), whose patterns the follow-up stage turns into guided pruning and sparsification,
    beside the ones transferred from VGG-16 on CIFAR-10 (:func:`nbprune.chapters.Chapter.followups`). The CPU
    presets: VGG-19 at 50% (slimming and uniform) and PreResNet-110 at 50% (magnitude and uniform)."""
    if not preset.full_grid:
        return search_grid([0.5], model="vgg19", figure="Figure 6 (left)") + _figure5_rows("preresnet110", (0.5,))
    return (_figure5_rows("preresnet110", FIGURE5_FRACTIONS) + _figure5_rows("densenet40", FIGURE5_FRACTIONS)
            + search_grid(list(FIGURE6_FRACTIONS), model="vgg19", figure="Figure 6 (left)")
            + sparsity_search_grid(list(FIGURE6_SPARSITY), model="vgg19", figure="Figure 6 (right)"))


# ---------------------------------------------------------------------------------------------- ImageNet rows
# The paper's ImageNet rows (one run each, on the ImageNet recipe of nbprune.presets.IMAGENET_RECIPES), as each
# chapter's ``datasets=(("imagenet", builder),)``. Fine-tuning: 20 epochs at lr 0.001; Scratch-B at most 2x the
# large model's 90 epochs (nbprune.flops.scratch_b_epochs). Models are torchvision's (nbprune.models.imagenet).
# (the ImageNet models' paper names are registered with their families, nbprune.models.imagenet)
PLAIN_VGG = (("model_kwargs", (("batch_norm", False),)),)  # ThiNet's and the regression method's VGG-16: no BN
FROM_SCRATCH = ("scratch-e", "scratch-b")  # rows the authors trained only from scratch (Fine-tuned: quoted)
IMAGENET_SLIMMING_S = 1e-5  # Network Slimming's sparsity on ImageNet VGG-A (Liu et al. 2017)


def _imagenet(label: str, model: str, method: str, settings: dict, table: str, target: str, **kw) -> Experiment:
    return experiment(label, model, method, settings, paper_table=table, paper_target=target, **kw)


def imagenet_predefined_grid(preset: Preset) -> list[Experiment]:
    """Chapter 1 on ImageNet: Table 1's L1-norm ResNet-34-A/B; Table 2's ThiNet rows (VGG-Conv and ResNet-50 at
    30/50/70% pruned, fine-tuned and from scratch; VGG-GAP and VGG-Tiny from scratch, their FC head replaced by
    a global pool); Table 3's regression-based rows (VGG-16-5x; ResNet-50-2x from scratch); Table 10's Soft
    Filter Pruning of ResNet-34 and ResNet-50 at 30% (every conv, as its authors ran it). ``paper`` has every
    row; the smoke preset ResNet-34-A only (the chain a test runs on a tiny folder)."""
    rows = [_imagenet(f"ResNet-34-{v}", "imagenet-resnet34", "l1", {"target": f"imagenet-resnet34-{v.lower()}"}, "1",
                      f"ResNet-34-{v}") for v in ("A", "B")]
    if not preset.full_grid:
        return rows[:1]
    rows.append(_imagenet("VGG-Conv", "imagenet-vgg16", "thinet", {"target": "imagenet-vgg16-conv"}, "2", "VGG-Conv",
                          large=PLAIN_VGG, paper_note="authors' own PyTorch"))
    rows += [_imagenet(name, "imagenet-vgg16", "architecture", {"target": f"imagenet-vgg16-{name[4:].lower()}"}, "2",
                       name, large=PLAIN_VGG, variants=FROM_SCRATCH, paper_note="authors' own PyTorch")
             for name in ("VGG-GAP", "VGG-Tiny")]
    rows += [_imagenet(f"ResNet50-{r}%", "imagenet-resnet50", "thinet", {"target": f"imagenet-resnet50-{r}"}, "2",
                       f"ResNet50-{r}%", paper_note="authors' own PyTorch") for r in (30, 50, 70)]
    rows.append(_imagenet("VGG-16-5x", "imagenet-vgg16", "regression", {"target": "imagenet-vgg16-5x"}, "3",
                          "VGG-16-5x", large=PLAIN_VGG, paper_note="authors' own PyTorch"))
    rows.append(_imagenet("ResNet-50-2x", "imagenet-resnet50", "architecture", {"target": "imagenet-resnet50-2x"}, "3",
                          "ResNet-50-2x", variants=FROM_SCRATCH, paper_note="authors' own PyTorch"))
    rows += [_imagenet(f"SFP {f:.0%}", m, "sfp", {"fraction": f, "convs": "all"}, "10", f"{f:.0%}",
                       variants=("pruned", "scratch-e", "scratch-b"), large_variant="sfp-trained",
                       large=(("sfp_convs", "all"), ("sfp_rate", f))) for m in ("imagenet-resnet34", "imagenet-resnet50")
             for f in (0.3,)]
    return rows


# Sparse Structure Selection's recipe (its MXNet code, as the paper's authors ran Table 5): 100 epochs, lr x0.1 at
# 30, 60 and 90; Scratch-B scales the epochs and every step by the FLOPs ratio (117 / 145 / 179 epochs)
SSS_RECIPE = (("epochs", 100), ("milestones", (30, 60, 90)))


def imagenet_automatic_grid(preset: Preset) -> list[Experiment]:
    """Chapter 2 on ImageNet: Table 4's Network Slimming of VGG-11 (with BN) at 50%, and (``paper``) Table 5's
    Sparse Structure Selection ResNet-41/32/26 trained from scratch on SSS's recipe (the paper quotes the pruned
    models' accuracies from SSS's paper; nbprune's SSS method acts on the CIFAR ResNets' basic blocks only)."""
    rows = [_imagenet("50%", "imagenet-vgg11", "slimming", {"fraction": 0.5}, "4", "50%",
                      large=(("bn_sparsity", IMAGENET_SLIMMING_S),))]
    if preset.full_grid:
        rows += [_imagenet(f"ResNet-{d}", "imagenet-resnet50", "architecture", {"target": f"imagenet-resnet{d}"}, "5",
                           f"ResNet-{d}", variants=FROM_SCRATCH, large=SSS_RECIPE) for d in (41, 32, 26)]
    return rows


def imagenet_unstructured_grid(preset: Preset) -> list[Experiment]:
    """Chapter 3 on ImageNet: Table 6's magnitude pruning of VGG-16 (with BN, the weight-level code's) and ResNet-50
    at 30% and 60% (``paper``); ResNet-50 at 30% only on the smoke preset."""
    fractions = (0.3, 0.6) if preset.full_grid else (0.3,)
    models = ("imagenet-vgg16", "imagenet-resnet50") if preset.full_grid else ("imagenet-resnet50",)
    return [_imagenet(f"{f:.0%}", m, "magnitude", {"fraction": f}, "6", f"{f:.0%}") for m in models for f in fractions]
