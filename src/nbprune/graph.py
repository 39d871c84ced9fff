"""The run graph of a grid: every run's config, named from its experiment, its seed and its parent's stored plan.

A large model's config follows from the preset alone (:func:`large_for`); a derived run's config needs its
parent's pruning plan (a slimmed architecture depends on trained weights), so the graph names derived runs
once their parent has finished, from the plan :func:`nbprune.plans.plan_for` computes once and stores
beside the parent. :func:`grid_graph` lists the runs nameable now; the chapter runner trains the missing
ones stage by stage (:func:`nbprune.runner.complete_grid`) until the graph is complete. Projections of a
grid's cost (:func:`nbprune.projection.project_grid`) need no training at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .atomic import StoreError
from .experiments import Experiment, preset_for, seeds_of
from .pipeline import derived_configs, large_config
from .plans import compute_plan, load_plan, plan_for
from .presets import Preset
from .prune import PrunePlan, hooks_for, method_info
from .runs import RunStore
from .train import RunConfig, build_model, thaw

MAX_STAGES = 32  # a safety bound: iterative pruning at the paper preset needs 15 stages
# methods registered data-driven whose pruned sizes still follow from their settings alone (SFP's fraction of
# every conv's filters, guided pruning's per-stage fractions): their derived runs can be planned before training
SIZED_BY_SETTINGS = ("sfp", "guided-channels")
PLANNED = "planned: waits on its large model"  # the state of a derived run planned before its parent has trained


def large_for(exp: Experiment, preset: Preset, seed: int, dataset: str = "cifar10") -> RunConfig:
    """The config of the model ``exp`` prunes, for ``seed``: the large model, or (iterative pruning) the
    previous round's winning ticket. An unstructured ticket's config does not depend on its plan's result,
    so every round is nameable before anything has trained. With ``exp.pretrained`` the large model starts from
    the final weights of the unpruned model of those overrides (Table 11: SFP from a pretrained model)."""
    if exp.previous is None and exp.pretrained:
        base = large_config(preset_for(exp, preset), exp.model, seed, dataset, **dict(exp.pretrained))
        return large_config(preset_for(exp, preset), exp.model, seed, dataset, **dict(exp.large),
                            parent=base.run_id, init="parent")
    if exp.previous is None:
        return large_config(preset_for(exp, preset), exp.model, seed, dataset, **dict(exp.large))
    prev = exp.previous
    parent = large_for(prev, preset, seed, dataset)
    plan = PrunePlan(method=prev.method, arch=parent.model, cfg=None)  # unstructured: masks only
    return derived_configs(parent, plan, {"method": prev.method, **dict(prev.settings)}, 1, 1, preset,
                           ("winning-ticket",), prev.lr)["winning-ticket"]


def variant_configs(parent, exp: Experiment, preset: Preset, data_root=None) -> dict[str, RunConfig]:
    """The config of every variant of ``exp`` derived from the finished run ``parent`` (by its stored plan)."""
    if not exp.variants:  # the large model alone (a budget curve's doubled reference)
        return {}
    preset = preset_for(exp, preset)
    spec = dict(exp.settings)
    sp = plan_for(parent, exp.method, spec, data_root, complete=False)
    return derived_configs(parent.config, sp.plan, {"method": exp.method, **spec}, sp.flops_large, sp.flops_pruned,
                           preset, exp.variants, exp.lr, sp.selections)


# ------------------------------------------------------------------------------------------------- graph
@dataclass(frozen=True)
class Node:
    """One run of a chapter's graph."""

    config: RunConfig
    role: str  # "large" or a variant ("fine-tuned", "scratch-e", ...)
    label: str  # the experiment's row label (empty for a large model)
    seed: int
    table: str = ""  # where the run's row is in the paper ("Table 1", "Figure 7a": Experiment.source); "" nowhere

    @property
    def run_id(self) -> str:
        return self.config.run_id


def run_state(store: RunStore, config: RunConfig) -> str:
    """finished | failed | running | missing."""
    d = store.run_dir(config)
    metrics = store.record(config.run_id, "metrics")
    if metrics and metrics.get("status") == "finished":
        return "finished"
    if metrics and metrics.get("status") == "failed":
        return "failed"
    if (d / "lock").exists():
        return "running"
    return "missing"


