"""Each chapter's experiments at each preset, and running them through the run store.

An :class:`Experiment` is one row of a paper table: a base model, a pruning method with its settings, the
variants to train from it, and where the paper's numbers for that row are. ``chapter_grid(chapter,
preset)`` lists a chapter's experiments; the ``paper`` preset has the paper's CIFAR grid, ``quick`` a
representative part of it that fits an hour on a 2-core CPU, ``smoke`` the smallest thing that runs every
code path. Notebooks may pass their own list instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .pipeline import Chain, large_config, prune_chain
from .presets import get_preset
from .runs import RunStore

CHAPTERS = ("predefined", "automatic", "unstructured", "architecture_search", "lottery_ticket")
BN_SPARSITY = {"vgg": 1e-4, "preresnet": 1e-5, "densenet": 1e-5}  # Network Slimming's s per family
PAPER_NAMES = {"vgg16": "VGG-16", "vgg19": "VGG-19", "resnet56": "ResNet-56", "resnet110": "ResNet-110",
               "preresnet164": "PreResNet-164", "preresnet110": "PreResNet-110", "densenet40": "DenseNet-40",
               "resnet20": "ResNet-20", "resnet32": "ResNet-32"}


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

    @property
    def paper_model(self) -> str:
        return PAPER_NAMES.get(self.model, self.model)


def experiment(label: str, model: str, method: str, settings: dict, **kw) -> Experiment:
    return Experiment(label, model, method, tuple(sorted(settings.items())), **kw)


def _sparse(model: str) -> tuple:
    family = "preresnet" if model.startswith("preresnet") else "densenet" if model.startswith("densenet") else "vgg"
    return (("bn_sparsity", BN_SPARSITY[family]),)


def _l1(target: str, model: str, **kw) -> Experiment:
    return experiment(target.upper().replace("VGG16", "VGG-16").replace("RESNET", "ResNet-"), model, "l1",
                      {"target": target}, paper_table="1", paper_target=_paper_target(target), **kw)


def _paper_target(target: str) -> str:
    name = {"vgg16-a": "VGG-16-A", "resnet56-a": "ResNet-56-A", "resnet56-b": "ResNet-56-B",
            "resnet110-a": "ResNet-110-A", "resnet110-b": "ResNet-110-B"}
    return name[target]


def _slim(model: str, fraction: float, **kw) -> Experiment:
    return experiment(f"{fraction:.0%}", model, "slimming", {"fraction": fraction}, large=_sparse(model),
                      paper_table="4", paper_target=f"{fraction:.0%}", **kw)


def _magnitude(model: str, fraction: float, **kw) -> Experiment:
    return experiment(f"{fraction:.0%}", model, "magnitude", {"fraction": fraction}, paper_table="6",
                      paper_target=f"{fraction:.0%}", **kw)


def chapter_grid(chapter: str, preset) -> list[Experiment]:
    """The experiments of ``chapter`` at ``preset``."""
    p = get_preset(preset).name
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter: unknown {chapter!r}; allowed: {', '.join(CHAPTERS)}")
    if chapter == "predefined":
        if p == "paper":
            return [_l1(t, t.split("-")[0]) for t in ("vgg16-a", "resnet56-a", "resnet56-b", "resnet110-a", "resnet110-b")]
        return [_l1("vgg16-a", "vgg16")]
    if chapter == "automatic":
        if p == "paper":
            return [_slim("vgg19", 0.7), _slim("preresnet164", 0.4), _slim("preresnet164", 0.6),
                    _slim("densenet40", 0.4), _slim("densenet40", 0.6)]
        return [_slim("vgg19", 0.7)]
    if chapter == "unstructured":
        if p == "paper":
            return [_magnitude(m, f) for m in ("vgg19", "preresnet110") for f in (0.3, 0.8, 0.95)]
        return [_magnitude("vgg19", 0.3)]
    if chapter == "architecture_search":
        # Figure 3 (left): Network Slimming's architectures vs uniformly pruned channels, all Scratch-E
        return search_grid([0.4, 0.5, 0.6, 0.7] if p == "quick" else [0.4, 0.7] if p == "smoke"
                           else [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    # lottery_ticket: Table 8 (structured, L1-norm) and Table 9 (unstructured one-shot), lr 0.1 (and 0.01 on paper)
    lrs = (0.1, 0.01) if p == "paper" else (0.1,)
    grid = []
    for lr in lrs:
        tag = "" if lr == 0.1 else f" (lr {lr:g})"  # rows of another lr are other rows of the tables
        targets = ("vgg16-a",) if p != "paper" else ("vgg16-a", "resnet56-a", "resnet56-b", "resnet110-a", "resnet110-b")
        for t in targets:
            grid.append(experiment(_paper_target(t) + tag, t.split("-")[0], "l1", {"target": t},
                                   variants=("winning-ticket", "random-init"), lr=lr, paper_table="8a" if lr == 0.1 else "8b",
                                   paper_target=_paper_target(t), large=(("lr", lr),) if lr != 0.1 else ()))
        fractions = (0.2,) if p != "paper" else (0.2, 0.4, 0.6, 0.8, 0.95)
        for f in fractions:
            grid.append(experiment(f"{f:.0%}{tag}", "vgg16", "magnitude", {"fraction": f},
                                   variants=("winning-ticket", "random-init"),
                                   lr=lr, paper_table="9a" if lr == 0.1 else "9b", paper_target=f"{f:.0%}",
                                   large=(("lr", lr),) if lr != 0.1 else ()))
    return grid


def _large_for(exp: Experiment, preset, seed: int, dataset: str = "cifar10"):
    """The large model's config of ``exp`` for ``seed``."""
    return large_config(preset, exp.model, seed, dataset, **dict(exp.large))


