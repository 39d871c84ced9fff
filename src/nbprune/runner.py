"""The chapter runner: one call that the notebooks and ``nbprune grid`` both make.

:func:`run_chapter` checks every parameter (one line naming a bad one, before any work), trains whatever
of the chapter's run graph is missing through an executor, stage by stage (:func:`complete_grid`), runs the
chapter's follow-up stage when it has one (chapter 4's guided pruning), reads every row back from the run
store (:func:`collect`) and writes the chapter's results file. There is one execution path: a grid is always
completed stage by stage, by a one-worker local executor in this process when nothing else is asked for,
and its rows are always read back from the store afterwards.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import report
from .atomic import StoreError, atomic_write_json, atomic_write_text
from .chapters import CHAPTERS, Chapter, get_chapter
from .data import CIFAR, IMAGE_SIZE, FolderData, ImageData, load_cifar
from .executors import LocalExecutor, make_executor
from .experiments import Experiment, paper_refs, preset_for, seeds_of
from .graph import MAX_STAGES, GridGraph, Node, grid_graph, large_for
from .log import LOGGER
from .params import slurm_options
from .pipeline import VARIANTS, Chain, derived_configs
from .plans import plan_for, plan_key
from .presets import Preset, budget_seeds, for_data, get_preset, resolve_seeds
from .progress import RunsBar
from .provenance import ProvenanceDiff, compare_provenance, describe_differences, provenance, run_provenance
from .prune import hooks_for, make_plan, method_info
from .prune.structured import stage_keep_fractions
from .prune.unstructured import stage_sparsity
from .runs import RunResult, RunStore
from .train import RunConfig, build_model, resolve_device


# ------------------------------------------------------------------------------------------ execution
def print_run(i: int, n: int, node: Node) -> None:
    """A one-line progress report per run trained in this process (the executors' ``on_run``), logged."""
    what = " ".join(x for x in (node.config.model, node.label, node.role, f"seed {node.seed}") if x)
    LOGGER.info(f"[{i + 1}/{n}] {what}")


def complete_grid(store: RunStore, grid: list[Experiment], preset: str | Preset, seeds, dataset: str = "cifar10",
                  executor=None, data_root=None, device: str = "auto", on_run=None, **run_kw) -> GridGraph:
    """Train every missing run of the grid through ``executor`` (None: one worker, in this process), stage by
    stage: the runs nameable now, then those their results make nameable, until none is missing. A local
    executor's runs advance one progress bar over the grid (:class:`nbprune.progress.RunsBar`: an ETA from the
    measured rates, over the runs named so far); Slurm's executor shows its own."""
    preset = get_preset(preset)
    executor = executor or LocalExecutor(workers=1)
    if on_run is not None:
        run_kw["on_run"] = on_run
    bar = RunsBar(store, "cuda" if str(device).startswith("cuda") else "cpu", desc="training the grid",
                  enabled=isinstance(executor, LocalExecutor))
    with bar:
        return _complete(store, grid, preset, seeds, dataset, executor, data_root, device, bar, run_kw)


def _complete(store, grid, preset: Preset, seeds, dataset, executor, data_root, device, bar, run_kw) -> GridGraph:
    if isinstance(executor, LocalExecutor):
        run_kw = {**run_kw, "on_done": bar.done}
    for _stage in range(MAX_STAGES):  # large models, derived runs, and one more per round of iterative pruning
        graph = grid_graph(store, grid, preset, seeds, dataset, data_root)
        if graph.unplannable:  # before any of the stage trains
            label, seed, why = graph.unplannable[0]
            raise StoreError(f"{len(graph.unplannable)} chain(s) of the grid cannot be pruned here; the first "
                             f"({label}, seed {seed}): {why}")
        todo = graph.missing(store)
        if not todo:
            if graph.waiting:
                raise RuntimeError(f"{len(graph.waiting)} chain(s) wait on large models that did not finish")
            return graph
        blocked = graph.blocked(store)
        if blocked:  # before any of the stage trains: these would fail only once their turn came
            raise StoreError(f"{len(blocked)} run(s) of the grid cannot train; the first: {blocked[0][1]}")
        bar.add(todo)
        executor.run(store, todo, data_root=data_root, device=device, **run_kw)
    raise RuntimeError(f"complete_grid: the grid did not converge in {MAX_STAGES} stages")


@dataclass
class ChapterResults:
    """Tidy rows (one per run) and the chains they came from."""

    rows: list[dict] = field(default_factory=list)
    chains: list[tuple[Experiment, Chain]] = field(default_factory=list)


def _metrics(res: RunResult) -> dict:
    m = res.metrics
    return {"final": m["test_acc"], "best": m["best_test_acc"], "params": m["params"], "flops": m["flops"],
            "epochs": m["epochs"], "train_flops": m["train_flops"], "wall_time_s": m["wall_time_s"],
            "run_id": res.run_id}


def _must(store: RunStore, config: RunConfig) -> RunResult:
    res = store.get(config)
    if res is None:
        raise RuntimeError(f"run {config.run_id} ({config.model}, seed {config.seed}) is not finished in {store.path}")
    return res


def collect(store: RunStore, grid: list[Experiment], preset: str | Preset, seeds, dataset: str = "cifar10",
            data_root=None, partial: bool = False) -> ChapterResults:
    """Every finished run of ``grid`` x ``seeds`` read back from the store (nothing is trained): one row per
    run (each large model once per seed), and each experiment's chain with its stored plan. A run that is not
    finished is an error, unless ``partial``: then it is left out (and a chain with any run missing gives
    rows but no chain)."""
    preset = get_preset(preset)
    out = ChapterResults()
    seen_large = set()
    must = (lambda cfg: store.get(cfg)) if partial else (lambda cfg: _must(store, cfg))
    for exp in grid:
        for seed in seeds_of(exp, seeds):
            large = must(large_for(exp, preset, seed, dataset))
            if large is None:
                continue
            p = preset_for(exp, preset)
            base = dict(model=exp.paper_model, target=exp.label, seed=seed, method=exp.method, budget=p.epochs)
            if not exp.variants:  # the large model alone: one row (of its own target, e.g. Table 10's SFP recipe)
                if (large.run_id, exp.model) not in seen_large:
                    seen_large.add((large.run_id, exp.model))
                    out.rows.append({**base, "target": exp.paper_target, "variant": "unpruned", **_metrics(large)})
                continue
            spec = dict(exp.settings)
            try:
                sp = plan_for(large, exp.method, spec, data_root, complete=False)
            except StoreError:
                if not partial:
                    raise
                # its plan needs weights this store does not have (an imported run): its children cannot have
                # been trained here either, so the large model is all there is of the chain
                if exp.previous is None and (large.run_id, exp.model) not in seen_large:
                    seen_large.add((large.run_id, exp.model))
                    out.rows.append({**base, "target": exp.large_row, "variant": "unpruned", **_metrics(large)})
                continue
            configs = derived_configs(large.config, sp.plan, {"method": exp.method, **spec}, sp.flops_large,
                                      sp.flops_pruned, p, exp.variants, exp.lr, sp.selections)
            runs = {v: must(cfg) for v, cfg in configs.items()}
            chain = Chain(large, sp.plan, sp.flops_large, sp.flops_pruned,
                          {v: r for v, r in runs.items() if r is not None}, sp.stage_sparsity)
            if len(chain.runs) == len(runs):
                out.chains.append((exp, chain))
            if exp.large_variant != "unpruned":  # e.g. the SFP-trained model before removal: a row of its target
                out.rows.append({**base, "variant": exp.large_variant, **_metrics(large)})
            elif exp.previous is None and (large.run_id, exp.model) not in seen_large:
                seen_large.add((large.run_id, exp.model))
                out.rows.append({**base, "target": exp.large_row, "variant": "unpruned", **_metrics(large)})
            for variant, res in chain.runs.items():
                out.rows.append({**base, "variant": variant, **_metrics(res)})
    return out


def run_grid(store: RunStore, grid: list[Experiment], preset: str | Preset, seeds, dataset: str = "cifar10",
             executor=None, data_root=None, device: str = "auto", on_run=None, **run_kw) -> ChapterResults:
    """Train what is missing of ``grid`` x ``seeds`` (:func:`complete_grid`), then read every row back
    (:func:`collect`). ``run_kw`` goes to :meth:`nbprune.runs.RunStore.run` (e.g. ``progress``, ``data``)."""
    complete_grid(store, grid, preset, seeds, dataset, executor, data_root, device, on_run, **run_kw)
    return collect(store, grid, preset, seeds, dataset, data_root)


def run_chain(store: RunStore, large: RunConfig, method: str, settings: dict, preset: str | Preset,
              variants=VARIANTS, lr: float | None = None, **run_kw) -> Chain:
    """Train (or read back) ``large``, prune it with ``method(**settings)`` (its plan computed once and stored),
    then train each variant, in this process: the primitives a grid's stages use, for a chain outside any
    chapter (the tests', a user's own large model)."""
    large_res = store.run(large, **run_kw)
    sp = plan_for(large_res, method, settings, run_kw.get("data_root"))
    configs = derived_configs(large, sp.plan, {"method": method, **settings}, sp.flops_large, sp.flops_pruned,
                              get_preset(preset), variants, lr, sp.selections)
    return Chain(large_res, sp.plan, sp.flops_large, sp.flops_pruned,
                 {name: store.run(cfg, **run_kw) for name, cfg in configs.items()}, sp.stage_sparsity)


def stage_patterns(chains: list[tuple[Experiment, Chain]]) -> tuple[list, list]:
    """Per one-shot chain, the pattern a guided follow-up copies, as its method registered it
    (:attr:`nbprune.prune.MethodInfo.stage_pattern`): ``"keep"``, the fraction of channels the plan keeps per
    stage (:func:`~nbprune.prune.structured.stage_keep_fractions`; Network Slimming), or ``"sparsity"``, the
    sparsity the plan's masks have per stage (:func:`~nbprune.prune.unstructured.stage_sparsity`; magnitude
    pruning). Read from the stored plans and the architecture alone (no weights)."""
    keep, sparsity = [], []
    for exp, chain in chains:
        if exp.previous is not None:
            continue
        pattern = method_info(exp.method).stage_pattern
        if pattern == "keep":
            cfg = chain.large.config
            model = build_model(cfg, cfg.classes, hooks_for(cfg))
            keep.append((exp, stage_keep_fractions(model, chain.plan)))
        elif pattern == "sparsity":
            sparsity.append((exp, chain.stage_sparsity))
    return keep, sparsity


def save_results(results: ChapterResults, chapter: str, preset: Preset, dataset: str = "cifar10",
                 root: str | os.PathLike | None = None) -> str:
    """Write a chapter's result rows (run ids and metrics, no weights) to
    ``<root>/<preset>/<chapter>-<dataset>.csv`` (root: ``$NBPRUNE_RESULTS``, else ``results``), atomically."""
    import pandas as pd

    path = results_path(chapter, preset, dataset, root)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(pd.DataFrame(results.rows).to_csv(index=False), path)
    return str(path)


def results_name(chapter: str, grid: list[Experiment], seeds, preset: Preset, dataset: str = "cifar10") -> str:
    """The name a chapter run's results are saved under: the chapter's name for a run of the preset's own grid
    and seeds (the file the book reads), else the name with a digest of the grid and seeds, e.g.
    ``predefined-run-3f2a9c1d``, so a run with other parameters never overwrites the preset's results."""
    ch = get_chapter(chapter)
    if list(seeds) == list(preset.seeds) and grid == ch.experiments(preset, None, dataset):
        return ch.name
    what = {"grid": [dataclasses.asdict(e) for e in grid], "seeds": list(seeds)}  # every field of every row
    digest = hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"{ch.name}-run-{digest}"


def not_trained(pending, runs, grid) -> int:
    """How many runs of ``grid`` (its :func:`nbprune.graph.grid_graph` ``pending``) are not trained: the missing
    runs, one per chain still waiting on its large model for runs of its own (a point where only the unpruned
    model trains, chapter 1's twice-the-longest budget, waits for nothing but that large model, already
    counted), and the chains that cannot be planned."""
    derived = {e.label for e in grid if e.variants}
    return (len(pending.missing(runs)) + sum(label in derived for label, _ in pending.waiting)
            + len(pending.unplannable))


def results_path(chapter: str, preset: str | Preset, dataset: str = "cifar10",
                 root: str | os.PathLike | None = None) -> Path:
    """Where a chapter's results file is (see :func:`save_results`)."""
    root = Path(root or os.environ.get("NBPRUNE_RESULTS") or "results")
    return root / get_preset(preset).name / f"{chapter}-{dataset}.csv"


# ------------------------------------------------------------------------------------------ figure data
def figure_data(run: RunResult, name: str, compute) -> dict:
    """What a figure plots, stored with the run it is drawn from as ``figure-<name>.json`` (an export of the
    run carries it): computed from weights the first time, read back afterwards, so a chapter re-executed
    against results without weights draws the same figure. A store that cannot be written to still gets the
    data, computed again next time."""
    path = run.dir / f"figure-{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        pass
    data = compute()
    try:
        atomic_write_json(data, path)
    except (StoreError, OSError):
        pass
    return data


def chain_weight_histograms(chain: Chain, exp: Experiment, layer: str | None = None) -> dict:
    """:func:`nbprune.report.weight_histograms` of a chain (unpruned, fine-tuned, Scratch-E), stored with its
    large model's run."""
    name = f"weights-{plan_key(exp.method, dict(exp.settings))}" + (f"-{layer}" if layer else "")
    return figure_data(chain.large, name, lambda: report.weight_histograms(report.chain_states(chain), layer))


STAGE_SPARSITY_FRACTIONS = (0.1, 0.3, 0.5, 0.7, 0.9)  # Figure 4's rows


def sparsity_heat(large: RunResult, fractions: list[float]) -> dict[str, list[float]]:
    """Per fraction (label ``"30%"``), the fraction of conv weights one-shot magnitude pruning of ``large``
    removes per stage (Figure 4's heat map), stored with the run."""
    def compute() -> dict[str, list[float]]:
        model = large.model()
        return {f"{f:.0%}": stage_sparsity(model, make_plan(model, "magnitude", fraction=f).masks) for f in fractions}

    return figure_data(large, "stage-sparsity-" + "-".join(f"{f:g}" for f in fractions), compute)


# -------------------------------------------------------------------------------------------- chapters
@dataclass
class ChapterRun:
    """A chapter after :func:`run_chapter`: its setting, its rows and chains, the paper's numbers for them."""

    chapter: Chapter
    preset: Preset
    seeds: list[int]
    dataset: str
    grid: list[Experiment]
    followups: list[Experiment]
    store: RunStore
    device: torch.device
    data: ImageData | FolderData
    results: ChapterResults
    refs: dict
    saved: str | None  # None: the grid was not trained (run_chapter's train_grid=False), its rows not saved
    seconds: float = 0.0
    curve: ChapterResults | None = None  # the budget curve's rows (chapter 1), saved apart
    curve_saved: str | None = None
    curve_missing: int = 0  # runs (and chains waiting on a large model) of the curve not trained yet

    @property
    def rows(self) -> list[dict]:
        return self.results.rows

    @property
    def chains(self) -> list[tuple[Experiment, Chain]]:
        return self.results.chains

    def frame(self):
        """The rows as a DataFrame (:func:`nbprune.report.results_frame`)."""
        return report.results_frame(self.rows)

    def tables(self, pairs=None):
        """The paper-shaped table and the paired verdicts of ``pairs`` (None: the chapter's), each comparison
        counted once and Holm-adjusted within its claim (:func:`nbprune.report.settle`)."""
        return report.chapter_tables(self.rows, self.refs, list(self.chapter.pairs if pairs is None else pairs),
                                     self.preset.margin, family=self.family)

    def family(self, row: dict) -> str:
        """The claim a stats row's comparison tests: its family for the multiplicity control."""
        return self.chapter.claim_for(row["a"], row["b"])

    def provenance(self) -> ProvenanceDiff:
        """How many of the chapter's runs were made by other code or libraries, from other data, or on another
        device or thread count than this process would make them (:func:`nbprune.provenance.compare_provenance`)."""
        ids = dict.fromkeys(r["run_id"] for r in self.rows)
        # threads are not compared: runs train in worker processes with their own thread count (see threads())
        now = {**provenance(data=self.data, device=self.device), "threads": None}
        return compare_provenance([self.store.path / i for i in ids], now)

    def threads(self) -> list[int]:
        """The torch thread counts the chapter's runs were trained with (bf16 sums depend on it: a run retrained
        with another count is not bit-identical)."""
        counts = {(run_provenance(self.store.path / r["run_id"]) or {}).get("threads") for r in self.rows}
        return sorted(c for c in counts if isinstance(c, int))

    def weight_histograms(self, index: int = 0, layer: str | None = None) -> dict:
        """The weight histograms of the ``index``-th chain (stored with its large model's run)."""
        exp, chain = self.chains[index]
        return chain_weight_histograms(chain, exp, layer)

    def stage_sparsity(self, fractions=STAGE_SPARSITY_FRACTIONS, data_root=None, train: bool = False):
        """Figure 4's heat map (:func:`sparsity_heat`) for the first seed's VGG-19 of chapter 3 (its first
        experiment's large model, trained first when missing and ``train``; None when missing otherwise)."""
        config = large_for(CHAPTERS["unstructured"].grid(self.preset)[0], self.preset, self.seeds[0], self.dataset)
        large = (self.store.run(config, data_root=data_root, device=str(self.device), progress=False) if train
                 else self.store.get(config))
        return None if large is None else sparsity_heat(large, list(fractions))

    def store_figure_data(self) -> list[str]:
        """Compute and store what the chapter's figures plot from weights (``Chapter.figures``) while the
        weights are in the store; one line for each that cannot be (weights imported away)."""
        missed = []
        for name in self.chapter.figures if self.chains else ():
            try:
                getattr(self, name)()  # each with its defaults: nothing is trained for a figure here
            except StoreError as e:
                missed.append(f"{name}: not stored ({str(e).splitlines()[0]})")
        return missed

    def box(self, extra: list[str] | None = None) -> str:
        """The run box: what this run did and how it differs from the paper (markdown), with the provenance of
        the runs it shows."""
        threads = ", ".join(map(str, self.threads())) or "?"
        line = (f"provenance of the runs shown: {describe_differences(self.provenance())}; trained with {threads} "
                "torch thread(s) per run")
        return report.run_box(self.preset, self.seeds, self.data, self.device, extra=[*(extra or []), line])


def _finished_ids(store: RunStore) -> set[str]:
    return {r for r in store.run_ids() if store.finished(r)}


def curve_points_at(ch: Chapter, preset: Preset, dataset: str, budgets, train: bool = True) -> list[Experiment]:
    """The rows of ``ch``'s budget curve at ``budgets`` (epochs; None: every point), checked: a budget the
    curve does not have, or budgets for a curve that does not train (``train`` False), is a one-line
    ValueError naming the parameter."""
    curve = ch.curve_for(preset, dataset)
    if budgets is None:
        return curve
    have = sorted({e.budget for e in curve})
    if not have:
        raise ValueError(f"curve_budgets (--budgets): {ch.name} has no budget curve on {dataset} at preset {preset.name!r}")
    if not train:
        raise ValueError("curve_budgets (--budgets): chooses which points of the curve train, so it needs train_curve "
                         "(--curve)")
    if (isinstance(budgets, (str, bytes)) or not hasattr(budgets, "__iter__") or not list(budgets)
            or any(b not in have or isinstance(b, bool) for b in budgets)):
        raise ValueError(f"curve_budgets (--budgets): must be a non-empty list of the curve's budgets "
                         f"({', '.join(map(str, have))} epochs), got {budgets!r}")
    return [e for e in curve if e.budget in set(budgets)]


def run_chapter(chapter: str | Chapter, preset: str | Preset = "cpu", value=None, *, seeds=None,
                dataset: str = "cifar10", device: str = "auto", data_root=None, store=None, executor="local",
                executor_options=None, results_root=None, progress: bool = False,
                train_curve: bool | None = None, curve_budgets=None, train_grid: bool = True) -> ChapterRun:
    """Run one chapter: check every parameter, train what is missing, read the rows back, save them.

    ``value`` is the chapter's grid parameter (``targets``, ``fractions`` or ``lrs``: see
    :attr:`nbprune.chapters.Chapter.parameter`; None: the preset's grid); the options after it are
    keyword-only. ``executor`` is ``"local"``,
    ``"slurm"`` or an executor; ``executor_options`` its options (a mapping, or its YAML/JSON text: the
    notebooks' ``slurm`` parameter). ``train_curve``: train the missing runs of the chapter's curve (None: the
    preset's ``train_curves``); otherwise its finished runs are read and the missing ones counted
    (:attr:`ChapterRun.curve_missing`). ``curve_budgets`` (epochs; None: all) are the points of the curve
    that train, the longest first within each stage; the saved curve has every finished point.
    ``train_grid=False`` (``nbprune grid --curve-only``) trains the curve alone, for more curve seeds or budgets
    without the chapter's own grid at those seeds: the grid's finished runs are read, its follow-up stage is not
    designed, and its rows are not saved (:attr:`ChapterRun.saved` is None).
    """
    t0 = time.time()
    ch = get_chapter(chapter)
    p = for_data(preset, dataset, data_root)  # ImageNet: its recipe, and the folder's classes (checked first)
    explicit = seeds is not None
    seeds = resolve_seeds(seeds, p)
    if train_curve is not None and not isinstance(train_curve, bool):
        raise ValueError(f"train_curve: must be None, True or False, got {train_curve!r}")
    grid = ch.experiments(p, value, dataset)
    curve_grid = ch.curve_for(p, dataset)
    train_curve_now = p.train_curves if train_curve is None else train_curve
    chosen = curve_points_at(ch, p, dataset, curve_budgets, train_curve_now)
    if not isinstance(train_grid, bool):
        raise ValueError(f"train_grid: must be True or False, got {train_grid!r}")
    if not train_grid and not (curve_grid and train_curve_now):
        raise ValueError(f"train_grid (--curve-only): False trains only the budget curve, but {ch.name} "
                         + ("has no budget curve" if not curve_grid else "is not training its curve (train_curve)"))
    dev = resolve_device(device)
    runs = store if isinstance(store, RunStore) else RunStore(store)
    ex = make_executor(executor, **slurm_options(executor_options or {}))
    data = (load_cifar(dataset, data_root, train_subset=p.train_subset, test_subset=p.test_subset)
            if dataset in CIFAR else FolderData(data_root, p.image_size or IMAGE_SIZE, p.train_subset, p.test_subset))
    LOGGER.info(f"{ch.name} at preset {p.name!r}: {len(grid)} pruned model(s) x {len(seeds)} seed(s); "
                f"store {runs.path}")
    kw = dict(executor=ex, data_root=data_root, device=device, on_run=print_run, progress=progress)
    had = _finished_ids(runs)
    results = (run_grid(runs, grid, p, seeds, dataset, **kw) if train_grid
               else collect(runs, grid, p, seeds, dataset, data_root, partial=True))
    follow: list[Experiment] = []
    if ch.followups is not None and train_grid:
        keep, sparsity = stage_patterns(results.chains)
        extra = {}
        if dataset != "cifar10":  # on another dataset the follow-ups may transfer the CIFAR-10 chains' patterns
            source = collect(runs, ch.grid_for(p, "cifar10"), p, seeds, "cifar10", data_root, partial=True)
            extra = dict(dataset=dataset, transfer=stage_patterns(source.chains))
        follow = ch.followups(keep, sparsity, p, value is not None, **extra)
        if follow:
            more = run_grid(runs, follow, p, seeds, dataset, **kw)
            seen = {r["run_id"] for r in results.rows}  # a large model both stages share is one row
            results.rows += [r for r in more.rows if r["variant"] != "unpruned" or r["run_id"] not in seen]
            results.chains += more.chains
    name = results_name(ch.name, grid, seeds, p, dataset)
    saved = save_results(results, name, p, dataset, results_root) if train_grid else None
    if not train_grid:
        LOGGER.info(f"curve only: {len(results.rows)} finished run(s) of the chapter's grid read, none trained, "
                    "its rows not saved")
    elif name != ch.name:
        LOGGER.info(f"results -> {saved}: this run's grid or seeds are not the preset's, so the preset's own "
                    f"{results_path(ch.name, p, dataset, results_root).name} (the one the book reads) is left as it is")
    curve, curve_saved = None, None
    curve_missing = 0
    if curve_grid:
        curve_seeds = budget_seeds(p, seeds, explicit)
        if train_curve_now and chosen == curve_grid:
            curve = run_grid(runs, curve_grid, p, curve_seeds, dataset, **kw)
        else:
            if train_curve_now:
                complete_grid(runs, chosen, p, curve_seeds, dataset, **kw)
            curve = collect(runs, curve_grid, p, curve_seeds, dataset, data_root, partial=True)
            pending = grid_graph(runs, curve_grid, p, curve_seeds, dataset, data_root)
            curve_missing = not_trained(pending, runs, curve_grid)
            if curve_missing:
                LOGGER.info(f"curve: {len(curve.rows)} finished run(s) read; {curve_missing} run(s) or chain(s) not "
                            f"trained (train them with nbprune grid {ch.name} --preset {p.name} --curve)")
        if curve.rows:
            curve_saved = save_results(curve, name.replace(ch.name, f"{ch.name}-budget", 1), p, dataset,
                                       results_root)
    used = {r["run_id"] for r in results.rows + (curve.rows if curve else [])}
    trained = len(used - had)
    LOGGER.info(f"{len(used)} runs: " + (f"{trained} trained now, {len(used) - trained} read from the store"
                                         if trained else "all read from the store, nothing trained"))
    run = ChapterRun(ch, p, seeds, dataset, grid, follow, runs, dev, data, results, paper_refs(grid, dataset), saved,
                     time.time() - t0, curve, curve_saved, curve_missing)
    for line in run.store_figure_data():
        LOGGER.info(f"figure data {line}")
    return run
