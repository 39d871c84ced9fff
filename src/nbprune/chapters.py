"""One record per chapter of the book: its page, the paper's claim it tests, its comparisons and its grids.

The notebooks, ``nbprune grid``, the budget projection and the intro's verdict table all read a chapter from
here (:data:`CHAPTERS`, :func:`get_chapter`), so a chapter's rows, comparisons and follow-up stages are
defined once. A record is data: it names grid builders of :mod:`nbprune.experiments` and trains nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import experiments as ex
from .choices import unknown_choice
from .experiments import Experiment
from .presets import Preset, get_preset
from .variants import variants_in

Pair = tuple[str, str]
SCRATCH_VS_FINETUNED: tuple[Pair, ...] = (("scratch-e", "fine-tuned"), ("scratch-b", "fine-tuned"))
# chapter 6: each large-lr schedule against fine-tuning and against Scratch-B (the same computation or more),
# and the rewound ticket against the reset one and the random re-initialisation
LATER_WORK_PAIRS: tuple[Pair, ...] = (
    *((s, "fine-tuned") for s in variants_in("retraining")),
    *((s, "scratch-b") for s in variants_in("retraining")),
    ("rewound-ticket", "winning-ticket"), ("rewound-ticket", "random-init"), ("winning-ticket", "random-init"))
_RETRAIN = ("Le & Hua 2021: retrained at a large learning rate, the pruned model's inherited weights beat fine-tuning "
            "and training from scratch")
LATER_WORK_CLAIMS: tuple[tuple[Pair | str, str], ...] = (
    *(((s, b), _RETRAIN) for s in variants_in("retraining") for b in ("fine-tuned", "scratch-b")),
    ("random", "Le & Hua 2021: randomly pruned filters, retrained at a large learning rate, beat L1-norm pruning "
               "fine-tuned"),
    (("rewound-ticket", "winning-ticket"), "Frankle et al. 2019, 2020: at lr 0.1 a ticket needs rewinding to "
                                           "early-training weights, not its initialisation"),
    (("rewound-ticket", "random-init"), "Frankle et al. 2019, 2020: at lr 0.1 a ticket needs rewinding to "
                                        "early-training weights, not its initialisation"),
    (("winning-ticket", "random-init"), "The paper: at lr 0.1 a winning ticket is no better than a random "
                                        "initialisation"))


@dataclass(frozen=True)
class Chapter:
    """A chapter: where it is, what it claims, what it runs.

    ``grid(preset)`` is the chapter's experiments at a preset; ``custom(value, preset)`` builds them from the
    notebook's grid parameter ``parameter`` instead (``targets``, ``fractions``, ``lrs``). ``followups``, when
    set, designs a second stage from the first stage's results (chapter 4's guided pruning): it is called
    with the per-seed stage patterns of the finished chains (see :func:`nbprune.runner.stage_patterns`), the
    preset and whether the grid was custom. ``pairs`` are the paired comparisons (a, b) of its verdicts;
    ``verdicts`` says how the intro's table reads its results: ``"paired"`` (``pairs`` per row),
    ``"search"`` (architectures compared at the same fraction, :func:`nbprune.report.search_pairs`) or
    ``"paired+random"`` (``pairs`` per row, then randomly pruned filters retrained with the best large-lr
    schedule against L1-norm pruning fine-tuned, :func:`nbprune.report.random_pruning_table`).
    ``curve(preset)``, when set, is a second grid run after the first (chapter 1's budget curve,
    :func:`nbprune.experiments.budget_grid`), saved to its own results file and kept out of the verdicts.
    """

    name: str
    number: int
    title: str
    claim: str
    grid: Callable[[Preset], list[Experiment]]
    parameter: str
    custom: Callable[[object, Preset], list[Experiment]]
    pairs: tuple[Pair, ...] = SCRATCH_VS_FINETUNED
    verdicts: str = "paired"
    followups: Callable[..., list[Experiment]] | None = None
    curve: Callable[[Preset], list[Experiment]] | None = None  # a budget curve, run after the grid, saved apart
    # the claim each comparison tests, where a chapter tests several (chapter 6): (a, b) -> text, and "random"
    # for the random-pruning comparison; the intro's table shows it instead of ``claim`` on those rows
    claims: tuple[tuple[Pair | str, str], ...] = ()
    # what the chapter's figures plot from weights (names of ChapterRun methods): run_chapter computes and
    # stores it with the runs while their weights are there, so a results export draws the same figures
    figures: tuple[str, ...] = ()
    # the chapter's rows on datasets other than CIFAR-10 (``grid`` is CIFAR-10's): (dataset, grid builder) pairs,
    # e.g. ("cifar100", ...) for the paper's CIFAR-100 rows, ("imagenet", ...) for its ImageNet tables
    datasets: tuple[tuple[str, Callable[[Preset], list[Experiment]]], ...] = ()

    @property
    def dataset_names(self) -> tuple[str, ...]:
        """The datasets this chapter has rows for: CIFAR-10 first, then those of :attr:`datasets`."""
        return ("cifar10", *(d for d, _ in self.datasets))

    def grid_for(self, preset, dataset: str = "cifar10") -> list[Experiment]:
        """The chapter's preset grid on ``dataset`` (a ValueError names the datasets it has rows for)."""
        p = get_preset(preset)
        if dataset == "cifar10":
            return self.grid(p)
        builders = dict(self.datasets)
        if dataset not in builders:
            raise ValueError(f"dataset: chapter {self.name!r} has no {dataset} rows; allowed: "
                             f"{', '.join(self.dataset_names)}")
        return builders[dataset](p)

    def curve_for(self, preset, dataset: str = "cifar10") -> list[Experiment]:
        """The chapter's budget curve at ``preset`` (empty when it has none): a CIFAR-10 tool, so empty on any
        other dataset."""
        if self.curve is None or dataset != "cifar10":
            return []
        return self.curve(get_preset(preset))

    def claim_for(self, a: str, b: str) -> str:
        """The claim the comparison a - b tests (``claims``, else the chapter's ``claim``)."""
        return dict(self.claims).get((a, b), dict(self.claims).get(a, self.claim))

    @property
    def page(self) -> str:
        """The notebook's stem, e.g. ``01_predefined`` (``notebooks/<page>.py``, ``book/<page>.ipynb``)."""
        return f"{self.number:02d}_{self.name}"

    def experiments(self, preset: str | Preset, value=None, dataset: str = "cifar10") -> list[Experiment]:
        """The first stage's experiments: the preset's grid on ``dataset`` (:meth:`grid_for`), or the one
        ``value`` of :attr:`parameter` names."""
        p = get_preset(preset)
        return self.grid_for(p, dataset) if value is None else self.custom(value, p)