def _state(store: RunStore, config: RunConfig) -> str:
    """run_state, with "missing" split: a run whose parent has no weights here is "blocked: parent has no weights"."""
    state = run_state(store, config)
    if state == "missing" and weights_missing(store, config) is not None:
        return "blocked: parent has no weights"
    return state


def weights_missing(store: RunStore, config: RunConfig) -> str | None:
    """Why the derived run ``config`` cannot train here, in one line, or None when it can.

    A run imported from a results export has no weights (``final.pt``, ``init.pt``) and no full pruning plan
    (only its JSON summary): a child that prunes it needs the plan, which comes from the final weights unless
    it is stored, and a child that starts from its weights (fine-tuning, a ticket, a rewound ticket) needs
    those. Such a child cannot train until its parent is trained again; this says so before any training.
    """
    if config.parent is None:
        return None
    d = store.path / config.parent
    have = {name: (d / name).exists() for name in ("final.pt", "init.pt")}
    need = []
    if config.prune:
        settings = dict(config.prune)
        method = settings.pop("method")
        if not have["final.pt"] and load_plan(d, method, {k: thaw(v) for k, v in settings.items()}) is None:
            need.append("final.pt (for its pruning plan)")
    if config.init == "parent" and not have["final.pt"]:
        need.append("final.pt")
    elif config.init == "parent-init" and not have["init.pt"]:
        need.append("init.pt")
    elif config.init == "parent-rewind" and not (d / f"rewind-{config.rewind_step}.pt").exists() \
            and not have["init.pt"]:
        need.append(f"rewind-{config.rewind_step}.pt (or init.pt to replay it)")
    if not need:
        return None
    how = "imported without weights" if (d / "imported.json").exists() else "without them"
    return (f"run {config.run_id} needs {', '.join(dict.fromkeys(need))} of its parent {config.parent}, which is "
            f"in the store {how}: train the parent again first (move {d} out of the store; on the same device, "
            "thread count, library versions and kernels it retrains to the same weights: nbprune.precision says "
            "how to replay a run made on another CPU)")


@dataclass
class GridGraph:
    """The runs of a grid that can be named now, and the chains that wait on an unfinished large model."""

    nodes: list[Node] = field(default_factory=list)
    waiting: list[tuple[str, int]] = field(default_factory=list)  # (experiment label, seed)
    # chains whose finished large model cannot be pruned here: imported without weights and without the plan
    # this experiment needs (experiment label, seed, why)
    unplannable: list[tuple[str, int, str]] = field(default_factory=list)
    # derived runs of waiting chains whose plan does not depend on trained weights (:func:`plan_ahead`): their
    # variant, model and epochs are known before the large model trains; never trained from here (no run id)
    planned: list[Node] = field(default_factory=list)
    waiting_tables: dict[str, str] = field(default_factory=dict)  # a waiting chain's label -> its paper source

    def states(self, store: RunStore) -> dict[str, str]:
        """run id -> finished | running | failed | missing."""
        return {n.run_id: run_state(store, n.config) for n in self.nodes}

    def blocked(self, store: RunStore) -> list[tuple[Node, str]]:
        """Missing derived runs that cannot train because their parent has no weights here, with the reason."""
        out = []
        for n in self.missing(store):
            why = weights_missing(store, n.config)
            if why is not None:
                out.append((n, why))
        return out

    def missing(self, store: RunStore) -> list[Node]:
        """Nodes not finished in the store, in graph order."""
        return [n for n in self.nodes if run_state(store, n.config) != "finished"]

    def summary(self, store: RunStore):
        """One row per run: role, label, seed, run id, state (a pandas DataFrame), plus waiting chains."""
        import pandas as pd

        rows = [{"role": n.role, "label": n.label, "seed": n.seed, "model": n.config.model, "epochs": n.config.epochs,
                 "table": n.table, "run_id": n.run_id, "state": _state(store, n.config)} for n in self.nodes]
        planned = {(n.label, n.seed) for n in self.planned}
        rows += [{"role": n.role, "label": n.label, "seed": n.seed, "model": n.config.model, "epochs": n.config.epochs,
                  "table": n.table, "run_id": "", "state": PLANNED} for n in self.planned]
        rows += [{"role": "(derived)", "label": label, "seed": seed, "model": "", "epochs": "", "table": table,
                  "run_id": "", "state": "waiting on its large model"} for label, seed, table in self._waiting_rows()
                 if (label, seed) not in planned]
        rows += [{"role": "(derived)", "label": label, "seed": seed, "model": "", "epochs": "", "table": "",
                  "run_id": "", "state": "blocked: large model has no weights here"}
                 for label, seed, _ in self.unplannable]
        return pd.DataFrame(rows)

    def _waiting_rows(self) -> list[tuple[str, int, str]]:
        """The waiting chains as (label, seed, the paper's table or figure of the row)."""
        return [(label, seed, self.waiting_tables.get(label, "")) for label, seed in self.waiting]


