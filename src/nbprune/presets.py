"""Presets: how much of the paper's protocol a run of the book does, in one place.

``paper`` is the paper's protocol exactly (for GPUs). ``cpu`` is the book's default: a small-scale replication
chosen from the calibration table (``results/calibration.csv``, the appendix) so that the whole book, 5 seeds
and chapter 1's budget curve included, trains in at most 5 hours on a 2-core CPU. ``quick`` is a one-hour
preview (3 seeds, 5,000 test images). ``smoke`` only checks that everything runs (numbers meaningless).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from .choices import unknown_choice
from .params import parse_param


@dataclass(frozen=True)
class Preset:
    """Budget knobs shared by every chapter. ``None`` means "the paper's value / everything"."""

    name: str
    description: str
    epochs: int  # large-model training epochs (the paper: 160)
    finetune_epochs: int  # fine-tuning epochs at the lowest lr (the paper: 40)
    width: float  # channel multiplier applied to every model (the paper: 1.0)
    train_subset: int | None  # images of the training set used (None: all 50,000)
    test_subset: int | None  # images of the test set used for evaluation (None: all 10,000)
    seeds: tuple[int, ...] = field(default=(0, 1, 2, 3, 4))
    batch_size: int = 64
    amp: bool = False  # bf16 autocast of convs/linears (faster on CUDA and on CPUs with AVX-512 BF16/AMX)
    # equivalence margin of the verdicts (accuracy points, fixed before any run; see nbprune.stats): 0.5 at
    # `paper`, about twice the seed std (0.1-0.3) of the paper's CIFAR tables, whose "comparable" rows differ by
    # a few tenths; 1 point on the CPU presets, where one run's accuracy on 10,000 test images has a binomial
    # standard error of about 0.5 points (0.7 on 5,000) and the seed-to-seed spread of a short run is larger
    margin: float = 1.0
    # chapter 1's budget curve: the large model's epochs at each point (the fine-tuning epochs scale with them,
    # as finetune_epochs / epochs); empty: no curve at this preset
    budgets: tuple[int, ...] = ()
    # training images of the curve's runs (None: the preset's train_subset) and how many of the chapter's seeds
    # it trains (None: all); a curve on fewer images reaches longer budgets at the same cost
    budget_subset: int | None = None
    budget_seeds: int | None = None
    # more seeds at some budgets (budget -> seeds): the longest points of the curve decide its verdicts, so they
    # get seeds enough for a ±margin interval; seeds beyond the chapter's own continue its numbering
    budget_seeds_at: tuple[tuple[int, int], ...] = ()
    # the shorter curves of chapters 2 and 5 (their central rows at these epochs, on the curve's images; each
    # point trains the chapter's seeds, or ``row_seeds_at``'s count there); empty: none at this preset
    row_budgets: tuple[int, ...] = ()
    # more seeds at some of those points (budget -> seeds; elsewhere the chapter's seeds), set apart from chapter
    # 1's ``budget_seeds_at``; seeds can be added later without retraining any run (a seed's runs keep their ids)
    row_seeds_at: tuple[tuple[int, int], ...] = ()
    # whether a chapter run trains its curve's missing runs (False: it reads the finished ones and says what is
    # missing; ``nbprune grid <chapter> --curve`` or the notebooks' ``train_curve`` parameter trains them). The
    # curves are the CPU's way toward the paper's regime; at ``paper`` they would add GPU time the paper does
    # not spend, and on the committed ``cpu`` book `make book` must train nothing
    train_curves: bool = False
    # Soft Filter Pruning's scope: "all" zeroes every conv's filters and trains the pruned model and its Scratch
    # runs as masked full-size networks, as the SFP authors' code does (nbprune.prune.sfp); "units" is the
    # book's earlier method (each block's first conv, physically removed), which the committed `quick` SFP rows
    # were trained with: they keep it until they are re-run (the `cpu` rows were re-run with "all")
    sfp_scope: str = "all"
    # every row of the paper's CIFAR tables (True: ``paper``) or each chapter's central rows (the CPU presets)
    full_grid: bool = False
    # Soft Filter Pruning's large models on SFP's own recipe (Nesterov, wd 5e-4, batch 128, 200 epochs, warm-up);
    # False: the preset's own budget and the paper's recipe
    sfp_recipe: bool = False
    # the dataset this preset's recipe is resolved for (:func:`for_dataset`); the CIFAR presets serve both CIFARs
    dataset: str = "cifar10"
    # an ImageFolder dataset's crop side (None: 224) and its class count where it differs from the dataset's
    # standard one (None: standard); both enter the runs' configs (RunConfig.image_size / num_classes)
    image_size: int | None = None
    num_classes: int | None = None
    # chapter 4 without ``full_grid``: the fractions of VGG-16's channels Network Slimming and uniform pruning
    # are compared at, and those whose guided architectures are transferred to VGG-19 (None: every fraction)
    search_fractions: tuple[float, ...] = (0.4, 0.7)
    transfer_fractions: tuple[float, ...] | None = None

    def as_dict(self) -> dict:
        """Plain-JSON view, for tables and provenance (the dataset resolution's fields only where resolved)."""
        d = asdict(self)
        if self.dataset == "cifar10":
            for k in ("dataset", "image_size", "num_classes"):
                d.pop(k)
        d["seeds"] = list(self.seeds)
        d["budgets"] = list(self.budgets)
        d["budget_seeds_at"] = {str(b): n for b, n in self.budget_seeds_at}
        d["row_budgets"] = list(self.row_budgets)
        d["row_seeds_at"] = {str(b): n for b, n in self.row_seeds_at}
        d["search_fractions"] = list(self.search_fractions)
        d["transfer_fractions"] = None if self.transfer_fractions is None else list(self.transfer_fractions)
        return d


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke",
        description="Checks that every cell runs; numbers are meaningless. The whole book in minutes on a CPU.",
        epochs=1,
        finetune_epochs=1,
        width=0.125,
        train_subset=512,
        test_subset=512,
        seeds=(0,),
        budgets=(1, 2),
        row_budgets=(1, 2),
        train_curves=True,
        transfer_fractions=(0.4,),
    ),
    "cpu": Preset(
        name="cpu",
        description="The book's default, calibrated for a 2-core CPU (at most 5 h): 1/8 width, 4 epochs "
                    "(fine-tune 1) on all 50,000 training images, all 10,000 test images, bf16 autocast, 5 "
                    "seeds; budget curve at 2-64 epochs on 20,000 training images, 3 seeds (8 at 32 and 64 epochs); "
                    "chapters 2 and 5 at 4, 16 and 64 epochs on the same images, 5 seeds.",
        epochs=4,
        finetune_epochs=1,
        width=0.125,
        train_subset=None,
        test_subset=None,
        seeds=(0, 1, 2, 3, 4),
        amp=True,
        budgets=(2, 4, 8, 16, 32, 64),
        budget_subset=20000,
        budget_seeds=3,
        budget_seeds_at=((32, 8), (64, 8)),
        row_budgets=(4, 16, 64),
        search_fractions=(0.4, 0.5, 0.6, 0.7),
        transfer_fractions=(0.5,),
    ),
    "quick": Preset(
        name="quick",
        description="One-hour preview on a 2-core CPU: 1/4 width, 4 epochs (fine-tune 1) on 28,000 "
                    "training images, 5,000 test images, bf16 autocast, 3 seeds.",
        epochs=4,
        finetune_epochs=1,
        width=0.25,
        train_subset=28000,
        test_subset=5000,
        seeds=(0, 1, 2),
        amp=True,
        sfp_scope="units",
        search_fractions=(0.4, 0.5, 0.6, 0.7),
        transfer_fractions=(0.5,),
    ),
    "paper": Preset(
        name="paper",
        description="The paper's protocol exactly: 160 epochs, fine-tune 40, full width, all data, 5 seeds (GPU).",
        epochs=160,
        finetune_epochs=40,
        width=1.0,
        train_subset=None,
        test_subset=None,
        seeds=(0, 1, 2, 3, 4),
        margin=0.5,
        budgets=(10, 20, 40, 80, 160),
        full_grid=True,
        sfp_recipe=True,
    ),
}


