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
# # 6. What later work found
#
# *Le & Hua (ICLR 2021), "Network Pruning That Matters: A Case Study on Retraining Variants"; Renda, Frankle &
# Carbin (ICLR 2020), "Comparing Rewinding and Fine-tuning in Neural Network Pruning"; Frankle, Dziugaite, Roy
# & Carbin (2019, "Stabilizing the Lottery Ticket Hypothesis"; ICML 2020, "Linear Mode Connectivity and the
# Lottery Ticket Hypothesis").*
#
# The paper's conclusion, that the weights a pruned model inherits are worth little, rests on one detail of
# its protocol: the pruned model is *fine-tuned* at the smallest learning rate of the large model's schedule,
# 0.001, held constant. Later work questioned exactly that detail.
#
# - **Renda et al.** retrained pruned models with **learning-rate rewinding**: the last F epochs of the large
#   model's own schedule replayed, larger learning rates included, instead of F epochs at 0.001.
# - **Le & Hua** traced its advantage to the large learning rate itself. Two restarting schedules do as well:
#   **scaled learning-rate restarting** (a short warm-up to the large model's initial lr, 0.1, then ×0.1 at 50%
#   and 75% of F) and **cyclic learning-rate restarting** (the same warm-up, then a cosine decay to 0 over F).
#   Retrained this way, pruned models beat Scratch-E and Scratch-B, and networks pruned by choosing filters *at
#   random* beat L1-norm-pruned ones fine-tuned the usual way.
# - **Frankle et al.** found that at a large learning rate a lottery ticket reset to the initialisation (the
#   paper's chapter 5 setting, where it is no better than a random init) works once it is **rewound** to the
#   large model's weights after a small fraction of training instead.
#
# This chapter re-runs the three claims on the same large models, seeds and verdict rules as chapters 1, 2
# and 5. Its large models, fine-tuned models, Scratch runs and (20%) tickets are those chapters' runs, read
# from the store; only the new retraining schedules, the random architectures and the rewound tickets train.

# %% tags=["parameters"]
preset = "cpu"  # smoke | quick | cpu | paper: how much of the paper's protocol to run (see the appendix)
dataset = "cifar10"  # cifar10 (the paper ran this chapter on CIFAR-10 only)
draws = None  # None: 3 random architectures per seed (random pruning); else a positive integer, e.g. 5
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
from nbprune.later_work import later_work_setup
from nbprune.log import show_log
from nbprune.runner import run_chapter

show_log()  # the package logs; the chapter shows its INFO lines (what was trained or read)

# One call of the chapter runner: it checks every parameter before any work, trains whatever of the chapter's
# runs the store lacks (the runs it shares with chapters 1, 2 and 5 are read back), reads every row from the
# store and writes results/<preset>/later_work-<dataset>.csv (a run with other seeds or another grid writes
# later_work-run-<digest>-<dataset>.csv beside it, so the preset's own file, which the book reads, stays as it is).
run = run_chapter("later_work", preset, draws, seeds=seeds, dataset=dataset, device=device, data_root=data_root,
                  store=store, executor=executor, executor_options=slurm)
P, seeds, results, refs = run.preset, run.seeds, run.results, run.refs
df = run.frame()
setup = later_work_setup(run)  # the chains shown, the rewinding point, the draws (nbprune.later_work)
l1_chain, F, E = setup.schedules, setup.finetune_epochs, setup.epochs
rewind_step, steps, same_as_ft = setup.rewind_step, setup.steps, setup.rewinding_is_fine_tuning


def rows(*methods):
    """The result rows of the given pruning methods (with their large models)."""
    return df[df["method"].isin(methods)]


# %% [markdown]
# ## This run

# %% tags=["remove-input"]
display(Markdown(run.box(extra=[
    f"retraining budget F = {F} epoch(s), the preset's fine-tuning epochs (the paper's ratio F/E = 40/160), for "
    "every schedule; Le & Hua and Renda et al. retrain longer (see *How this differs from the papers*)",
    "learning-rate rewinding replays the large model's last F epochs; "
    + ("here they all lie in its last lr phase (0.001), so it **is** fine-tuning: the same runs, shown once and "
       "not compared with fine-tuning (a run with itself)" if same_as_ft else "here they reach back into a larger-lr phase"),
    f"random pruning: VGG-16-A's per-layer widths with the kept filters drawn at random, {setup.draws} draw(s) per "
    "seed; a seed's value is its mean over the draws",
    f"rewound ticket: the large model's weights after step {rewind_step} of {steps} (~{rewind_step / steps:.0%} of "
    "its training), with the ticket's mask, then the large model's schedule in full"
    + (f"; {setup.replayed} of the {setup.larges} large models predate the snapshots, so their first {rewind_step} "
       "steps were replayed from their init with their own seed, data order and schedule" if setup.replayed else ""),
])))

