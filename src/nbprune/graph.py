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
from .plans import load_plan, plan_for
from .presets import Preset
from .prune import PrunePlan
from .runs import RunStore
from .train import RunConfig, thaw

MAX_STAGES = 32  # a safety bound: iterative pruning at the paper preset needs 15 stages


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
    table: str = ""  # the paper's table (or figure) the run's row belongs to; "" where it tabulates none

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
            "thread count and library versions it retrains to the same weights)")


@dataclass
class GridGraph:
    """The runs of a grid that can be named now, and the chains that wait on an unfinished large model."""

    nodes: list[Node] = field(default_factory=list)
    waiting: list[tuple[str, int]] = field(default_factory=list)  # (experiment label, seed)
    # chains whose finished large model cannot be pruned here: imported without weights and without the plan
    # this experiment needs (experiment label, seed, why)
    unplannable: list[tuple[str, int, str]] = field(default_factory=list)

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
        rows += [{"role": "(derived)", "label": label, "seed": seed, "model": "", "epochs": "", "table": "",
                  "run_id": "", "state": "waiting on its large model"} for label, seed in self.waiting]
        rows += [{"role": "(derived)", "label": label, "seed": seed, "model": "", "epochs": "", "table": "",
                  "run_id": "", "state": "blocked: large model has no weights here"}
                 for label, seed, _ in self.unplannable]
        return pd.DataFrame(rows)


def grid_graph(store: RunStore, grid: list[Experiment], preset: Preset, seeds, dataset: str = "cifar10",
               data_root=None) -> GridGraph:
    """Every run of ``grid`` x ``seeds`` nameable now: each large model (an iterative round's once the round
    before it has a finished parent), and each derived run whose parent has finished."""
    graph, seen = GridGraph(), set()

    def add(node: Node) -> None:
        if node.run_id not in seen:
            seen.add(node.run_id)
            graph.nodes.append(node)

    for exp in grid:
        for seed in seeds_of(exp, seeds):
            large = large_for(exp, preset, seed, dataset)
            if large.parent is None or store.finished(large.parent):
                add(Node(large, "large", "", seed, exp.paper_table))
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
                add(Node(cfg, variant, exp.label, seed, exp.paper_table))
    return graph
