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
# # 5. The lottery ticket hypothesis
#
# *Section 6 of the paper; Tables 8 and 9, Figure 7.*
#
# Frankle & Carbin (2019) proposed that a large network contains a small sub-network that, trained alone from
# *the same initial weights it had inside the large network*, reaches the large network's accuracy: a "winning
# ticket". Re-initialising that sub-network at random, they found, does worse. This seems to contradict the
# paper's claim that random initialisation is enough.
#
# The paper identifies the differences between the two studies: its conclusion is about structured pruning
# (theirs about unstructured), it uses large modern networks (theirs mostly small ones), it trains with momentum
# SGD at a large initial learning rate of 0.1 (they mostly used Adam with small learning rates), and it includes
# ImageNet.
#
# The experiment: after pruning, train the small network twice with the same recipe, once from the large
# model's saved initial weights (**winning ticket**) and once from a fresh random initialisation (**random
# init**), at initial learning rates 0.1 and 0.01. With unstructured pruning, the winning ticket helps only at
# lr 0.01, and that setting is less accurate overall than lr 0.1, where the advantage disappears (Figure 7,
# Table 9). With structured L1-norm pruning (Table 8) the winning ticket does not help at either learning rate.
#
# The control must differ from the ticket in its initial *values* only. Here the random-init run is the
# ticket's own architecture (or mask) cut out of a fresh draw of the *unpruned* network, so both start at the
# large model's initialisation scale (as the authors' `main_scratch_mask.py` does by masking a full-size net);
# every parameter of it, the classifier's included, comes from a seed not shared with the large model. It is
# therefore not chapter 1's Scratch-E run, whose small network is initialised with its own, smaller fan-out.

# %% tags=["parameters"]
preset = "cpu"  # smoke | quick | cpu | paper: how much of the paper's protocol to run (see the appendix)
dataset = "cifar10"  # cifar10 (the paper ran this chapter on CIFAR-10 only)
lrs = None  # None: the preset's initial learning rates (0.1 on the CPU presets; 0.1 and 0.01 on paper); else e.g. [0.1, 0.01]
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
# store and writes results/<preset>/lottery_ticket-<dataset>.csv (a run with other seeds or another grid writes
# lottery_ticket-run-<digest>-<dataset>.csv beside it, so the preset's own file, which the book reads, stays as it is).
run = run_chapter("lottery_ticket", preset, lrs, seeds=seeds, dataset=dataset, device=device, data_root=data_root,
                  store=store, executor=executor, executor_options=slurm, train_curve=train_curve)
P, seeds, results, refs = run.preset, run.seeds, run.results, run.refs
PAIRS = list(run.chapter.pairs)
table, paired = run.tables()

# %% [markdown]
# ## This run

# %% tags=["remove-input"]
display(Markdown(run.box(extra=[
    "random-init control: the ticket's architecture (or mask) taken from a fresh draw of the unpruned model "
    "(init `parent-random`), so it has the ticket's initialisation scale and differs from it in values only",
    "iterative pruning removes 20% of the remaining conv weights per round from the previous round's trained "
    "ticket; this run's rounds are the rows marked 'iterative'",
    "VGG-16 has no shortcuts; the ResNet rows (paper preset) use He et al.'s option-A shortcut "
    "(strided subsampling + zero padding), not the reference code's average-pooled one"])))

# %% [markdown]
# ## The architectures at the paper's width
#
# Table 8 uses the L1-norm targets of chapter 1; Table 9 prunes VGG-16's conv weights. The table does not
# depend on the preset, so `make test` checks it.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
print(report.architecture_table(["vgg16", "vgg16-a", "resnet56", "resnet56-a", "resnet56-b"]).to_string())

# %% [markdown]
# ## The paper's numbers
#
# Table 8: structured pruning (L1-norm), winning ticket vs random initialisation at lr 0.1 (8a) and 0.01 (8b).
# Table 9: unstructured one-shot pruning at lr 0.1 (9a) and 0.01 (9b). † marks inferred cells (Tables 8b and 9a
# are partly uncertain, see the notes in `paper_tables.csv`). First the rows this chapter re-runs at this
# preset, then the full tables, folded (click to open them).

# %% tags=["hide-input"]
display(report.paper_tables(["8a", "8b", "9a", "9b"], run.grid, dataset))