# The paper's ImageNet recipe (Section 4; PROTOCOL.md): 90 epochs, batch 256, lr 0.1 x0.1 at epochs 30 and 60
# (nbprune.flops.scratch_b_milestones), weight decay 1e-4, momentum 0.9, one run; fine-tuning 20 epochs at
# the lowest lr; Scratch-B at most 2x the large model's epochs (nbprune.flops.scratch_b_epochs). ``smoke`` only
# checks that the ImageNet path runs: one epoch at a 32-px crop on 512 images. ImageNet on a CPU is out of reach,
# so the CPU presets have no ImageNet recipe.
IMAGENET_RECIPES: dict[str, dict] = {
    "paper": dict(epochs=90, finetune_epochs=20, width=1.0, batch_size=256, train_subset=None, test_subset=None,
                  seeds=(0,), amp=False, budgets=(), row_budgets=(), sfp_recipe=False, image_size=None),
    "smoke": dict(epochs=1, finetune_epochs=1, width=1.0, batch_size=16, train_subset=512, test_subset=512,
                  seeds=(0,), amp=False, budgets=(), row_budgets=(), train_curves=False, sfp_recipe=False,
                  image_size=32),
}
FOLDER_DATASETS = ("imagenet",)  # datasets read from an ImageFolder, with recipes of their own