def run_experiment(store: RunStore, exp: Experiment, preset, seed: int, dataset: str = "cifar10",
                   **run_kw) -> Chain:
    """Train (or read back) one experiment's chain for one seed."""
    large = _large_for(exp, preset, seed, dataset)
    return prune_chain(store, large, exp.method, dict(exp.settings), preset, exp.variants, exp.lr, **run_kw)


@dataclass
class ChapterResults:
    """Tidy rows (one per run) and the chains they came from."""

    rows: list[dict] = field(default_factory=list)
    chains: list[tuple[Experiment, Chain]] = field(default_factory=list)


def run_grid(store: RunStore, grid: list[Experiment], preset, seeds, dataset: str = "cifar10",
             on_job=None, executor=None, **run_kw) -> ChapterResults:
    """Run every experiment of ``grid`` for every seed; one row per run (the large model once per seed).

    ``on_job(i, n, experiment, seed)`` is called before each chain (for progress displays). ``executor``
    (see :mod:`nbprune.executors`): None or a one-worker local executor trains here, chain by chain; a
    parallel local executor or a Slurm executor first trains every missing run, stage by stage (several runs
    at once), and this function then only reads them.
    """
    if executor is not None and getattr(executor, "parallel", True):
        from .executors import complete_grid

        complete_grid(store, grid, preset, seeds, dataset, executor, data_root=run_kw.get("data_root"),
                      device=run_kw.get("device", "auto"))
    out = ChapterResults()
    seen_large = set()
    jobs = [(exp, seed) for exp in grid for seed in seeds]
    for i, (exp, seed) in enumerate(jobs):
        if on_job is not None:
            on_job(i, len(jobs), exp, seed)
        chain = run_experiment(store, exp, preset, seed, dataset, **run_kw)
        out.chains.append((exp, chain))
        base = dict(model=exp.paper_model, target=exp.label, seed=seed, method=exp.method)
        if (chain.large.run_id, exp.model) not in seen_large:
            seen_large.add((chain.large.run_id, exp.model))
            out.rows.append({**base, "target": "", "variant": "unpruned", **_metrics(chain.large)})
        for variant, res in chain.runs.items():
            out.rows.append({**base, "variant": variant, **_metrics(res)})
    return out