# %% [markdown]
# ## The schedules that were run
#
# The learning rate of every retraining schedule over its F epochs, drawn after the large model's own schedule
# (E epochs), for the VGG-16-A chain of the first seed; the lr axis is logarithmic so that 0.1 and 0.001 both
# show (a cosine that reaches 0 is drawn down to 1e-5). Scratch-E and Scratch-B use the large model's step
# schedule over their own epochs. Where learning-rate rewinding is fine-tuning (the same schedule), its line is
# dashed over fine-tuning's wider one.

# %% [markdown]
# The same schedules at the paper's budget (large model 160 epochs, lr 0.1, ×0.1 at epochs 80 and 120; F = 40),
# the lr at the last step of each listed epoch; this table does not depend on the preset, so `make test` checks it.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
from nbprune.config import RunConfig
from nbprune.pipeline import FINETUNE_LR, retraining_schedule

paper_large = RunConfig.from_preset("paper", "vgg16")
at = (0, 1, 3, 10, 19, 20, 29, 30, 39)
print("epoch of 40:      " + " ".join(f"{e:>7d}" for e in at))
print("fine-tuned:       " + " ".join(f"{FINETUNE_LR:7.4f}" for _ in at))
for variant in ("lr-rewinding", "slr", "clr"):
    cfg = RunConfig(model="vgg16", epochs=40, **retraining_schedule(variant, paper_large, 40))
    print(f"{variant + ':':17s} " + " ".join(f"{cfg.lr_at(e, 1.0):7.4f}" for e in at))

# %% tags=["hide-input"]
curves = {"large model (E epochs)": l1_chain.large.config.lr_curve()}
offset = {}
for variant in ("fine-tuned", "lr-rewinding", "slr", "clr"):
    name = report.variant_label(variant) + (" (= fine-tuned)" if variant == "lr-rewinding" and same_as_ft else "")
    curves[name] = l1_chain.runs[variant].config.lr_curve()
    offset[name] = float(E)
report.schedule_figure(curves, f"Learning rate per epoch: large model, then retraining ({P.name})", offset)
plt.show()

# %% [markdown]
# ## 1. Retraining schedules against training from scratch
#
# VGG-16 → VGG-16-A (L1-norm, chapter 1) and VGG-19 at 70% (Network Slimming, chapter 2): the pruned model
# retrained with each schedule for the same F epochs, beside Scratch-E and Scratch-B of the same architecture.
# Claim tested (Le & Hua): *with a large retraining learning rate, inherited weights beat training from
# scratch*, so each large-lr schedule should be better than Scratch-B (and than fine-tuning).

# %% tags=["hide-input"]
retrain = rows("l1", "slimming")
display(report.show(report.variant_rows(report.paper_shaped_table(retrain, ["model", "target"], refs)),
                    group=["model", "target"]))

# %% [markdown]
# The verdicts, paired by seed (each schedule's run and the Scratch run of one seed share the large model's
# data order and pruned architecture), with the preset's margin fixed before the runs: *equivalent within the
# margin* when the 90% t-interval of the mean difference lies inside it (two one-sided tests), else one side
# *better* when the 95% interval excludes 0, else *inconclusive* with about how many seeds would decide it at 80% power (p's Holm-adjusted within the claim).
# The last column says whether the verdict supports the later work's claim for the pair: only "better" does.

# %% tags=["hide-input"]
PAIRS = list(run.chapter.pairs)
paired = report.paired_table(retrain[retrain["variant"] != "unpruned"], ["model", "target"], PAIRS, refs, P.margin)
display(report.show(paired, group=["model", "target"]))

