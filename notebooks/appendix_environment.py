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
# # Appendix: environment and provenance
#
# Where the numbers in this book came from: the software, the commit, the machine, the data and the budget
# each preset stands for. Every training run also records this information next to its result in the run
# store (`provenance.json`), and a table near the end lists the runs the store holds.

# %% tags=["parameters"]
preset = "cpu"  # smoke | quick | cpu | paper
dataset = "cifar10"  # cifar10 | cifar100
models = ["vgg16", "resnet56", "vgg19"]  # the base models the chapters train (sizes at this preset below)
seeds = None  # None: the preset's seeds
device = "auto"  # auto | cpu | cuda[:N]
data_root = None  # None: $NBPRUNE_DATA, else torchvision's download
store = None  # run store directory; None: $NBPRUNE_STORE, else ./store

# %% tags=["remove-cell"]
import os
import platform
from pathlib import Path

import pandas as pd
import torch
from IPython.display import Markdown, display

import nbprune
from nbprune import report
from nbprune import data as nbdata
from nbprune.flops import count_flops, count_params
from nbprune.models import create_model
from nbprune.params import parse_param
from nbprune.presets import get_preset, preset_table, resolve_seeds
from nbprune.provenance import device_name, inputs_commit, package_versions
from nbprune.runs import RunStore
from nbprune.train import resolve_device

# Check every parameter before doing any work: a typo fails here, with one line naming it.
P = get_preset(preset)
models = parse_param("models", models, list, "[vgg16, resnet56]")
if isinstance(models, str) or not isinstance(models, (list, tuple)):
    raise ValueError(f"models: must be a list of model names, got {models!r}")
num_classes = nbdata.DATASETS.get(dataset)
if num_classes is None:
    raise ValueError(f"dataset: unknown {dataset!r}; allowed: {', '.join(nbdata.DATASETS)}")
for name in models:
    create_model(name, num_classes=num_classes, width=P.width)
seeds = resolve_seeds(seeds, P)
dev = resolve_device(device)
nbdata.resolve_root(data_root)
runs = RunStore(store)

# %% [markdown]
# ## Software and machine

# %% tags=["hide-input"]
env = {  # no machine paths: the interpreter by its version, not by where it is installed
    "nbprune": nbprune.__version__,
    "code (last commit of the book's inputs)": inputs_commit() or "(not a git checkout)",
    "python": f"{platform.python_version()} ({platform.python_implementation()})",
    "platform": f"{platform.system()} {platform.machine()}",  # not the kernel build: it changes machine to machine
    "device used": device_name(dev),
    "CUDA available": torch.cuda.is_available(),
    "torch threads": torch.get_num_threads(),
    **{f"package: {k}": v or "(not installed)" for k, v in package_versions().items()},
}
display(report.show(pd.DataFrame({"value": env}).rename_axis("item")))

# %% [markdown]
# ## Data
#
# The data source is `data_root`, else the `NBPRUNE_DATA` environment variable (an ImageFolder directory or a
# `.tar.gz` of one), else torchvision's download. Its sha256 identifies the exact images; a decoded copy is
# cached under `~/.cache/nbprune` (or `$NBPRUNE_CACHE`), keyed by that checksum.

# %% tags=["hide-input"]
data = nbdata.load_cifar(dataset, data_root, train_subset=P.train_subset, test_subset=P.test_subset)
described = {**data.describe(), "classes": ", ".join(data.classes)}
described["source"] = Path(str(described["source"])).name  # the file by name, not where this machine keeps it
display(report.show(pd.DataFrame({"value": described}).rename_axis("item")))

# %% [markdown]
# ## Presets
#
# One parameter, `preset`, sets the budget of every chapter. `None` means the paper's value (all images).
# This run used the preset named in the parameters cell above.

# %% tags=["hide-input"]
# NBVAL_CHECK_OUTPUT
presets = preset_table()
for col in ("train_subset", "test_subset"):
    presets[col] = presets[col].map(lambda v: "all" if pd.isna(v) else f"{int(v):,}")
for col in ("budget_subset", "budget_seeds"):  # "-": the curve uses the chapters' images, or all their seeds
    if col in presets:
        presets[col] = presets[col].map(lambda v: "-" if pd.isna(v) else f"{int(v):,}")