# %% [markdown]
# ## Winning tickets vs random initialisation
#
# For every seed: the large model is trained (and its random initialisation kept); it is pruned (L1-norm to
# VGG-16-A, and 20% of its conv weights by magnitude); the pruned network is then trained from scratch twice,
# once from the large model's own initial weights restricted to what survived (the "winning ticket") and once
# from a fresh draw of the unpruned network restricted the same way (the "random init" control), with the same
# schedule and initial learning rate. Iterative pruning (Figure 7) goes on from the trained 20% ticket: another
# 20% of its remaining weights is removed by magnitude (36% in all on the CPU presets; 14 rounds, down to 4.4%
# of the weights, at `paper`), and the new ticket and its control are trained again under that mask.

# %% [markdown]
# ## Tables 8 and 9, re-run
#
# Test accuracy (%), mean ± std over seeds, one line per model that was trained: final epoch (primary) and best
# over epochs (the paper's selection), with the paper's value beside each.

# %% tags=["hide-input"]
display(report.show(report.variant_rows(table), group=["model", "target"]))

# %% [markdown]
# ## Paired by seed: winning ticket minus random initialisation
#
# The paper's claim at lr 0.1 is that the winning ticket brings no advantage (ticket <= random init). The
# verdicts test equivalence as well as difference (`nbprune.stats`), with a margin fixed before the runs: ±1
# accuracy point at the CPU presets, ±0.5 at `paper` (the run box states this run's). A row is *equivalent
# within the margin* when the 90% t-interval of the mean paired difference lies inside it (two one-sided tests
# at 5%, TOST), even if the difference is significant; otherwise one side is *better* when the 95% interval
# excludes 0; otherwise it is *inconclusive*, with about how many seeds would decide it at 80% power (p's Holm-adjusted within the claim).
# Pairing by seed is right because the ticket and its control of one seed share the large model, the mask and
# the data order. The last column says whether the verdict supports the paper's claim ("equivalent" and
# "random init better" do; "winning ticket better" does not). The forest plot shows each comparison's 90% (thick) and
# 95% (thin) interval, the margin as a band and the paper's difference as a cross.

# %% tags=["hide-input"]
display(report.show(paired, group=["model", "target"]))

# %% tags=["hide-input"]
report.chapter_forest(results.rows, refs, PAIRS, P.margin,
                      f"Winning ticket minus random init ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% tags=["hide-input"]
report.seeds_figure(report.results_frame(results.rows), chance=100 / run.data.num_classes,
                     title=f"Winning ticket vs random init ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## How the comparison moves with the budget
#
# The runs above train the winning tickets and their random re-initialisations for the preset's few epochs.
# This curve re-runs VGG-16-A (structured, L1-norm) and 20% magnitude pruning (unstructured), winning ticket
# against random init at lr 0.1, at several large-model budgets on a fixed subset of the training images (the
# large models are chapter 1's curve models: the same runs). At each budget the ticket and its random
# re-initialisation train for as many epochs as the large model did, so the comparison can be read where
# training comes closest to converging. The tables give the mean accuracies per budget and each paired
# difference with its 95% interval and the p's its verdict reads (Holm-adjusted over the budget's comparisons;
# the interval is not, so one that just misses 0 can still be inconclusive); the figure draws them with
# the ±margin band and the paper's 160-epoch values as stars. The intro's headline reads this chapter at the
# curve's longest budget with all its seeds trained (a point still gaining seeds is shown here, not read there).

# %% tags=["hide-input"]
from nbprune.book import show_curve

show_curve(run)

# %% [markdown]
# ## The budget ledger

# %% tags=["hide-input"]
display(report.show(report.ledger_table(report.results_frame(results.rows)), group=["model", "pruned"]))

# %% [markdown]
# ## Not run here
#
# The list below is computed from the chapter's grids (`nbprune.coverage`): what the `paper` preset runs of this
# chapter, on each dataset it has rows for, that the committed book (`cpu`, CIFAR-10) does not run, with the command
# that trains it into the run store (`--executor slurm` spreads it over a cluster; `nbprune grid ... --status
# --json` lists every run first, with its table or figure and, where the plan needs no training, its epochs).
# `tools/execute_notebooks.py --preset paper --only 05_lottery_ticket` then executes this chapter from that store
# (a run at another preset than the committed book's writes under `build/rerun/paper/`).

# %% tags=["remove-input"]
from nbprune.coverage import not_run_markdown

display(Markdown(not_run_markdown("lottery_ticket")))

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