# %% tags=["hide-input"]
report.chapter_forest(retrain.to_dict("records"), refs, PAIRS[:6], P.margin,
                      f"Retraining schedules: differences ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## 2. Random pruning, well retrained, against L1-norm pruning fine-tuned
#
# The same per-layer widths as VGG-16-A, with the kept filters of every layer drawn at random instead of by
# their L1 norm, retrained with every schedule. The comparison uses the schedule that did best on the
# L1-norm row of experiment 1 (chosen on the same seeds, which favours it slightly). Claim tested (Le & Hua):
# *randomly pruned and well retrained beats methodically pruned and fine-tuned*.

# %% tags=["hide-input"]
rand = rows("random-channels")
display(report.show(report.variant_rows(report.paper_shaped_table(rand, ["model", "target"], {})),
                    group=["model", "target"]))
random_verdict = report.random_pruning_table(df, P.margin)
display(report.show(random_verdict, group=["model", "target"]))

# %% tags=["hide-input"]
report.forest_figure(report.random_pruning_stats(df, P.margin), P.margin,
                     f"Random filters (best schedule) minus L1-norm fine-tuned ({P.name})")
plt.show()

# %% [markdown]
# ## 3. Rewound tickets at lr 0.1
#
# VGG-16 with 20% and 80% of its conv weights removed by magnitude (chapter 5's one-shot rows; the 20% ticket
# and its control are chapter 5's runs). Three runs share the mask: the winning ticket reset to the large
# model's initialisation, the ticket **rewound** to the large model's weights early in its training, and a
# random re-initialisation. Claim tested (Frankle et al.): *at lr 0.1 a ticket needs rewinding, not the
# original initialisation*, so the rewound ticket should beat both others.

# %% tags=["hide-input"]
tickets = rows("magnitude")
display(report.show(report.variant_rows(report.paper_shaped_table(tickets, ["model", "target"], refs)),
                    group=["model", "target"]))
ticket_pairs = [p for p in PAIRS if "ticket" in p[0]]
display(report.show(report.paired_table(tickets[tickets["variant"] != "unpruned"], ["model", "target"], ticket_pairs,
                                        refs, P.margin), group=["model", "target"]))

# %% tags=["hide-input"]
report.chapter_forest(tickets.to_dict("records"), refs, ticket_pairs, P.margin,
                      f"Rewound tickets: differences ({P.name}, {len(seeds)} seed(s))")
plt.show()

# %% [markdown]
# ## Every run, per seed
#
# One figure per experiment: each seed's final accuracy as a point, the mean over seeds as a bar; a variant has
# the same colour in every figure of the book.

# %% tags=["hide-input"]
for methods, what in ((("l1", "slimming"), "1. retraining schedules"), (("random-channels",), "2. random pruning"),
                      (("magnitude",), "3. rewound tickets")):
    if len(rows(*methods)):
        report.seeds_figure(rows(*methods), chance=100 / run.data.num_classes,
                            title=f"{what}, one point per seed ({P.name})")
        plt.show()

# %% [markdown]
# ## The budget ledger

# %% tags=["hide-input"]
display(report.show(report.ledger_table(df), group=["model", "pruned"]))

# %% [markdown]
# ## How this differs from the papers
#
# - **Retraining budget.** Every schedule here gets the preset's fine-tuning budget F, a quarter of the large
#   model's epochs (40 of 160 at `paper`), so that all schedules, fine-tuning included, cost the same. Le & Hua
#   and Renda et al. retrain for longer budgets, up to the large model's full schedule; with F = E/4 and the
#   paper's milestones at 50% and 75% of E, learning-rate rewinding replays only the last, 0.001 phase and is
#   plain fine-tuning (the run box says whether that is so here). A longer F is the chapter's parameter-free
#   follow-up (a preset with another `finetune_epochs`).
# - **Rewinding point.** The rewound ticket restarts from the large model's weights after ~2% of its steps
#   (Frankle et al. rewind VGG and ResNet on CIFAR-10 to an early iteration of a 160-epoch-class schedule); on
#   the CPU presets 2% of a few epochs is a few dozen steps.
# - **Models and budgets of the CPU presets.** As in chapters 1, 2 and 5: narrow models trained for a few
#   epochs (the run box lists how this run differs from the paper's protocol); chapter 1's budget curve shows
#   how such differences move with training length.
# - **Random pruning.** Le & Hua draw random filters with the method's per-layer widths; here the widths are
#   VGG-16-A's, drawn afresh per draw (the same draw of two seeds keeps the same filters), and retrained with
#   every schedule; the verdict uses the schedule that did best on the L1-norm row.
# - **Their own numbers.** Le & Hua's CIFAR-10 accuracies for these rows could not be read offline (only their
#   abstract and introduction are stored here), so the chapter gives none of theirs; their code retrains
#   VGG-16-A for budgets of 40 to 152 epochs after 160 epochs of training, with lr 0.001 for fine-tuning and 0.1
#   for the restarts. Frankle et al. (2019, Figures 2 and 3; three trials each) report for VGG-19 on CIFAR-10 at
#   lr 0.1 without warm-up: dense 91.5 ± 0.2%; at 2.2% of the weights remaining, the ticket reset to its
#   initialisation 90.0 ± 0.3% against 90.2 ± 0.5% for a random mask of the same layer-wise sizes (no winning
#   ticket), and rewinding to iteration 100 (0.14 epochs) instead of 0 gives subnetworks that exceed the dense
#   accuracy (shown in plots, not tabulated). Those are the directions the verdicts above test, at this
#   preset's budget and at sparsities (20%, 80% removed) far from theirs.

# %% [markdown]
# ## Not run here
#
# The list below is computed from the chapter's grids (`nbprune.coverage`): what the `paper` preset runs of this
# chapter, on each dataset it has rows for, that the committed book (`cpu`, CIFAR-10) does not run, with the command
# that trains it into the run store (`--executor slurm` spreads it over a cluster; `nbprune grid ... --status
# --json` lists every run first, with its table or figure and, where the plan needs no training, its epochs).
# `tools/execute_notebooks.py --preset paper --only 06_later_work` then executes this chapter from that store
# (a run at another preset than the committed book's writes under `build/rerun/paper/`).

# %% tags=["remove-input"]
from nbprune.coverage import not_run_markdown

display(Markdown(not_run_markdown("later_work")))

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
