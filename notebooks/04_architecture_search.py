# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python (nbprune .venv)
#     language: python
#     name: nbprune
# ---

# %% [markdown]
# # 4. Pruning as architecture search
#
# *Section 5 of the paper; Figures 3–6, Table 7, and Tables 18 and 21 of its appendix.*
#
# If the inherited weights do not matter for structured pruning, what does pruning contribute? The paper's
# answer: the architecture. An automatic method such as Network Slimming decides how many channels every layer
# keeps, and that decision can be better than a human's.
#
# To isolate it, the authors train everything from scratch and compare, at equal parameter count, the
# architectures found by pruning with **uniformly** pruned ones (the same fraction of channels, or of weights,
# removed from every layer). On VGG the pruned architectures win clearly: Network Slimming reaches the accuracy of
# uniform pruning with about 5 times fewer parameters (Figure 3), and the widths it finds are remarkably
# consistent from run to run (Table 7): the early layers stay almost intact while the last convolutions of VGG-16
# shrink to a fraction of their 512 channels.
#
# This does not hold everywhere. For ResNets and DenseNets the pruned architectures are close to uniform (Tables
# 18–20) and perform no better than uniform pruning (Figure 5). Where they do help, their pattern can be reused:
# averaging the per-stage widths ("guided pruning") gives architectures as good as the pruned ones, and patterns
# taken from VGG-16 on CIFAR-10 still help VGG-19 on CIFAR-100 (Figure 6), without training a large model at all.

# %% tags=["parameters"]
preset = "quick"  # smoke | quick | paper: how much of the paper's protocol to run (see the appendix)
dataset = "cifar10"  # cifar10 | cifar100
fractions = None  # None: the preset's channel fractions (40, 50, 60, 70% on quick); else a list, e.g. [0.2, 0.5, 0.8]
seeds = None  # None: the preset's seeds; else a list of ints
device = "auto"  # auto (CUDA when available, else CPU) | cpu | cuda[:N]
data_root = None  # None: $NBPRUNE_DATA, else torchvision's download
store = None  # run store directory; None: $NBPRUNE_STORE, else ./store
executor = "local"  # local | slurm: where missing runs are trained (appendix: running on a cluster)
slurm = {}  # options of the slurm executor: partition, gpus, cpus, mem_gb, time_min, max_jobs, folder

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from nbprune import grids, report
from nbprune.data import load_cifar
from nbprune.presets import get_preset, resolve_seeds
from nbprune.executors import make_executor
from nbprune.runs import RunStore
from nbprune.train import resolve_device

# Check every parameter before any work: a typo fails here with one line naming it.
P = get_preset(preset)
seeds = resolve_seeds(seeds, P)
grid = grids.chapter_grid("architecture_search", P) if fractions is None else grids.search_grid(fractions)
dev = resolve_device(device)
runs = RunStore(store)
ex = make_executor(executor, **slurm)
data = load_cifar(dataset, data_root, train_subset=P.train_subset, test_subset=P.test_subset)
print(f"preset {P.name!r}: {len(grid)} pruned model(s) x {len(seeds)} seed(s); store {runs.path}")

# %% [markdown]
# ## This run

# %%
display(Markdown(report.run_box(P, seeds, data, dev)))

# %% [markdown]
# ## The architecture at the paper's width
#
# Section 5's CIFAR experiments prune VGG-19 (Network Slimming) and compare with uniform pruning. The table
# does not depend on the preset, so `make test` checks it.

# %%
# NBVAL_CHECK_OUTPUT
print(report.architecture_table(["vgg16", "vgg19"]).to_string())

# %% [markdown]
# ## The paper's numbers
#
# Table 7: the widths Network Slimming keeps in VGG-16 at 60% (mean ± std over 5 runs); Table 18: per-stage
# kept ratios of slimming on VGG-19. Figures 3-6 are plots; their curves are not in the paper as numbers.

# %%
display(report.paper_wide("7", "18"))

