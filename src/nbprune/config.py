"""The description of one training run, :class:`RunConfig`, and the identity (hash) that names its directory.

A leaf of the package below :mod:`nbprune.train`: it needs the dataset list (:mod:`nbprune.data`), the presets
(:mod:`nbprune.presets`) and the paper's lr-milestone rule (:mod:`nbprune.flops`), nothing that trains.
The fields of the pruning methods that act during training (marked ``hook`` in their metadata) are listed by
:meth:`RunConfig.regularizer_fields`: a run that sets one must be given the training hook that consumes it
(:mod:`nbprune.hooks`, :func:`nbprune.prune.hooks_for`), so the knob cannot be dropped silently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from .choices import unknown_choice
from .data import CIFAR, DATASETS
from .flops import scratch_b_milestones
from .presets import Preset, for_dataset

__all__ = ["CONFIG_VERSION", "INITS", "NORMALIZATIONS", "SFP_CONVS", "RunConfig", "fresh_seed", "thaw"]

CONFIG_VERSION = 1
# bump CONFIG_VERSION when the meaning of an existing field changes (old runs then stop matching)
INITS = ("random", "parent", "parent-init", "parent-random", "parent-rewind")
REWIND_FRACTIONS = (0.01, 0.02)  # a large model keeps its weights after these fractions of its steps (rewinding)
TRAIN_IMAGES = 50000  # CIFAR-10/100 training images
DATASET_TRAIN_IMAGES = {"cifar10": TRAIN_IMAGES, "cifar100": TRAIN_IMAGES, "imagenet": 1_281_167}  # ILSVRC-2012
DATASET_TEST_IMAGES = {"cifar10": 10000, "cifar100": 10000, "imagenet": 50000}  # ImageNet: its validation set
SCHEDULES = ("step", "cosine")  # the named lr schedules of RunConfig.schedule
SFP_CONVS = ("units", "all")  # RunConfig.sfp_convs: the convs Soft Filter Pruning zeroes (nbprune.prune.sfp)
NORMALIZATIONS = ("cifar", "sfp")  # nbprune.data.NORMS: the paper's CIFAR constants, or Soft Filter Pruning's


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a training run's result. Defaults are the paper's CIFAR recipe.

    Fields left at their default do not enter the run's hash, so adding a field later keeps old runs valid.
    Derived runs name a ``parent`` run (by id) and a ``prune`` spec (a method and its settings, applied to
    the parent's final weights, see :mod:`nbprune.prune`). ``init`` says where the weights come from:
    ``"random"`` (drawn from ``seed``; Scratch-E/B; masks of an unstructured prune are kept),
    ``"parent"`` (the parent's pruned final weights: fine-tuning), ``"parent-init"`` (the parent's own
    random init, pruned the same way: a lottery ticket) or ``"parent-random"`` (a fresh draw of the
    parent's unpruned architecture from ``init_seed``, pruned the same way: the lottery ticket's control,
    which then differs from the ticket in its values only, not in its init scale).

    ``init_seed`` seeds the random init when it differs from ``seed`` (which also orders the data): the
    from-scratch runs of a chain draw from a stream the large model's init does not use (see
    :func:`fresh_seed`). ``selections`` fixes which input channels each ``ChannelSelection`` reads, as
    ``(module name, indices)`` pairs for the selections that differ from "the first k": a pruned
    PreResNet/DenseNet architecture is its widths *and* its selections.
    """

    model: str
    dataset: str = "cifar10"
    cfg: tuple | None = None  # explicit per-layer channel configuration (None: the model's default)
    width: float = 1.0
    model_kwargs: tuple = ()  # extra create_model keyword arguments as sorted (key, value) pairs
    epochs: int = 160
    lr: float = 0.1
    milestones: tuple[int, ...] | None = None  # epochs where lr is multiplied by gamma (None: 50% and 75%)
    gamma: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    nesterov: bool = False
    batch_size: int = 64
    seed: int = 0
    train_subset: int | None = None
    test_subset: int | None = None
    val_size: int = 0
    parent: str | None = None
    prune: tuple = ()  # sorted (key, value) pairs, e.g. (("method", "l1"), ("target", "vgg16-a"))
    init: str = "random"
    # Network Slimming: s in s*sign(gamma) added to every BN weight's gradient
    bn_sparsity: float = field(default=0.0, metadata={"hook": "train"})
    # Soft Filter Pruning: zero this fraction of every conv's filters after each epoch
    sfp_rate: float = field(default=0.0, metadata={"hook": "train"})
    # ...of which convs (read by the sfp_rate hook, nbprune.prune.sfp): "units", the convs the final removal
    # removes (a ResNet block's first conv); "all", every conv, as SFP's authors ran it
    sfp_convs: str = "units"
    # Sparse Structure Selection: L1 penalty on per-block scales (proximal step); the scales are added at build
    sss_penalty: float = field(default=0.0, metadata={"hook": "build"})
    amp: bool = False  # bf16 autocast of convs/linears (CUDA or CPU); fp32 master weights and loss
    tag: str = ""  # free label (e.g. "scratch-b"); enters the hash so equal recipes can be told apart
    init_seed: int | None = None  # seed of the random init (None: ``seed``)
    selections: tuple = ()  # sorted (ChannelSelection module name, kept input-channel indices) pairs
    warmup_epochs: int = 0  # the first epochs train at ``warmup_lr`` (Soft Filter Pruning's recipe: 1 at 0.01)
    warmup_lr: float = 0.0
    normalization: str = "cifar"  # input normalisation constants, one of NORMALIZATIONS
    # a named lr schedule with its parameters as sorted (key, value) pairs, e.g. (("name", "cosine"),
    # ("warmup", 0.1)); () is the paper's step schedule, set once per epoch (see :meth:`lr_at`)
    schedule: tuple = ()
    rewind_step: int | None = None  # init "parent-rewind": the parent's step whose weights the run starts from
    # the model's classes where they differ from the dataset's standard count (DATASETS: ImageNet 1000); an
    # ImageFolder of other classes (a subset of ImageNet, a test folder) is recorded here, so its runs never
    # share an id with runs on the full dataset (None: the standard count; every CIFAR run)
    num_classes: int | None = None
    # the crop side of an ImageFolder dataset's images (None: 224, the paper's); smaller for cheap test runs
    image_size: int | None = None

    # --------------------------------------------------------------------------------- construction
    @classmethod
    def from_preset(cls, preset: str | Preset, model: str, **overrides) -> RunConfig:
        """A large-model run at a preset's budget (epochs, width, subsets), resolved for the run's dataset
        (:func:`nbprune.presets.for_dataset`: ImageNet's own recipe); ``overrides`` win. ``preset``: a
        :class:`~nbprune.presets.Preset` or its name (a public constructor: the name is resolved here)."""
        p = for_dataset(preset, overrides.get("dataset", "cifar10"))
        kw = dict(model=model, epochs=p.epochs, width=p.width, batch_size=p.batch_size,
                  train_subset=p.train_subset, test_subset=p.test_subset, amp=p.amp)
        kw.update({k: getattr(p, k) for k in ("image_size", "num_classes") if getattr(p, k) is not None})
        kw.update(overrides)
        return cls(**kw)

    def __post_init__(self) -> None:
        # normalise lists to tuples so configs hash and compare by value
        if self.cfg is not None and not isinstance(self.cfg, tuple):
            object.__setattr__(self, "cfg", _freeze(self.cfg))
        for name in ("model_kwargs", "prune", "selections", "schedule"):
            v = getattr(self, name)
            if isinstance(v, dict):
                object.__setattr__(self, name, tuple(sorted((k, _freeze(x)) for k, x in v.items())))
            elif isinstance(v, list):
                object.__setattr__(self, name, tuple(tuple(_freeze(x)) for x in v))
        if self.milestones is not None and not isinstance(self.milestones, tuple):
            object.__setattr__(self, "milestones", tuple(self.milestones))
        self.validate()

    def validate(self) -> None:
        """Raise ValueError naming the first bad field; no work has started yet."""
        def bad(name: str, allowed: str) -> None:
            raise ValueError(f"{name}: must be {allowed}, got {getattr(self, name)!r}")

        if self.dataset not in DATASETS:
            raise unknown_choice("dataset", self.dataset, DATASETS)
        if self.num_classes is not None and (isinstance(self.num_classes, bool) or not isinstance(self.num_classes, int)
                                             or self.num_classes < 2):
            bad("num_classes", "None or an integer >= 2")
        if self.dataset in CIFAR and self.num_classes not in (None, DATASETS[self.dataset]):
            bad("num_classes", f"None (or {DATASETS[self.dataset]}) for {self.dataset}")
        if self.image_size is not None and (self.dataset in CIFAR or isinstance(self.image_size, bool)
                                            or not isinstance(self.image_size, int) or self.image_size < 16):
            bad("image_size", "None, or for an ImageFolder dataset (imagenet) an integer >= 16")
        if self.dataset not in CIFAR and self.val_size:
            bad("val_size", f"0 for {self.dataset} (its val/ folder is the test set)")
        if self.dataset not in CIFAR and self.normalization != "cifar":
            bad("normalization", f"left at its default for {self.dataset} (ImageFolder data is normalised with "
                                 "torchvision's ImageNet constants)")
        for name in ("epochs", "seed", "val_size", "warmup_epochs"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                bad(name, "an integer >= 0")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            bad("batch_size", "an integer >= 1")
        for name in ("train_subset", "test_subset"):
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                bad(name, "a positive integer or None")
        if self.init_seed is not None and (not isinstance(self.init_seed, int) or isinstance(self.init_seed, bool)
                                           or self.init_seed < 0):
            bad("init_seed", "None or an integer >= 0")
        if self.schedule:
            spec = dict(self.schedule)
            unknown = sorted(set(spec) - {"name", "warmup", "drops"})
            if unknown or spec.get("name") not in SCHEDULES or ("drops" in spec and spec["name"] != "step"):
                raise ValueError(f"schedule: must be () or pairs with a 'name' in {', '.join(SCHEDULES)}, an "
                                 f"optional 'warmup' fraction and (step only) 'drops' fractions, got {self.schedule!r}")
            drops = spec.get("drops", ())
            if not isinstance(drops, tuple) or any(isinstance(d, bool) or not isinstance(d, (int, float))
                                                   or not 0 < d < 1 for d in drops):
                raise ValueError(f"schedule: drops must be fractions of the run in (0, 1), got {drops!r}")
            w = spec.get("warmup", 0.0)
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < 1:
                raise ValueError(f"schedule: warmup must be a fraction of the run in [0, 1), got {w!r}")
        if self.normalization not in NORMALIZATIONS:
            bad("normalization", f"one of {', '.join(NORMALIZATIONS)}")
        if self.selections and (not isinstance(self.selections, tuple) or any(
                len(pair) != 2 or not isinstance(pair[0], str) or not isinstance(pair[1], tuple) for pair in self.selections)):
            bad("selections", "a mapping module name -> list of kept channel indices")
        for name in ("lr", "momentum", "weight_decay", "gamma", "bn_sparsity", "sss_penalty", "width", "warmup_lr"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v) or v < 0:
                bad(name, "a finite number >= 0")
        if self.width <= 0:
            bad("width", "a number > 0")
        if isinstance(self.sfp_rate, bool) or not isinstance(self.sfp_rate, (int, float)) or not 0 <= self.sfp_rate < 1:
            bad("sfp_rate", "a number in [0, 1)")
        if self.sfp_convs not in SFP_CONVS:
            bad("sfp_convs", f"one of {', '.join(SFP_CONVS)}")
        if self.sfp_convs != "units" and not self.sfp_rate:
            raise ValueError(f"sfp_convs: {self.sfp_convs!r} says which convs Soft Filter Pruning zeroes; it needs "
                             "sfp_rate > 0")
        if self.milestones is not None and any(not isinstance(m, int) or m < 0 for m in self.milestones):
            bad("milestones", "a list of epoch numbers >= 0")
        if self.init not in INITS:
            bad("init", f"one of {', '.join(INITS)}")
        if self.rewind_step is not None and (isinstance(self.rewind_step, bool) or not isinstance(self.rewind_step, int)
                                             or self.rewind_step < 1):
            bad("rewind_step", "None or an integer >= 1")
        if (self.init == "parent-rewind") != (self.rewind_step is not None):
            raise ValueError(f"rewind_step: give it exactly with init 'parent-rewind' (the parent's step to rewind "
                             f"to), got init {self.init!r} and rewind_step {self.rewind_step!r}")
        if self.init != "random" and self.parent is None:
            raise ValueError(f"init: {self.init!r} needs a parent run (parent=<run_id>)")
        if self.prune and self.parent is None:
            raise ValueError("prune: a pruning spec needs a parent run to prune (parent=<run_id>)")
        if self.prune and "method" not in dict(self.prune):
            bad("prune", "a mapping with at least a 'method' key")

    # --------------------------------------------------------------------------------- method hooks
    def regularizer_fields(self, at_build: bool = False) -> dict[str, Any]:
        """The fields set away from their default that a training hook must consume, with their values
        (field order). ``at_build``: only those whose hook changes the model as it is built (its parameters)."""
        stages = ("build",) if at_build else ("build", "train")
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.metadata.get("hook") in stages and getattr(self, f.name) != f.default}

    # ------------------------------------------------------------------------------------- identity
    def non_default(self) -> dict[str, Any]:
        """The fields that differ from their defaults, as JSON-ready values."""
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if f.default is dataclasses.MISSING or v != f.default:
                out[f.name] = thaw(v)
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every field (defaults included), as JSON-ready values."""
        return {f.name: thaw(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @staticmethod
    def to_dict_value(value: Any) -> Any:
        """A field value as it appears in :meth:`to_dict`."""
        return thaw(value)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"config: unknown fields {sorted(unknown)}; allowed: {sorted(known)}")
        return cls(**d)

    @property
    def run_id(self) -> str:
        """Content hash of the non-default fields: the run's directory name."""
        payload = json.dumps({"v": CONFIG_VERSION, **self.non_default()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]

    def replace(self, **changes) -> RunConfig:
        return dataclasses.replace(self, **changes)

    def lr_milestones(self) -> tuple[int, ...]:
        """The epochs where lr steps down: given, or the paper's rule of :func:`nbprune.flops.scratch_b_milestones`
        (CIFAR: E // 2 and 3E // 4); (0, 0) for a run of no epochs."""
        if self.milestones is not None:
            return self.milestones
        if self.epochs == 0:
            return (0, 0)
        return tuple(scratch_b_milestones(self.epochs, self.dataset))

    def steps_per_epoch(self) -> int:
        """Optimiser steps in one epoch (the last batch may be short)."""
        return math.ceil(((self.train_subset or DATASET_TRAIN_IMAGES[self.dataset]) - self.val_size) / self.batch_size)

    @property
    def classes(self) -> int:
        """The number of classes the model predicts: ``num_classes``, else the dataset's standard count."""
        return DATASETS[self.dataset] if self.num_classes is None else self.num_classes

    def rewind_steps(self) -> tuple[int, ...]:
        """The steps after which a large model (no parent) keeps its weights as ``rewind-<step>.pt``: about 1%
        and 2% of its training (:data:`REWIND_FRACTIONS`), the points a rewound lottery ticket restarts from
        (Frankle et al., 2019/2020). Empty for derived runs."""
        if self.parent is not None or self.epochs == 0:
            return ()
        total = self.epochs * self.steps_per_epoch()
        return tuple(sorted({max(1, round(f * total)) for f in REWIND_FRACTIONS}))

    @property
    def per_step_lr(self) -> bool:
        """Whether the lr changes within an epoch (a named :attr:`schedule`), not only at its start."""
        return bool(self.schedule)

    def lr_at(self, epoch: int, progress: float = 0.0) -> float:
        """The lr of a step of ``epoch`` (0-based); ``progress`` is the fraction of that epoch done once the step
        is taken (only a named schedule reads it). ``warmup_lr`` in the (constant) warm-up epochs; else

        * the step schedule (``schedule=()``, or ``name`` ``"step"``): ``lr`` times ``gamma`` per milestone passed,
          and per fraction of ``drops`` the run has passed (a named step schedule's drops are step-exact, so a
          retraining run of one epoch still steps down at 50% and 75% of it);
        * ``"cosine"``: ``lr`` decayed to 0 along half a cosine over the run;

        and with a named schedule's ``warmup`` fraction w, the first w of the run's steps ramp linearly from 0 to
        the schedule's value (Le & Hua's learning-rate restarting; the cosine starts after the ramp).
        """
        if epoch < self.warmup_epochs:
            return self.warmup_lr
        step_lr = self.lr * self.gamma ** sum(epoch >= m for m in self.lr_milestones())
        if not self.schedule:
            return step_lr
        spec = dict(self.schedule)
        t = (epoch + progress) / max(self.epochs, 1)  # the fraction of the run done after this step
        w = float(spec.get("warmup", 0.0))
        if spec["name"] == "cosine":
            base = self.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, max(0.0, (t - w) / (1 - w)))))
        else:
            base = step_lr * self.gamma ** sum(t > d + 1e-12 for d in spec.get("drops", ()))
        return base * min(1.0, t / w) if w > 0 and t < w else base

    def lr_curve(self, points_per_epoch: int = 20) -> tuple[list[float], list[float]]:
        """The lr over the run as (epochs done, lr) at ``points_per_epoch`` evenly spaced steps of each epoch:
        what :meth:`lr_at` gives the trainer (a step schedule is flat within an epoch), for plotting."""
        if isinstance(points_per_epoch, bool) or not isinstance(points_per_epoch, int) or points_per_epoch < 1:
            raise ValueError(f"points_per_epoch: must be an integer >= 1, got {points_per_epoch!r}")
        xs, ys = [], []
        for epoch in range(self.epochs):
            for k in range(points_per_epoch):
                progress = (k + 1) / points_per_epoch
                xs.append(epoch + k / points_per_epoch)
                ys.append(self.lr_at(epoch, progress if self.per_step_lr else 0.0))
        return xs, ys


def fresh_seed(seed: int) -> int:
    """The init seed of a chain's from-scratch runs for data seed ``seed``: a deterministic stream that no
    large model's init uses (large models draw from ``seed`` itself, a small integer), so a Scratch or
    control run shares no initial value with the large model it is compared with."""
    return int(hashlib.sha256(f"nbprune-fresh-init-{seed}".encode()).hexdigest()[:8], 16) | (1 << 31)


def _freeze(v):
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    return v


def thaw(v):
    """A frozen config value back in its JSON form: tuples (how a config stores lists) as lists, recursively."""
    if isinstance(v, tuple):
        return [thaw(x) for x in v]
    return v
