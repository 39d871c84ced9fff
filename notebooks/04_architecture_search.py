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
preset = "cpu"  # smoke | quick | cpu | paper: how much of the paper's protocol to run (see the appendix)
dataset = "cifar10"  # cifar10 | cifar100
fractions = None  # None: the preset's grid (VGG-16 at 40-70% of channels on quick and cpu); else a list, e.g. [0.2, 0.5]
seeds = None  # None: the preset's seeds; else a list of ints
device = "auto"  # auto (CUDA when available, else CPU) | cpu | cuda[:N]
data_root = None  # None: $NBPRUNE_DATA, else torchvision's download
store = None  # run store directory; None: $NBPRUNE_STORE, else ./store
executor = "local"  # local | slurm: where missing runs are trained (appendix: running on a cluster)
slurm = {}  # options of the slurm executor: partition, gpus, cpus, mem_gb, time_min, max_jobs, folder

# %% tags=["remove-cell"]
# %matplotlib inline
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from nbprune import report
from nbprune.log import show_log
from nbprune.runner import run_chapter

show_log()  # the package logs; the chapter shows its INFO lines (what was trained or read)

# One call of the chapter runner: it checks every parameter before any work (a typo fails with one line naming
# it), trains whatever of the chapter's runs the store lacks, stage by stage, reads every row back from the
# store and writes results/<preset>/architecture_search-<dataset>.csv (a run with other seeds or another grid
# writes architecture_search-run-<digest>-<dataset>.csv beside it, so the preset's own file, which the book
# reads, stays as it is).
run = run_chapter("architecture_search", preset, fractions, seeds=seeds, dataset=dataset, device=device, data_root=data_root,
                  store=store, executor=executor, executor_options=slurm)
P, seeds, results, refs = run.preset, run.seeds, run.results, run.refs

# %% [markdown]
# ## This run

# %% tags=["remove-input"]
display(Markdown(run.box(extra=[
    "VGG-16 is the Network Slimming code's (one Linear classifier, BatchNorm gamma 0.5) with the slimming penalty "
    "s = 1e-4 on its conv BatchNorms, as in Section 5",
    "transferred guided pruning uses VGG-16's patterns on VGG-19 on CIFAR-10: the paper transfers them to VGG-19 "
    "on CIFAR-100, which this machine does not have"])))

# %% [markdown]
# ## The architectures at the paper's width
#
# Section 5's CIFAR-10 experiments prune VGG-16 with Network Slimming (Figure 3, left; Tables 7 and 21) and
# PreResNet-164 (Figure 5; Table 18), and compare with uniform pruning. The table does not depend on the preset,
# so `make test` checks it (VGG-16 here with the L1-norm code's two-layer head; this chapter's VGG-16 has the
# slimming code's single Linear, 5,130 parameters at full width instead of 268,810).

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(report.architecture_table(["vgg16", "vgg19", "preresnet164"]).to_string())

# %% [markdown]
# ## The paper's numbers
#
# Table 7: the widths Network Slimming keeps in VGG-16 at 60% (mean ± std over 5 runs); Table 21: per-stage kept
# ratios of slimming on VGG-16 (one number per stage, largest feature maps first); Table 18: the same for
# PreResNet-164. Figures 3-6 are plots; their curves are not in the paper as numbers. First the rows of
# Table 21 at the fractions this chapter re-runs at this preset, then the full tables, folded (click to open
# them).

# %% tags=["hide-input"]
display(report.paper_tables(["7", "21", "18"], run.grid, dataset))

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
# *Transferred* guided pruning applies VGG-16's mean stage pattern to VGG-19, which no large model was pruned
# for (here at one fraction, 50%, for time). *Guided sparsification* does the same with the per-stage sparsity
# of magnitude-pruned masks; it runs where the grid has the unstructured curve of Figure 3 (the `paper` preset).
#
# The table lists every architecture trained (parameters and accuracies averaged over seeds); the figure draws
# them against their parameter count, VGG-16's curves as lines and the transferred VGG-19 architecture, a
# single point, as a star.

# %% tags=["hide-input"]
df = report.results_frame(results.rows)
points = report.search_points(df)  # the Scratch-E architectures, each on its curve
display(report.show(report.search_summary(points), group=["model", "curve"], formats={"params": "{:,.0f}"}))

# %% tags=["hide-input"]
# a figure per model with curves; a model with one architecture per curve (the transferred VGG-19) is drawn
# as starred points in the first figure, not in a figure of its own
for name, g in report.search_figure_groups(points):
    report.params_curve_figure(g, f"Scratch-E accuracy vs parameters, {name} ({P.name}, {len(seeds)} seed(s))")
    plt.show()