print(presets.drop(columns="description").to_string())
for name, text in presets["description"].items():
    print(f"{name}: {text}")

# %% [markdown]
# ## Calibration: how the default preset `cpu` was chosen
#
# The book's default had to train every chapter (5 seeds, all 10,000 test images) and chapter 1's budget curve
# in at most 5 hours on the 2-core machine the book is built on, with the unpruned models as far along their
# training curve as that allows. The table is the measurement it was chosen from: the unpruned VGG-16 (seed 0,
# bf16 autocast, batch 64, the presets' recipe) trained at each width × training images × epochs, two runs at
# a time with one thread each, as the book trains, on a 2-core AMD EPYC (Zen 4) VM
# (`python tools/calibrate.py`, which writes `results/calibration.csv`; its runs are in the run store).
#
# What it shows: at a fixed cost, more training images beat more epochs (1/4 width, 50,000 images, 10 epochs: 77.8%
# in 411 s; 10,000 images, 60 epochs: 75.9% in 615 s), and doubling the width costs about twice the time per epoch,
# not four times. The choice was made before the `cpu` runs, from the `quick` book's cost: its five chapters (3
# seeds, 5,000 test images) took 1.7 machine hours by their runs' own wall times, chapter 6 0.25 more; scaled to
# 5 seeds and 10,000 test images that came to about 3 hours, which left a large model ~80-90 s per run once the
# budget curve and chapter 6 were added, so the rows near that cost decided. All 50,000 images at 1/8 width for 4
# epochs costs about that (VGG-16: ~90 s per run) and needs no training subset; 6 epochs (67.3% at 125 s per
# run) would, by the same scaling, have put the book over its 5 hours. The budget curve trains 2 to 32 epochs (and
# the unpruned model at 64) on a fixed 20,000-image subset, where its longest points fit, so the chapters'
# small-budget verdicts can be read against longer training. Measured afterwards (the cost table below, from the
# committed runs): the whole `cpu` book took 7.4 run-hours, 3.7 machine hours at two runs at a time, 1.6 of them
# for chapter 1 and its budget curve.

# %% tags=["hide-input"]
cal_path = Path(os.environ.get("NBPRUNE_RESULTS") or "results") / "calibration.csv"
if cal_path.exists():
    cal = pd.read_csv(cal_path).sort_values(["width", "wall_s"])
    cols = ["width", "train_images", "epochs", "final", "best", "wall_s", "s_per_epoch", "train_pflop"]
    display(report.show(cal[cols], group=["width"], formats={"width": "{:g}", "train_images": "{:,}"},
                        rename={"train_images": "training images", "final": "final acc (%)", "best": "best acc (%)",
                                "wall_s": "wall (s)", "s_per_epoch": "s / epoch", "train_pflop": "training PFLOP"}))
    display(Markdown(f"Measured on: {', '.join(sorted(set(cal['device'])))}; code "
                     f"{', '.join(sorted(set(cal['git_commit'].str[:12])))}."))
else:
    display(Markdown(f"No calibration table (`{cal_path.name}`): run `python tools/calibrate.py`."))

# %% [markdown]
# ## What this preset's results cost to train
#
# Chapter by chapter, from the committed results files: the runs each chapter shows, those new to the book (a
# run shared with an earlier chapter is counted there), their summed training time (each run's own wall
# time, as recorded in its metrics) and the machine time that is with two runs trained at once.

# %% tags=["hide-input"]
from nbprune.book import training_time

cost = training_time(P)
display(report.show(cost) if len(cost) else Markdown("No results saved at this preset yet."))

# %% [markdown]
# ## The base models at this run's width
#
# The chapters' tables of architectures are at the paper's width; these are the sizes actually trained under
# this preset.

# %% tags=["hide-input"]
sizes = []
for name in models:
    model = create_model(name, num_classes=num_classes, width=P.width)
    sizes.append({"model": name, "width": P.width, "params": f"{count_params(model):,}",
                  "FLOPs/image": f"{count_flops(model):,}"})
display(report.show(pd.DataFrame(sizes), formats={"width": "{:g}"}))

# %% [markdown]
# ## Runs in the store
#
# Every run the store holds (folded: click to open), with its final metrics and the short configuration fields
# that vary between runs (a cfg list or a pruning plan is in the run's `config.json`).
# Run ids are hashes of the configuration: the same configuration always maps to the same directory.

