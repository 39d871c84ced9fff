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

    def claim_for(self, a: str, b: str) -> str:
        """The claim the comparison a - b tests (``claims``, else the chapter's ``claim``)."""
        return dict(self.claims).get((a, b), dict(self.claims).get(a, self.claim))

    @property
    def page(self) -> str:
        """The notebook's stem, e.g. ``01_predefined`` (``notebooks/<page>.py``, ``book/<page>.ipynb``)."""
        return f"{self.number:02d}_{self.name}"

    def experiments(self, preset: str | Preset, value=None) -> list[Experiment]:
        """The first stage's experiments: the preset's grid, or the one ``value`` of :attr:`parameter` names."""
        p = get_preset(preset)
        return self.grid(p) if value is None else self.custom(value, p)


def _search_followups(keep: list, sparsity: list, preset: Preset, custom: bool) -> list[Experiment]:
    """Chapter 4's second stage: guided pruning and guided sparsification from the first stage's patterns,
    and (preset grids only) transferred guided pruning to VGG-19 at the preset's ``transfer_fractions`` (one
    fraction on the CPU presets, for time; every fraction on ``paper``)."""
    out = ex.guided_grid(keep) + ex.guided_sparsity_grid(sparsity)
    if not custom:
        fractions = None if preset.transfer_fractions is None else list(preset.transfer_fractions)
        out += ex.guided_grid(keep, model="vgg19", fractions=fractions)
    return out


CHAPTERS: dict[str, Chapter] = {c.name: c for c in (
    Chapter("predefined", 1, "Predefined pruning",
            "Predefined pruning: training the pruned architecture from scratch is as good as fine-tuning the pruned "
            "model (L1-norm), or as Soft Filter Pruning's result",
            ex.predefined_grid, "targets", lambda v, p: ex.l1_grid(v),
            pairs=(*SCRATCH_VS_FINETUNED, ("scratch-e", "pruned"), ("scratch-b", "pruned")), curve=ex.budget_grid),
    Chapter("automatic", 2, "Automatic pruning",
            "Automatic pruning (Network Slimming): the found architecture trained from scratch is as good as the "
            "fine-tuned one",
            ex.automatic_grid, "fractions", lambda v, p: ex.slimming_grid(v), curve=ex.automatic_curve),
    Chapter("unstructured", 3, "Unstructured magnitude pruning",
            "Unstructured pruning at moderate sparsity on CIFAR: scratch training keeps up with fine-tuning",
            ex.unstructured_grid, "fractions", lambda v, p: ex.magnitude_grid(v), figures=("weight_histograms",)),
    Chapter("architecture_search", 4, "Pruning as architecture search",
            "Pruning as architecture search: on VGG, the architectures automatic pruning finds (and guided ones "
            "built from their per-stage widths) beat uniform pruning when trained from scratch",
            ex.architecture_search_grid, "fractions",
            lambda v, p: ex.search_grid(v, "vgg16"), pairs=(), verdicts="search", followups=_search_followups,
            figures=("stage_sparsity",)),
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


def chapter_grid(chapter: str, preset: str | Preset) -> list[Experiment]:
    """The experiments of ``chapter`` at ``preset`` (its first stage)."""
    return get_chapter(chapter).grid(get_preset(preset))


def get_chapter(name: str | Chapter) -> Chapter:
    """The chapter record called ``name``; a ValueError names the allowed ones otherwise."""
    if isinstance(name, Chapter):
        return name
    if name not in CHAPTERS:
        raise unknown_choice("chapter", name, list(CHAPTERS))
    return CHAPTERS[name]