def _search_followups(keep: list, sparsity: list, preset: Preset, custom: bool, dataset: str = "cifar10",
                      transfer: tuple[list, list] | None = None) -> list[Experiment]:
    """Chapter 4's second stage: guided pruning and guided sparsification from the first stage's patterns,
    and (preset grids only) transferred guided pruning to VGG-19 at the preset's ``transfer_fractions`` (one
    fraction on the CPU presets, for time; every fraction on ``paper``).

    On CIFAR-100 (Figure 6, VGG-19): guided pruning and sparsification from VGG-19's own CIFAR-100 patterns, and
    the ones transferred from VGG-16 on CIFAR-10: ``transfer`` is the (keep, sparsity) patterns of the chapter's
    CIFAR-10 chains finished in the store (:func:`nbprune.runner.stage_patterns`; none: no transferred rows)."""
    vgg16 = [(e, k) for e, k in keep if e.model == "vgg16"]  # VGG-16's five stages map onto VGG-19's
    if dataset != "cifar10":
        out = ex.guided_grid(keep) + ex.guided_sparsity_grid([(e, s) for e, s in sparsity if e.model == "vgg19"])
        if transfer is not None and not custom:
            out += ex.guided_grid([(e, k) for e, k in transfer[0] if e.model == "vgg16"], model="vgg19")
            out += ex.guided_sparsity_grid([(e, s) for e, s in transfer[1] if e.model == "vgg16"], model="vgg19")
        return out
    out = ex.guided_grid(keep) + ex.guided_sparsity_grid(sparsity)
    if not custom:
        fractions = None if preset.transfer_fractions is None else list(preset.transfer_fractions)
        out += ex.guided_grid(vgg16, model="vgg19", fractions=fractions)
    return out