# %% [markdown]
# ## Pruned architectures vs uniformly pruned ones, all trained from scratch (Figure 3, left)
#
# For each fraction of channels: Network Slimming's architecture (found on a sparsity-trained large model, one
# per seed) and the uniform architecture (the same fraction removed from every layer) are both trained from
# scratch for as many epochs as the large model (Scratch-E). The paper finds the slimmed architectures
# more accurate at the same parameter count on VGG.
#
# A third architecture per fraction is *guided pruning* (Section 5, Figure 6): the fraction of channels the
# slimmed architectures keep in each stage (layers of equal feature-map size), averaged over the seeds, is
# kept in every layer of that stage. The paper finds such guided architectures about as good as the pruned
# ones, both better than uniform pruning: the value is in the per-stage pattern, not in the exact widths.

# %%
results = grids.run_grid(runs, grid, P, seeds, dataset, on_job=grids.print_job, executor=ex,
                         data_root=data_root, device=device, progress=False)
# Guided pruning (Figure 6): the slimmed architectures' mean per-stage widths (over seeds) define new ones
guided = grids.guided_grid(results.chains)
guided_results = grids.run_grid(runs, guided, P, seeds, dataset, on_job=grids.print_job, executor=ex,
                                data_root=data_root, device=device, progress=False)
results.rows += [r for r in guided_results.rows if r["variant"] != "unpruned"]
results.chains += guided_results.chains
saved = grids.save_results(results, "architecture_search", P, dataset)
df = report.results_frame(results.rows)
points = df[df["variant"] == "scratch-e"].assign(curve=lambda d: d["method"].map(
    {"slimming": "Network Slimming architecture", "uniform-channels": "uniform channel pruning",
     "guided-channels": "guided pruning (slimming's mean stage widths)"}))
summary = points.groupby(["curve", "target"], sort=False).agg(
    params=("params", "mean"), seeds=("seed", "count"), final=("final", report.mean_std), best=("best", report.mean_std))
display(summary)

# %%
report.params_curve_figure(points, f"Scratch-E accuracy vs parameters, VGG-19 ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## Are the slimmed and guided architectures better at the same fraction? Paired by seed
#
# At the same fraction of channels removed, the differences per seed: slimming's architecture minus the
# uniform one, the guided one minus the uniform one, and guided minus slimming (the slimmed one usually keeps
# *more* parameters at the same channel fraction, because it thins the wide late layers; the curve above
# compares at equal parameters).

# %%
display(report.search_pairs(df).set_index(["channels pruned", "comparison"]))

# %% [markdown]
# ## The widths Network Slimming keeps (Table 7 style)

# %%
display(report.widths_table([(e, c) for e, c in results.chains if e.method == "slimming"]))

# %% [markdown]
# ## Where unstructured pruning removes weights (Figure 4)
#
# Global magnitude pruning of the first seed's unpruned VGG-19 (the large model of chapter 3) at increasing
# overall fractions: the fraction of weights removed in each stage. The paper finds a consistent pattern: later
# stages, whose layers are wider and more redundant, are pruned much harder. Computing the masks needs no
# training beyond the large model.

# %%
import pandas as pd

from nbprune.pipeline import large_config
from nbprune.prune import make_plan
from nbprune.prune.unstructured import stage_sparsity

large = runs.run(large_config(P, "vgg19", seeds[0], dataset), data_root=data_root, device=device, progress=False)
model = large.model()
heat = {f"{f:.0%}": stage_sparsity(model, make_plan(model, "magnitude", fraction=f).masks)
        for f in (0.1, 0.3, 0.5, 0.7, 0.9)}
heat = pd.DataFrame(heat, index=[f"stage {i + 1}" for i in range(len(next(iter(heat.values()))))]).T
report.stage_sparsity_figure(heat, f"VGG-19: weights pruned per stage ({P.name} preset, seed {seeds[0]})")
plt.show()

# %% [markdown]
# ## Not run here
#
# Guided sparsification and the transfer of guided patterns from VGG-16 on CIFAR-10 to VGG-19 on CIFAR-100
# (the rest of Figure 6; `nbprune.prune` has `guided-sparsity` and `guided-channels` for them, and CIFAR-100 is
# not on this machine) and the unstructured curve of Figure 3 are not part of this chapter's runs yet. The full
# Figure 3 grid (eight fractions) runs at the paper's protocol with
#
# ```bash
# jupytext --to ipynb notebooks/04_architecture_search.py -o build/04_architecture_search.ipynb
# papermill build/04_architecture_search.ipynb book/04_architecture_search.ipynb -k nbprune -p preset paper
# ```
