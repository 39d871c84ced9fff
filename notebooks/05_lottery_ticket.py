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

# %% tags=["parameters"]
preset = "quick"  # smoke | quick | paper: how much of the paper's protocol to run (see the appendix)
dataset = "cifar10"  # cifar10 | cifar100
lrs = None  # None: the preset's initial learning rates (0.1 on quick; 0.1 and 0.01 on paper); else e.g. [0.1, 0.01]
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
grid = grids.lottery_grid(P, lrs)
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
# ## The architectures at the paper's width
#
# Table 8 uses the L1-norm targets of chapter 1; Table 9 prunes VGG-16's conv weights. The table does not
# depend on the preset, so `make test` checks it.

# %%
# NBVAL_CHECK_OUTPUT
print(report.architecture_table(["vgg16", "vgg16-a", "resnet56", "resnet56-a", "resnet56-b"]).to_string())

# %% [markdown]
# ## The paper's numbers
#
# Table 8: structured pruning (L1-norm), winning ticket vs random initialisation at lr 0.1 (8a) and 0.01 (8b).
# Table 9: unstructured one-shot pruning at lr 0.1 (9a) and 0.01 (9b). † marks inferred cells (Tables 8b and 9a
# are partly uncertain, see the notes in `paper_tables.csv`).

# %%
display(report.paper_wide("8a", "8b", "9a", "9b"))

# %% [markdown]
# ## Winning tickets vs random initialisation
#
# For every seed: the large model is trained (and its random initialisation kept); it is pruned (L1-norm to
# VGG-16-A, or 20% of its conv weights by magnitude on `quick`); the pruned network is then trained from scratch twice,
# once from the large model's own initial weights restricted to what survived (the "winning ticket") and once
# from a fresh random initialisation (the same run as chapter 1's or chapter 3's Scratch-E), with the same
# schedule and initial learning rate.

# %%
results = grids.run_grid(runs, grid, P, seeds, dataset, on_job=grids.print_job, executor=ex,
                         data_root=data_root, device=device, progress=False)
refs = grids.paper_refs(grid, dataset)
table, paired = report.chapter_tables(results.rows, refs, [("winning-ticket", "random-init")])
saved = grids.save_results(results, "lottery_ticket", P, dataset)

# %% [markdown]
# ## Tables 8 and 9, re-run

# %%
display(table.set_index(["model", "target"]))

# %% [markdown]
# ## Paired by seed: winning ticket minus random initialisation
#
# The paper's claim at lr 0.1 is that the winning ticket brings no advantage. The verdict tests that claim:
# "disagrees" when the interval lies above zero (the ticket is better), "agrees" when it lies below (random
# initialisation is better), "inconclusive" when it contains zero; the paper's own difference is beside it.

# %%
display(paired.set_index(["model", "target", "comparison"]))

# %%
report.bar_figure(report.results_frame(results.rows), chance=100 / data.num_classes,
                   title=f"Winning ticket vs random init ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## The budget ledger

# %%
display(report.ledger_table(report.results_frame(results.rows)))

# %% [markdown]
# ## Not run here
#
# Iterative pruning (Figure 7: 20% of the remaining weights per round, retraining in between) and the lr 0.01
# rows run at the paper's protocol with
#
# ```bash
# jupytext --to ipynb notebooks/05_lottery_ticket.py -o build/05_lottery_ticket.ipynb
# papermill build/05_lottery_ticket.ipynb book/05_lottery_ticket.ipynb -k nbprune -p preset paper
# ```