# %% tags=["hide-input"]
df = runs.dataframe()
display(Markdown(f"{len(df)} run(s) in this execution's run store."))  # where the store is is this machine's business
if len(df):
    wanted = ["model", "dataset", "width", "epochs", "seed", "train_subset", "test_subset", "status",
              "test_acc", "best_test_acc", "wall_time_s"]
    metrics = {"test_loss", "train_acc", "train_loss", "flops", "params", "train_flops", "session_time_s"}
    # the short configuration fields that vary (a cfg list or a pruning plan is in the run's config.json)
    varying = [c for c in df.columns if c not in ("run_id", "history", "cfg", *metrics)
               and df[c].astype(str).nunique() > 1 and df[c].astype(str).str.len().max() <= 20]
    cols = [c for c in dict.fromkeys(wanted + varying) if c in df.columns]
    display(report.fold(report.show(df[["run_id", *cols]], formats={"width": "{:g}"}),
                        f"Every run in the store ({len(df)}), with the configuration fields that vary"))

# %% [markdown]
# ## Results from several machines
#
# A store can be filled in parts, on several machines, and merged: `nbprune export --store S --out DIR`
# writes each finished run's JSON files (config, metrics, provenance; no weights), `nbprune import DIR
# --store S` adds them to another store. A run id that arrives twice keeps the first copy: identical copies
# merge quietly, a copy with other metrics is reported with both provenances. Runs made from other data
# (another sha256) or under another `CONFIG_VERSION` are refused; runs made by other code or library versions
# are accepted and counted below, as in each chapter's box.
#
# What is bit-identical: a run repeated on the same device type, with the same thread count and the same
# library versions, gives the same weights and accuracies to the last bit (resumed or not). Anything else may
# differ in the last digits of every step, and so by a fraction of a point at the end: bf16 autocast on a CPU
# sums in an order that depends on the thread count (the `quick` VGG-16, seed 0, gave 60.94% on one thread and
# 60.68% on two), and GPUs and other torch versions use other kernels. On a CPU without bf16 hardware (no
# AVX-512 BF16 or AMX) nbprune computes bf16 autocast with fp32 kernels on bf16-rounded operands
# (`nbprune.precision`): the same exactly rounded results as bf16 hardware up to the order of summation, and
# faster than oneDNN's emulation (`nbprune bench --amp` on a 2-core AVX2 VM: 8.5 times for VGG-16 and 4 times
# for ResNet-56 at 1/8 width); each run's metrics say which way it computed bf16 (`bf16`).
# Such a difference is noise of the size the chapters' seed-to-seed spread already shows, not a different
# result.
#
# Replaying a run. The committed results carry no weights, so where a missing run needs its parent's weights
# (fine-tuning, a lottery ticket) the parent is trained again first (`nbprune grid --status` names such runs
# "blocked: parent has no weights"; move the parent's folder out of the store and the grid retrains it). The
# replay gives back the committed run to the last bit when the kernels sum in the same order: the same torch,
# thread count, bf16 way and instruction set. A run's metrics record its bf16 way (`bf16`) and its provenance
# the instruction set torch used (`cpu_capability`, recorded since December 2026). On a CPU with AVX-512 BF16
# a run made on an AVX2-only CPU (`bf16`: `rounded-fp32`) replays with `NBPRUNE_CPU_BF16=rounded
# ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2` in the environment, and a run
# made with bf16 hardware replays with none of them. Measured on a 2-core AMD EPYC with AVX-512 BF16 (one thread,
# torch 2.14.1): chapter 1's 64-epoch VGG-16 of seed 3, trained on an AVX2-only VM, replayed with every epoch's
# losses and accuracies identical (76.98% at the end), as did chapter 2's sparsity-trained VGG-19 of seed 2;
# with `NBPRUNE_CPU_BF16=rounded` alone (AVX-512 kernels) a committed VGG-16-A run's first epoch already
# differed (train loss 1.9583 against 1.9080).

# %% tags=["hide-input"]
from nbprune.provenance import compare_provenance, describe_differences, provenance

finished = [runs.path / r for r, s in zip(df.get("run_id", []), df.get("status", [])) if s == "finished"]
print(describe_differences(compare_provenance(finished, provenance(data=data, device=dev))))