def grid_graph(store: RunStore, grid: list[Experiment], preset: Preset, seeds, dataset: str = "cifar10",
               data_root=None, plan_waiting: bool = False) -> GridGraph:
    """Every run of ``grid`` x ``seeds`` nameable now: each large model (an iterative round's once the round
    before it has a finished parent), and each derived run whose parent has finished. ``plan_waiting``: also
    list, in :attr:`GridGraph.planned`, the derived runs of the waiting chains that :func:`plan_ahead` can plan
    (what ``nbprune grid --status`` shows before a GPU spends anything)."""
    graph, seen = GridGraph(), set()

    def add(node: Node) -> None:
        if node.run_id not in seen:
            seen.add(node.run_id)
            graph.nodes.append(node)

    for exp in grid:
        for seed in seeds_of(exp, seeds):
            large = large_for(exp, preset, seed, dataset)
            if large.parent is None or store.finished(large.parent):
                add(Node(large, "large", "", seed, exp.source))
    for exp in grid:
        for seed in seeds_of(exp, seeds):
            res = store.get(large_for(exp, preset, seed, dataset))
            if res is None:
                graph.waiting.append((exp.label, seed))
                continue
            try:
                configs = variant_configs(res, exp, preset, data_root)
            except StoreError as e:
                graph.unplannable.append((exp.label, seed, str(e).splitlines()[0]))
                continue
            for variant, cfg in configs.items():
                add(Node(cfg, variant, exp.label, seed, exp.source))
    for exp in grid:
        graph.waiting_tables.setdefault(exp.label, exp.source)
    if plan_waiting:
        waiting, plans = {(label, seed) for label, seed in graph.waiting}, {}
        for exp in grid:
            seeds_waiting = [s for s in seeds_of(exp, seeds) if (exp.label, s) in waiting]
            if seeds_waiting:
                graph.planned += plan_ahead(exp, preset, seeds_waiting, dataset, plans)
    return graph


def plan_ahead(exp: Experiment, preset: Preset, seeds, dataset: str = "cifar10", plans: dict | None = None) -> list[Node]:
    """The derived runs of ``exp`` for ``seeds``, planned before its large model has trained, where the plan does
    not depend on trained weights: the method is not data-driven (L1-norm targets and ratios, magnitude and
    uniform widths or sparsity) or its sizes follow from its settings (:data:`SIZED_BY_SETTINGS`). The large
    model is pruned at its random init (as :func:`project_grid`); empty for any other method. ``plans``: a dict
    the plans are kept in across calls, by architecture and settings (rows sharing a pruned model plan it once)."""
    if not exp.variants or (method_info(exp.method).data_driven and exp.method not in SIZED_BY_SETTINGS):
        return []
    plans = {} if plans is None else plans
    first = large_for(exp, preset, seeds[0], dataset)
    key = (first.model, first.cfg, first.width, first.model_kwargs, first.dataset, first.sfp_convs, exp.method,
           exp.settings)
    if key not in plans:
        model = build_model(first, first.classes, hooks_for(first)).eval()
        plans[key] = compute_plan(model, exp.method, dict(exp.settings))  # no data-sampling method gets here
    sp = plans[key]
    out = []
    for seed in seeds:
        large = large_for(exp, preset, seed, dataset)
        configs = derived_configs(large, sp.plan, {"method": exp.method, **dict(exp.settings)}, sp.flops_large,
                                  sp.flops_pruned, preset_for(exp, preset), exp.variants, exp.lr)
        out += [Node(cfg, variant, exp.label, seed, exp.source) for variant, cfg in configs.items()]
    return out
