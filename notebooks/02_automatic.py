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
# # 2. Automatic structured pruning
#
# *Section 4.2 of the paper; Tables 4 and 5, and Table 13 of its appendix.*
#
# In **automatic** structured pruning the algorithm decides how wide each layer ends up. The person only sets a
# global budget, for example "remove 70% of all channels"; a criterion that compares channels *across* layers
# decides where the cuts fall. The pruned architecture is therefore not known before the large model is trained,
# and training the large model is part of finding it.
#
# The paper's representative is **Network Slimming** (Liu et al., 2017). During training an L1 penalty pushes the
# scale factor γ of every BatchNorm channel towards zero; afterwards one global threshold on |γ| removes the
# requested fraction of channels from the whole network, and the thinner network is fine-tuned. Sparse Structure
# Selection (Huang & Wang, 2018) does the same with one scale factor per residual block and removes whole blocks.
#
# Here the large model cannot be skipped, but the question about the *weights* still applies: once slimming has
# found the architecture, do its inherited weights help, or is the architecture all that matters? Table 4 says the
# architecture: Scratch-B beats the fine-tuned model in 8 of the 10 CIFAR experiments, and Scratch-E is only
# slightly behind, mostly within one standard deviation. For block pruning on ImageNet (Table 5) both scratch
# variants beat the pruned models.

# %% tags=["parameters"]
preset = "cpu"  # smoke | quick | cpu | paper: how much of the paper's protocol to run (see the appendix)
dataset = "cifar10"  # cifar10 | cifar100 | imagenet (data_root: an ImageFolder)
fractions = None  # None: the preset's grid (VGG-19 at 70% on the CPU presets); else {"vgg19": [0.7], "densenet40": [0.4]}
seeds = None  # None: the preset's seeds; else a list of ints
device = "auto"  # auto (CUDA when available, else CPU) | cpu | cuda[:N]
data_root = None  # None: $NBPRUNE_DATA, else torchvision's download
store = None  # run store directory; None: $NBPRUNE_STORE, else ./store
executor = "local"  # local | slurm: where missing runs are trained (appendix: running on a cluster)
slurm = {}  # options of the slurm executor: partition, gpus, cpus, mem_gb, time_min, max_jobs, folder
train_curve = None  # None: the preset's (curves train only at smoke); True: train the budget curve's missing runs

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
# store and writes results/<preset>/automatic-<dataset>.csv (a run with other seeds or another grid writes
# automatic-run-<digest>-<dataset>.csv beside it, so the preset's own file, which the book reads, stays as it is).
run = run_chapter("automatic", preset, fractions, seeds=seeds, dataset=dataset, device=device, data_root=data_root,
                  store=store, executor=executor, executor_options=slurm, train_curve=train_curve)
P, seeds, results, refs = run.preset, run.seeds, run.results, run.refs
PAIRS = list(run.chapter.pairs)
table, paired = run.tables()

# %% [markdown]
# ## This run

# %% tags=["remove-input"]
display(Markdown(run.box(extra=[
    "Network Slimming's L1 penalty is added to the gradients of the conv BatchNorms' weights only (not to a "
    "classifier's BatchNorm1d), as the method and the reference code do",
    "Sparse Structure Selection (Table 5, ImageNet, shown with the paper's numbers only): nbprune's version uses a "
    "proximal SGD step instead of the paper's APG optimizer and handles CIFAR basic-block ResNets only; it is not "
    "run in this chapter"])))

# %% [markdown]
# ## The architectures at the paper's width
#
# The unpruned models of Table 4 at the paper's width (10 classes). The pruned architectures are not known in
# advance: Network Slimming finds them. The table does not depend on the preset, so `make test` checks it.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(report.architecture_table(["vgg19", "preresnet164", "densenet40"]).to_string())

# %% [markdown]
# ## The paper's numbers
#
# Table 4 (Network Slimming, CIFAR and ImageNet), Table 5 (Sparse Structure Selection, ImageNet) and Table 13
# (the pruned models' baselines). Top-1 accuracy in %, mean ± std over 5 runs on CIFAR. First the rows this
# chapter re-runs at this preset, then the full tables, folded (click to open them).

# %% tags=["hide-input"]
display(report.paper_tables(["4", "5", "13"], run.grid, dataset))

# %% [markdown]
# ## Sparsity training, slimming, and the three ways to train the result
#
# For every seed: the large model is trained with the L1 penalty on every BatchNorm scale (s·sign(γ) added to
# γ's gradient; s = 1e-4 for VGG, 1e-5 for PreResNet and DenseNet); one global threshold on |γ| then removes the
# requested fraction of all channels (a layer that would lose every channel keeps its largest one); the slimmed
# model is fine-tuned at lr 0.001, and the same architecture is trained from scratch (Scratch-E, Scratch-B).

# %% [markdown]
# ## Table 4, re-run
#
# Test accuracy (%), mean ± std over seeds, one line per model that was trained: final epoch (primary) and best
# over epochs (the paper's selection), with the paper's value beside each.

