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
# # 3. Unstructured magnitude pruning
#
# *Section 4.3 of the paper; Table 6, and Table 15 of its appendix.*
#
# Unstructured pruning removes individual weights instead of whole channels. In the method of Han et al. (2015),
# every convolution weight whose magnitude falls below one global threshold is set to zero (30%, 80% or 95% of
# all conv weights on CIFAR), and the sparse network is fine-tuned with the zeros held fixed. Which weights survive
# is only known after training, so this too is an automatically discovered architecture: a sparsity pattern.
#
# Training such a network "from scratch" means keeping the same mask and starting from a random initialisation
# (scaled for the weights that remain in each layer, which the authors found did not matter much). Every
# parameter of that initialisation, the classifier's included, is a fresh draw: none is shared with the large
# model's initialisation.
#
# This is where the paper's conclusion bends. On CIFAR, Scratch-B still matches fine-tuning at moderate sparsity,
# but at 95% fine-tuning can win; on ImageNet fine-tuning is clearly better. Very sparse networks appear harder
# to train from scratch, and unstructured pruning changes the weight distribution far more than channel pruning
# does, so inherited weights carry more information here.

# %% tags=["parameters"]
preset = "cpu"  # smoke | quick | cpu | paper: how much of the paper's protocol to run (see the appendix)
dataset = "cifar10"  # cifar10 | cifar100 | imagenet (data_root: an ImageFolder)
fractions = None  # None: the preset's grid (VGG-19 at 30% on the CPU presets); else {"vgg19": [0.3, 0.8, 0.95]}
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
# store and writes results/<preset>/unstructured-<dataset>.csv (a run with other seeds or another grid writes
# unstructured-run-<digest>-<dataset>.csv beside it, so the preset's own file, which the book reads, stays as it is).
run = run_chapter("unstructured", preset, fractions, seeds=seeds, dataset=dataset, device=device, data_root=data_root,
                  store=store, executor=executor, executor_options=slurm)
P, seeds, results, refs = run.preset, run.seeds, run.results, run.refs
PAIRS = list(run.chapter.pairs)
table, paired = run.tables()

# %% [markdown]
# ## This run

# %% tags=["remove-input"]
display(Markdown(run.box(extra=[
    "the models are Table 6's weight-level reference code's: BatchNorm gamma initialised to 1 (VGG-19, "
    "DenseNet-BC-100) and PreResNet-110 with bottleneck blocks, 12 per stage (about 1.15 M parameters)"])))

# %% [markdown]
# ## The architectures at the paper's width
#
# Weight-level pruning keeps the architecture and zeroes individual conv weights; its FLOPs and parameters are
# counted over the non-zero weights, and Scratch-B's budget follows from that count. The table of the dense
# models does not depend on the preset, so `make test` checks it.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(report.architecture_table(["vgg19", "preresnet110", "densenet-bc-100"]).to_string())

# %% [markdown]
# ## The paper's numbers
#
# Table 6 (CIFAR and ImageNet) and its appendix companion Table 15. Top-1 accuracy in %, mean ± std over 5 runs.
# First the rows this chapter re-runs at this preset, then the full tables, folded (click to open them).

# %% tags=["hide-input"]
display(report.paper_tables(["6", "15"], run.grid, dataset))

# %% [markdown]
# ## Prune weights, fine-tune; and train the sparse network from scratch
#
# For every seed: the large model is trained; one global threshold over |w| of all conv weights removes the
# given fraction; the sparse model is fine-tuned at lr 0.001 with its mask applied after every optimiser step
# (pruned weights stay exactly 0.0 through momentum and weight decay). Scratch-E and Scratch-B train the same
# mask from a fresh He initialisation whose std is rescaled by each layer's remaining fan-in.

# %% [markdown]
# ## Table 6, re-run
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
# seed is right because the two runs of a seed have the same mask and see the same data order, which the seed
# fixes; that is all they share: the fine-tuned model inherits the weights of that seed's large model, while a
# scratch run has no parent and starts from its own random initialisation. The last column says whether the
# verdict supports the paper's claim for the pair. The forest plot shows every
# comparison with its 90% (thick) and 95% (thin) interval, the margin as a band and the paper's difference as a
# cross.

# %% tags=["hide-input"]
display(report.show(paired, group=["model", "target"]))

# %% tags=["hide-input"]
report.chapter_forest(results.rows, refs, PAIRS, P.margin,
                      f"Magnitude pruning: scratch minus fine-tuned ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% tags=["hide-input"]
report.seeds_figure(report.results_frame(results.rows), chance=100 / run.data.num_classes,
                     title=f"Magnitude pruning: fine-tuned vs from scratch ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## Weight distributions (Appendix F)
#
# The paper observes that a fine-tuned sparse model keeps the unpruned model's weight distribution minus its
# middle, while the same mask trained from scratch ends with a different, more concentrated distribution. The
# histogram shows one conv layer of the first seed's chain (non-zero weights only); its data is stored with that
# chain's large model, so a re-execution against results without weights draws it again.

# %% tags=["hide-input"]
exp0, chain0 = results.chains[0]
report.weight_distribution_figure(run.weight_histograms(0),
                                  f"{exp0.paper_model} {exp0.label} pruned: non-zero weights of one conv layer")
plt.show()

# %% [markdown]
# ## The budget ledger

# %% tags=["hide-input"]
display(report.show(report.ledger_table(report.results_frame(results.rows)), group=["model", "pruned"]))

# %% [markdown]
# ## Not run here
#
# Table 6's ImageNet rows (VGG-16, ResNet-50) are shown with the paper's numbers only.
#
# The list below is computed from the chapter's grids (`nbprune.coverage`): what the `paper` preset runs of this
# chapter, on each dataset it has rows for, that the committed book (`cpu`, CIFAR-10) does not run, with the command
# that trains it into the run store (`--executor slurm` spreads it over a cluster; `nbprune grid ... --status
# --json` lists every run first, with its table or figure and, where the plan needs no training, its epochs).
# `tools/execute_notebooks.py --preset paper --only 03_unstructured` then executes this chapter from that store
# (a run at another preset than the committed book's writes under `build/rerun/paper/`).

# %% tags=["remove-input"]
from nbprune.coverage import not_run_markdown

display(Markdown(not_run_markdown("unstructured")))

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