CHAPTERS: dict[str, Chapter] = {c.name: c for c in (
    Chapter("predefined", 1, "Predefined pruning",
            "Predefined pruning: training the pruned architecture from scratch is as good as fine-tuning the pruned "
            "model (L1-norm), or as Soft Filter Pruning's result",
            ex.predefined_grid, "targets", lambda v, p: ex.l1_grid(v),
            pairs=(*SCRATCH_VS_FINETUNED, ("scratch-e", "pruned"), ("scratch-b", "pruned")), curve=ex.budget_grid,
            datasets=(("imagenet", ex.imagenet_predefined_grid),)),
    Chapter("automatic", 2, "Automatic pruning",
            "Automatic pruning (Network Slimming): the found architecture trained from scratch is as good as the "
            "fine-tuned one",
            ex.automatic_grid, "fractions", lambda v, p: ex.slimming_grid(v), curve=ex.automatic_curve,
            datasets=(("cifar100", ex.automatic_cifar100_grid), ("imagenet", ex.imagenet_automatic_grid))),
    Chapter("unstructured", 3, "Unstructured magnitude pruning",
            "Unstructured pruning at moderate sparsity on CIFAR: scratch training keeps up with fine-tuning",
            ex.unstructured_grid, "fractions", lambda v, p: ex.magnitude_grid(v), figures=("weight_histograms",),
            datasets=(("cifar100", ex.unstructured_cifar100_grid), ("imagenet", ex.imagenet_unstructured_grid))),
    Chapter("architecture_search", 4, "Pruning as architecture search",
            "Pruning as architecture search: on VGG, the architectures automatic pruning finds (and guided ones "
            "built from their per-stage widths) beat uniform pruning when trained from scratch",
            ex.architecture_search_grid, "fractions",
            lambda v, p: ex.search_grid(v, "vgg16"), pairs=(), verdicts="search", followups=_search_followups,
            figures=("stage_sparsity",), datasets=(("cifar100", ex.architecture_search_cifar100_grid),)),
    Chapter("lottery_ticket", 5, "The lottery ticket hypothesis",
            "At lr 0.1 a winning ticket is no better than a random initialisation",
            ex.lottery_ticket_grid, "lrs", lambda v, p: ex.lottery_grid(p, v),
            pairs=(("winning-ticket", "random-init"),), curve=ex.lottery_curve),
    Chapter("later_work", 6, "What later work found",
            "Later work (Le & Hua 2021; Frankle et al. 2019, 2020): retrained at a large lr, inherited weights beat "
            "training from scratch, and randomly pruned filters beat L1-norm pruning fine-tuned; at lr 0.1 a ticket "
            "needs rewinding to early-training weights, not its initialisation",
            ex.later_work_grid, "draws", lambda v, p: ex.later_work_grid(p, v), pairs=LATER_WORK_PAIRS,
            verdicts="paired+random", claims=LATER_WORK_CLAIMS),
)}


def chapter_grid(chapter: str, preset: str | Preset, dataset: str = "cifar10") -> list[Experiment]:
    """The experiments of ``chapter`` at ``preset`` on ``dataset`` (its first stage)."""
    return get_chapter(chapter).grid_for(get_preset(preset), dataset)


def get_chapter(name: str | Chapter) -> Chapter:
    """The chapter record called ``name``; a ValueError names the allowed ones otherwise."""
    if isinstance(name, Chapter):
        return name
    if name not in CHAPTERS:
        raise unknown_choice("chapter", name, list(CHAPTERS))
    return CHAPTERS[name]