# %% tags=["hide-input"]
display(report.show(report.variant_rows(table), group=["model", "target"]))

# %% [markdown]
# ## Paired by seed: scratch-trained minus fine-tuned
#
# The verdicts test equivalence as well as difference (`nbprune.stats`), with a margin fixed before the runs:
# ±1 accuracy point at the CPU presets, ±0.5 at `paper` (the run box states this run's). A row is *equivalent within the
# margin* when the 90% t-interval of the mean paired difference lies inside it (two one-sided tests at 5%, TOST),
# even if the difference is significant; otherwise one side is *better* when the 95% interval excludes 0;
# otherwise it is *inconclusive*, with about how many seeds would decide it at 80% power (p's Holm-adjusted within the claim). Pairing by
# seed is right because the two runs of a seed have the same pruned architecture and see the same data order,
# which the seed fixes; that is all they share: the fine-tuned model inherits the weights of that seed's large
# model, while a scratch run has no parent and starts from its own random initialisation. The last column
# says whether the verdict supports the paper's claim for the pair. The forest plot shows every
# comparison with its 90% (thick) and 95% (thin) interval, the margin as a band and the paper's difference as a
# cross.

# %% tags=["hide-input"]
display(report.show(paired, group=["model", "target"]))

# %% tags=["hide-input"]
report.chapter_forest(results.rows, refs, PAIRS, P.margin,
                      f"Network Slimming: scratch minus fine-tuned ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% tags=["hide-input"]
report.seeds_figure(report.results_frame(results.rows), chance=100 / run.data.num_classes,
                     title=f"Network Slimming: fine-tuned vs from scratch ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## The architectures slimming found
#
# Kept channels per layer (Table 7 style: mean ± std over seeds) next to the unpruned width at this run's
# width multiplier. Slimming keeps the early layers nearly whole and thins the late, wide ones, a pattern that
# chapter 4 reads as architecture search.

# %% tags=["hide-input"]
display(report.show(report.widths_table(results.chains), group=["model", "pruned"]))

# %% [markdown]
# ## How the comparison moves with the budget
#
# The runs above train VGG-19 and its slimmed architecture for the preset's few epochs. This curve re-runs VGG-19 -> 70% (Network Slimming; the large model trained with the sparsity penalty at each budget) at several large-model
# budgets on a fixed subset of the training images (fine-tuning gets the preset's share of the large model's
# epochs, at least 1; Scratch-B its epochs from the FLOPs ratio at each budget), so the comparison can be read
# where training comes closest to converging. The tables give the mean accuracies per budget and each paired
# difference with its 95% interval and the p's its verdict reads (Holm-adjusted over the budget's comparisons;
# the interval is not, so one that just misses 0 can still be inconclusive); the figure draws them with
# the ±margin band and the paper's 160-epoch values as stars. The intro's headline reads this chapter at the
# curve's longest budget with all its seeds trained (a point still gaining seeds is shown here, not read there).

# %% tags=["hide-input"]
from nbprune.book import show_curve

show_curve(run)

# %% [markdown]
# The architecture slimming finds changes with the budget too. Kept channels per layer of the curve's slimmed
# VGG-19 at each large-model budget (mean ± std over the seeds whose runs are shown above), next to the
# unpruned width at this preset's width multiplier. At 1/8 width a late layer has 64 channels, so a global
# threshold that leaves a few percent of a layer keeps one channel or none; a layer that would lose every
# channel keeps its largest one (the authors' code has no such rule and fails there). Through such a layer the
# signal passes one channel wide: the fine-tuned model inherits that bottleneck with its weights and retrains
# at lr 0.001, the scratch models learn around it at lr 0.1. Read the curve's long budgets with the line below
# in mind: it comes with the width these runs use, which the paper's full-width VGG-19, with eight times the
# channels per layer, need not share.

# %% tags=["hide-input"]
widths, narrow = report.budget_widths(run.curve.chains if run.curve else [])
if narrow:
    display(Markdown(narrow))
    display(report.show(widths))

# %% [markdown]
# ## The budget ledger

# %% tags=["hide-input"]
display(report.show(report.ledger_table(report.results_frame(results.rows)), group=["model", "pruned"]))

# %% [markdown]
# ## Not run here
#
# ImageNet rows (VGG-11 slimming, Table 4; Sparse Structure Selection on ResNet-50, Table 5) are shown with the
# paper's numbers only.
#
# The list below is computed from the chapter's grids (`nbprune.coverage`): what the `paper` preset runs of this
# chapter, on each dataset it has rows for, that the committed book (`cpu`, CIFAR-10) does not run, with the command
# that trains it into the run store (`--executor slurm` spreads it over a cluster; `nbprune grid ... --status
# --json` lists every run first, with its table or figure and, where the plan needs no training, its epochs).
# `tools/execute_notebooks.py --preset paper --only 02_automatic` then executes this chapter from that store
# (a run at another preset than the committed book's writes under `build/rerun/paper/`).

# %% tags=["remove-input"]
from nbprune.coverage import not_run_markdown

display(Markdown(not_run_markdown("automatic")))

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