def _metrics(res) -> dict:
    m = res.metrics
    return {"final": m["test_acc"], "best": m["best_test_acc"], "params": m["params"], "flops": m["flops"],
            "epochs": m["epochs"], "train_flops": m["train_flops"], "wall_time_s": m["wall_time_s"],
            "run_id": res.run_id}


def paper_refs(grid: list[Experiment], dataset: str = "cifar10") -> dict[tuple[str, str, str], tuple[float, float]]:
    """The paper's (mean, std) for every (model, row label, variant) of ``grid`` that the paper reports,
    the unpruned model included (under an empty label)."""
    from .report import paper_value

    refs = {}
    for exp in grid:
        if not exp.paper_table:
            continue
        variants = ("unpruned", *exp.variants)
        for v in variants:
            target = "" if v == "unpruned" else exp.paper_target
            ref = paper_value(exp.paper_table, dataset, exp.paper_model, target, v, note=exp.paper_note)
            if ref is not None:
                refs.setdefault((exp.paper_model, "" if v == "unpruned" else exp.label, v), ref)
    return refs


def l1_grid(targets: list[str]) -> list[Experiment]:
    """L1-norm experiments for named targets (chapter 1's ``targets`` parameter)."""
    from .models import list_targets

    allowed = [t for t in list_targets() if t.startswith(("vgg16-", "resnet56-", "resnet110-"))]
    if isinstance(targets, str) or not isinstance(targets, (list, tuple)) or not targets:
        raise ValueError(f"targets: must be None or a non-empty list of L1-norm targets ({', '.join(allowed)}), "
                         f"got {targets!r}")
    for t in targets:
        if t not in allowed:
            import difflib

            close = difflib.get_close_matches(str(t), allowed, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ValueError(f"targets: unknown {t!r}{hint} allowed: {', '.join(allowed)}")
    return [_l1(t, t.split("-")[0]) for t in targets]


def save_results(results: ChapterResults, chapter: str, preset, dataset: str = "cifar10",
                 root: str | None = None) -> str:
    """Write a chapter's result rows (configs' ids and metrics, no weights) to
    ``results/<preset>/<chapter>-<dataset>.csv`` so the book's numbers are versioned with the code."""
    import os
    from pathlib import Path

    import pandas as pd

    out = Path(root or os.environ.get("NBPRUNE_RESULTS") or "results") / get_preset(preset).name
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{chapter}-{dataset}.csv"
    tmp = path.with_suffix(".tmp")
    pd.DataFrame(results.rows).to_csv(tmp, index=False)
    os.replace(tmp, path)
    return str(path)


def print_job(i: int, n: int, exp: Experiment, seed: int) -> None:
    """A one-line progress report per chain (the ``on_job`` of :func:`run_grid` in the notebooks)."""
    what = exp.label if exp.method in exp.label else f"{exp.method} {exp.label}"
    print(f"[{i + 1}/{n}] {exp.model} -> {what}, seed {seed}", flush=True)


def slimming_grid(fractions: dict[str, list[float]]) -> list[Experiment]:
    """Network Slimming experiments from ``{model: [fraction, ...]}`` (chapter 2's ``fractions`` parameter)."""
    allowed = ("vgg11", "vgg13", "vgg16", "vgg19", "preresnet110", "preresnet164", "densenet40", "densenet-bc-100")
    if not isinstance(fractions, dict) or not fractions:
        raise ValueError(f"fractions: must be None or a mapping model -> list of fractions, got {fractions!r}")
    out = []
    for model, fs in fractions.items():
        if model not in allowed:
            raise ValueError(f"fractions: model {model!r} is not one slimming prunes; allowed: {', '.join(allowed)}")
        for f in fs:
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
                raise ValueError(f"fractions: {f!r} for {model} must be a number in (0, 1)")
            out.append(_slim(model, float(f)))
    return out


def magnitude_grid(fractions: dict[str, list[float]]) -> list[Experiment]:
    """Magnitude-pruning experiments from ``{model: [fraction, ...]}`` (chapter 3's ``fractions`` parameter)."""
    from .models import list_models

    if not isinstance(fractions, dict) or not fractions:
        raise ValueError(f"fractions: must be None or a mapping model -> list of fractions, got {fractions!r}")
    out = []
    for model, fs in fractions.items():
        if model not in list_models() or model.startswith("imagenet"):
            raise ValueError(f"fractions: unknown CIFAR model {model!r}")
        for f in fs:
            if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
                raise ValueError(f"fractions: {f!r} for {model} must be a number in (0, 1)")
            out.append(_magnitude(model, float(f)))
    return out


def search_grid(fractions: list[float]) -> list[Experiment]:
    """Chapter 4's slimming-vs-uniform experiments at the given channel fractions (VGG-19, Scratch-E)."""
    if isinstance(fractions, (str, dict)) or not isinstance(fractions, (list, tuple)) or not fractions:
        raise ValueError(f"fractions: must be None or a non-empty list of fractions in (0, 1), got {fractions!r}")
    out = []
    for f in fractions:
        if isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 < f < 1:
            raise ValueError(f"fractions: {f!r} must be a number in (0, 1)")
        out.append(experiment(f"slimming {f:.0%}", "vgg19", "slimming", {"fraction": float(f)},
                              variants=("scratch-e",), large=_sparse("vgg19")))
        out.append(experiment(f"uniform {f:.0%}", "vgg19", "uniform-channels", {"fraction": float(f)},
                              variants=("scratch-e",), large=_sparse("vgg19")))
    return out


def guided_grid(chains, model: str = "vgg19") -> list[Experiment]:
    """Chapter 4's guided pruning (Figure 6): for each Network Slimming fraction among ``chains`` (the
    ``(experiment, chain)`` pairs of a finished :func:`run_grid`), the per-stage fractions of channels its
    pruned architectures keep, averaged over seeds (3 decimals), define a new architecture of ``model``
    that keeps that fraction in every layer of the stage; it is trained from scratch (Scratch-E)."""
    from .prune.structured import stage_keep_fractions

    by_fraction: dict[float, list[list[float]]] = {}
    for exp, chain in chains:
        if exp.method == "slimming":
            keep = stage_keep_fractions(chain.large.model(), chain.plan)
            by_fraction.setdefault(dict(exp.settings)["fraction"], []).append(keep)
    out = []
    for fraction, keeps in by_fraction.items():
        mean = tuple(round(sum(k[i] for k in keeps) / len(keeps), 3) for i in range(len(keeps[0])))
        out.append(experiment(f"guided {fraction:.0%}", model, "guided-channels", {"stage_keep": mean},
                              variants=("scratch-e",), large=_sparse(model)))
    return out


def lottery_grid(preset, lrs: list[float] | None = None) -> list[Experiment]:
    """Chapter 5's experiments at ``preset``, at the preset's learning rates or the given ones."""
    grid = chapter_grid("lottery_ticket", preset)
    if lrs is None:
        return grid
    if isinstance(lrs, (str, dict)) or not isinstance(lrs, (list, tuple)) or not lrs:
        raise ValueError(f"lrs: must be None or a non-empty list of learning rates, got {lrs!r}")
    for lr in lrs:
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr <= 1:
            raise ValueError(f"lrs: {lr!r} must be a number in (0, 1]")
    base = [e for e in grid if e.lr == 0.1]
    out = []
    for lr in lrs:
        table = {"8a": "8a" if lr == 0.1 else "8b" if lr == 0.01 else "",
                 "9a": "9a" if lr == 0.1 else "9b" if lr == 0.01 else ""}
        for e in base:
            from dataclasses import replace

            out.append(replace(e, lr=float(lr), paper_table=table[e.paper_table],
                               label=e.label if lr == 0.1 else f"{e.label} (lr {lr:g})",
                               large=(("lr", float(lr)),) if lr != 0.1 else ()))
    return out