def for_dataset(preset, dataset: str = "cifar10", num_classes: int | None = None) -> Preset:
    """``preset`` resolved for ``dataset``: the preset itself for CIFAR-10/100, its :data:`IMAGENET_RECIPES`
    entry for ImageNet (a preset without one is a ValueError naming those that have one). ``num_classes``:
    an ImageFolder's class count (kept only where it differs from the dataset's standard count, so runs on
    the full dataset keep their ids). Idempotent: a preset already resolved for ``dataset`` is returned."""
    from .data import DATASETS

    p = get_preset(preset)
    if dataset not in DATASETS:
        raise unknown_choice("dataset", dataset, DATASETS)
    if dataset not in FOLDER_DATASETS:
        return p
    if num_classes is not None and (isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(f"num_classes: must be None or an integer >= 2, got {num_classes!r}")
    classes = None if num_classes in (None, DATASETS[dataset]) else num_classes
    if p.dataset == dataset:
        return p if classes is None or classes == p.num_classes else replace(p, num_classes=classes)
    if p.name not in IMAGENET_RECIPES:
        raise ValueError(f"preset: {p.name!r} has no {dataset} recipe (ImageNet needs GPUs); allowed with "
                         f"dataset {dataset}: {', '.join(IMAGENET_RECIPES)}")
    return replace(p, dataset=dataset, num_classes=classes, **IMAGENET_RECIPES[p.name])


def for_data(preset, dataset: str = "cifar10", data_root=None) -> Preset:
    """:func:`for_dataset` with an ImageFolder dataset's class count read from its folder (``data_root``, else
    ``$NBPRUNE_DATA``), which is checked first: a missing or malformed folder is a one-line error naming
    ``data_root`` before any work. CIFAR: the preset itself (its data is checked when it loads)."""
    p = for_dataset(preset, dataset)
    if dataset not in FOLDER_DATASETS:
        return p
    from .data import folder_classes, folder_root

    return for_dataset(p, dataset, len(folder_classes(folder_root(data_root))))


def at_budget(preset: Preset, epochs: int) -> Preset:
    """``preset`` with its large models trained ``epochs`` epochs and fine-tuning scaled alike (the preset's
    ratio finetune_epochs / epochs, at least 1), on the curve's training images (``budget_subset``): one point
    of the budget curve. Where that is the preset's own budget on its own images it is the preset itself, so
    the point's runs are the preset's."""
    p = preset
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"budget: must be an integer number of epochs >= 1, got {epochs!r}")
    subset = p.train_subset if p.budget_subset is None else p.budget_subset
    if epochs == p.epochs and subset == p.train_subset:
        return p
    return replace(p, epochs=epochs, finetune_epochs=max(1, round(epochs * p.finetune_epochs / p.epochs)),
                   train_subset=subset)


def budget_seed_count(preset: Preset, budget: int) -> int | None:
    """How many seeds the curve trains at ``budget`` epochs: ``budget_seeds_at``'s count there, else
    ``budget_seeds`` (None: all the seeds the curve is given)."""
    p = preset
    return dict(p.budget_seeds_at).get(budget, p.budget_seeds)


def row_seed_count(preset: Preset, budget: int) -> int:
    """How many seeds a point of chapters 2 and 5's curves trains: ``row_seeds_at``'s count at ``budget``,
    else the preset's seeds."""
    p = preset
    return dict(p.row_seeds_at).get(budget, len(p.seeds))


def budget_seeds(preset: Preset, seeds: list[int], explicit: bool = False) -> list[int]:
    """The seeds the budget curve is given; each of its points trains the first :func:`budget_seed_count` of them.

    With the preset's own seeds (``explicit`` False) the list is extended, continuing the numbering after the
    largest, to the most seeds any point asks for (``cpu``: 8 at 32 and 64 epochs, where the chapter has 5).
    Seeds a user gave (``explicit``) are taken as they are: a one-seed re-run trains one seed at every point."""
    p = preset
    seeds = list(seeds)
    if explicit:
        return seeds
    counts = [n for n in (p.budget_seeds, *dict(p.budget_seeds_at).values()) if n is not None]
    counts += [row_seed_count(p, b) for b in p.row_budgets]
    if p.budget_seeds is None:  # the points without a count of their own train every seed
        counts.append(len(seeds))
    want = max(counts)
    more = range(max(seeds) + 1, max(seeds) + 1 + max(0, want - len(seeds)))
    return (seeds + list(more))[:want]


def get_preset(name: str | Preset) -> Preset:
    """The preset called ``name`` (a :class:`Preset` is returned as it is); a ValueError names the allowed ones
    otherwise. Called once where a preset enters (the notebooks' and the CLI's parameter, the public entry points
    such as :func:`nbprune.runner.run_chapter`); everything inward takes the :class:`Preset`."""
    if isinstance(name, Preset):
        return name
    if name not in PRESETS:
        raise unknown_choice("preset", name, PRESETS)
    return PRESETS[name]


def preset_table():
    """All presets as a pandas DataFrame (one row per preset), for the book."""
    import pandas as pd

    return pd.DataFrame([p.as_dict() for p in PRESETS.values()]).set_index("name")


def resolve_seeds(seeds, preset: Preset) -> list[int]:
    """``seeds`` as a list of ints (None: the preset's); a ValueError names the parameter otherwise."""
    seeds = parse_param("seeds", seeds, list, "[0, 1, 2]")
    if seeds is None:
        return list(preset.seeds)
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise ValueError(f"seeds: must be None or a non-empty list of integers >= 0, got {seeds!r}")
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds: must be None or a non-empty list of distinct integers >= 0, got {seeds!r}")
    return seeds