# %% [markdown]
# ## Parameters at the same fraction of channels
#
# The curve above compares architectures at equal parameters; the paired tests below compare them at the same
# fraction of channels removed, where the architectures need not have the same size. Their parameter counts,
# mean over seeds (the slimmed architecture differs a little from seed to seed):

# %% tags=["hide-input"]
sizes = report.search_sizes(points)
display(report.show(sizes.round(0), group=["model"], formats={c: "{:,.0f}" for c in sizes.columns}))
if (fewer := report.fewer_parameters(sizes)) is not None:
    display(Markdown(f"Network Slimming's architecture has fewer parameters than the uniform one at {fewer[0]} of the "
                     f"{fewer[1]} fraction(s) that have both: it thins the wide late layers, which hold most of "
                     "VGG's weights."))

# %% [markdown]
# ## Are the slimmed and guided architectures better at the same fraction? Paired by seed
#
# At the same fraction removed, the differences per seed: slimming's architecture minus the uniform one, the
# guided one minus the uniform one, and guided minus slimming; for masks, magnitude-pruned (and guided) minus
# uniformly sparse, where the grid has them. The paper finds slimming's and the guided architectures better than
# uniform ones on VGG, and guided about equal to slimming.
#
# The verdicts test equivalence as well as difference (`nbprune.stats`), with a margin fixed before the runs:
# ±1 accuracy point at the CPU presets, ±0.5 at `paper` (the run box states this run's). A row is *equivalent within the
# margin* when the 90% t-interval of the mean paired difference lies inside it (two one-sided tests at 5%, TOST),
# even if the difference is significant; otherwise one side is *better* when the 95% interval excludes 0;
# otherwise it is *inconclusive*, with about how many seeds would decide it at 80% power (p's Holm-adjusted within the claim). Pairing by
# seed is right because the runs of a seed see the same data order, which the seed fixes; that is all they
# share: every one of them is trained from its own random initialisation, and only the slimmed and guided
# architectures depend on that seed's large model (the uniform one depends on no large model). The last
# column says whether the verdict supports the paper's claim for the pair. The forest plot shows every
# comparison with its 90% (thick) and 95% (thin) interval, the margin as a band and the paper's difference as a
# cross.

# %% tags=["hide-input"]
display(report.show(report.search_pairs(df, P.margin), group=["model", "pruned"]))

# %% tags=["hide-input"]
report.forest_figure(report.search_stats(df, P.margin), P.margin,
                     f"Architectures compared at the same fraction pruned ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## The widths Network Slimming keeps (Table 7 style)

# %% tags=["hide-input"]
display(report.show(report.widths_table([(e, c) for e, c in results.chains if e.method == "slimming"]),
                    group=["model", "pruned"]))

# %% [markdown]
# ## Where unstructured pruning removes weights (Figure 4)
#
# Global magnitude pruning of the first seed's unpruned VGG-19 (the large model of chapter 3) at increasing
# overall fractions: the fraction of weights removed in each stage. The paper finds a consistent pattern: later
# stages, whose layers are wider and more redundant, are pruned much harder. Computing the masks needs no
# training beyond the large model; what the figure plots is stored with that run, so a re-execution against
# results without weights draws it again.

# %% tags=["hide-input"]
import pandas as pd

heat = run.stage_sparsity(data_root=data_root, train=True)  # chapter 3's VGG-19 of the first seed, 10-90% sparsity
heat = pd.DataFrame(heat, index=[f"stage {i + 1}" for i in range(len(next(iter(heat.values()))))]).T
report.stage_sparsity_figure(heat, f"VGG-19: weights pruned per stage ({P.name} preset, seed {seeds[0]})")
plt.show()

# %% [markdown]
# ## Not run here
#
# The list below is computed from the chapter's grids (`nbprune.coverage`): what the `paper` preset runs of this
# chapter, on each dataset it has rows for, that the committed book (`cpu`, CIFAR-10) does not run, with the command
# that trains it into the run store (`--executor slurm` spreads it over a cluster; `nbprune grid ... --status
# --json` lists every run first, with its table or figure and, where the plan needs no training, its epochs).
# `tools/execute_notebooks.py --preset paper --only 04_architecture_search` then executes this chapter from that store
# (a run at another preset than the committed book's writes under `build/rerun/paper/`).

# %% tags=["remove-input"]
from nbprune.coverage import not_run_markdown

display(Markdown(not_run_markdown("architecture_search")))

# %% [markdown]
# ## What this chapter found
#
# Every number below is computed from this run's results when the chapter is executed: each comparison with its
# 95% interval and its p-value after Holm's adjustment within the claim it tests, whether it supports the paper's
# claim, and the likely reasons where the data show them (how far from converged the budget is, seeds that fall
# into groups, comparisons that are the same runs under two names, how many seeds the undecided ones need).

# %% tags=["remove-input"]
from nbprune.book import chapter_findings

display(Markdown(chapter_findings(run)))
