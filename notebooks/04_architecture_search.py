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
models = ["vgg16"]  # the unpruned base models this chapter trains
seeds = None  # None: the preset's seeds; else a list of ints
device = "auto"  # auto (CUDA when available, else CPU) | cpu | cuda[:N]
data_root = None  # None: $NBPRUNE_DATA, else torchvision's download
store = None  # run store directory; None: $NBPRUNE_STORE, else ./store

# %%
# %matplotlib inline
import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import Markdown, display
from matplotlib.ticker import MaxNLocator

from nbprune import data as nbdata
from nbprune.flops import count_flops, count_params, scratch_b_epochs
from nbprune.models import create_model, list_targets, named_target_cfg
from nbprune.presets import get_preset
from nbprune.provenance import device_name
from nbprune.report import curve_figure, mean_std
from nbprune.report import paper_table as paper_rows
from nbprune.runs import RunStore
from nbprune.train import RunConfig, resolve_device

# Check every parameter before doing any work: a typo fails here, with one line naming it.
P = get_preset(preset)
if isinstance(models, str) or not isinstance(models, (list, tuple)) or not models:
    raise ValueError(f"models: must be a non-empty list of model names, got {models!r}")
for name in models:
    create_model(name, num_classes=nbdata.DATASETS.get(dataset, 10), width=P.width)
if seeds is not None and (isinstance(seeds, (str, int)) or not seeds):
    raise ValueError(f"seeds: must be None or a non-empty list of ints, got {seeds!r}")
seeds = list(P.seeds if seeds is None else seeds)
configs = [RunConfig.from_preset(P, model=name, dataset=dataset, seed=seed) for name in models for seed in seeds]
dev = resolve_device(device)
nbdata.resolve_root(data_root)
runs = RunStore(store)
print(f"preset {P.name!r}: {len(configs)} run(s) = {', '.join(models)} x seeds {seeds}; store {runs.path}")

# %% [markdown]
# ## This run
#
# How much of the paper's protocol this execution of the chapter follows. The numbers below are only
# comparable with the paper's under the `paper` preset (and then with the data caveat, if any).

# %%
data = nbdata.load_cifar(dataset, data_root, train_subset=P.train_subset, test_subset=P.test_subset)
src = data.describe()
n_train, n_test = 50_000, 10_000  # CIFAR-10 and CIFAR-100 alike
setting = [
    ("preset", f"`{P.name}`: {P.description}", "-"),
    ("seeds", ", ".join(map(str, seeds)), "5 seeds, mean ± std"),
    ("epochs (large model)", P.epochs, 160),
    ("fine-tuning epochs", P.finetune_epochs, 40),
    ("width (channel multiplier)", f"{P.width:g}", 1),
    ("training images", f"{src['train']:,} of {n_train:,}", f"{n_train:,}"),
    ("test images", f"{src['test']:,} of {n_test:,}", f"{n_test:,}"),
    ("batch size", P.batch_size, 64),
    ("data", f"`{src['source']}`", {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}[dataset] + " (original images)"),
    ("data sha256", f"`{src['sha256']}`", "-"),
    ("device", device_name(dev), "GPU"),
    ("accuracy reported", "final epoch (best over epochs beside it)", "best test accuracy over epochs"),
]
differences = []
if P.epochs != 160 or P.finetune_epochs != 40:
    differences.append(f"trains for {P.epochs} epoch(s) instead of 160 and fine-tunes for {P.finetune_epochs} instead "
                       "of 40 (the lr still steps down at 50% and 75% of the epochs)")
if P.width != 1:
    differences.append(f"every layer has {P.width:g}x the paper's channels (about {1 / P.width ** 2:.0f}x fewer "
                       "FLOPs); the architecture table below is at the paper's width")
if src["train"] < n_train:
    differences.append(f"trains on a fixed random subset of {src['train']:,} training images")
if src["test"] < n_test:
    differences.append(f"evaluates on a fixed random subset of {src['test']:,} test images")
if len(seeds) != 5:
    differences.append(f"{len(seeds)} seed(s) instead of 5")
if "jpeg" in src["source"].lower():
    differences.append("the images are a lossy JPEG re-encoding of CIFAR-10, so accuracies are somewhat lower than on "
                       "the original: compare methods with each other, and with the paper only with that in mind")
differences.append("the primary number is the final-epoch test accuracy; the paper's reference code keeps the best "
                   "test accuracy over epochs, which is shown beside it")
table = "\n".join(f"| {k} | {v} | {p} |" for k, v, p in setting)
display(Markdown("| setting | this run | paper |\n|---|---|---|\n" + table
                 + "\n\n**How this run differs from the paper:**\n\n" + "\n".join(f"- {d}" for d in differences)))

# %% [markdown]
# ## The architectures at the paper's width
#
# The unpruned models whose pruned architectures Section 5 studies, on CIFAR-10 (Figures 3, 5 and 6 use them on
# CIFAR-10 and CIFAR-100). *Conv channels* and *conv weights* are what channel pruning and weight pruning remove.
#
# FLOPs are per image, in the paper's convention: a conv counts 2·k²·C_in·C_out·H_out·W_out, BatchNorm 2 and
# ReLU 1 per output element, pooling k² per output element, a Linear 2·in·out + out. The table does not depend
# on the preset (it is the paper's full-size, 10-class models), so `make test` checks it cell for cell.

# %%
# NBVAL_CHECK_OUTPUT
ARCHS = ["vgg16", "vgg19", "preresnet164", "preresnet110", "densenet40"]
flops, rows = {}, []
for name in ARCHS:
    model = create_model(name, num_classes=10)
    flops[name] = count_flops(model)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    row = {"model": name, "params": f"{count_params(model):,}", "FLOPs/image": f"{flops[name]:,}",
           "conv layers": len(convs), "conv channels": sum(c.out_channels for c in convs),
           "conv weights": f"{sum(c.weight.numel() for c in convs):,}",
           "pruned from": "-", "FLOPs saved": "-", "Scratch-B epochs": "-"}
    if name in list_targets():
        base = model.arch
        flops.setdefault(base, count_flops(create_model(base, num_classes=10)))
        row.update({"pruned from": base, "FLOPs saved": f"{100 * (1 - flops[name] / flops[base]):.1f}%",
                    "Scratch-B epochs": scratch_b_epochs(flops[base], flops[name], 160)})
    rows.append(row)
print(pd.DataFrame(rows).set_index("model").to_string())
for name in ARCHS:
    if name in list_targets():
        print(f"{name} cfg: {named_target_cfg(name)}")

# %% [markdown]
# ## The paper's numbers
#
# Figures 3–6 are plots; their numbers are not in the text. Table 7 lists the widths Network Slimming leaves in
# VGG-16 at 60% channels removed (mean ± std over 5 runs); Tables 21 and 18 give the fraction of channels kept per
# stage at each total prune ratio, for VGG-16 (far from uniform) and PreResNet-164 (nearly uniform).
#
# Top-1 test accuracy in %, mean ± std over 5 runs on CIFAR (one run on ImageNet); signed numbers are
# changes from the unpruned model in points. † marks a cell whose place in the paper's table had to be
# inferred from the PDF's text layout (the `note` column of `nbprune/reference/paper_tables.csv` says how).

# %%
def paper_table(*tables):
    """The paper's numbers for some tables, one row per (table, dataset, model, pruned model)."""
    t = pd.concat([paper_rows(table) for table in tables], ignore_index=True)

    def cell(r):
        value = f"{r['mean']:+.2f}" if r["metric"].endswith("_drop") else f"{r['mean']:.2f}"
        value += "" if pd.isna(r["std"]) else f" ± {r['std']:.2f}"
        return value + (" †" if "UNCERTAIN" in r["note"] else "")

    t = t.assign(value=t.apply(cell, axis=1))
    wide = t.pivot_table(index=["table", "dataset", "model", "target"], columns="variant", values="value",
                         aggfunc=" / ".join, sort=False)
    wide = wide[list(t["variant"].unique())].fillna("")
    wide.index.names = ["table", "dataset", "model", "pruned model"]
    wide.columns.name = None
    return wide


t7 = paper_rows("7")
t7["layer"] = t7["note"].str.split(" [(;]", regex=True).str[0]
t7["value"] = [f"{m:g}" + ("" if pd.isna(s) else f" ± {s:g}") for m, s in zip(t7["mean"], t7["std"])]
widths = t7.pivot_table(index="layer", columns="variant", values="value", aggfunc="first", sort=False)
widths.columns.name = None
display(widths.rename(columns={"unpruned": "Width (VGG-16)", "pruned": "Width* (60% of channels pruned)"}))
for table in ("21", "18"):
    t = paper_rows(table)
    kept = t.assign(stage=t["note"].str.split(";").str[0]).pivot_table(
        index=["table", "model", "stage"], columns="target", values="mean", sort=False)
    kept.columns.name = "fraction of channels kept, at total prune ratio"
    display(kept)

# %% [markdown]
# ## Training the unpruned base model
#
# The unpruned VGG-16 on CIFAR-10, trained with the paper's recipe at this run's budget, once per seed. Slimming
# it at several ratios gives the "pruned" curve of Figure 3; uniform and guided architectures are trained from
# scratch next to it.
#
# Every run goes through the run store: a run whose configuration was trained before is read back instead of
# trained again, so re-executing the chapter is cheap.

# %%
results, curves = [], []
for config in configs:
    res = runs.run(config, data_root=data_root, device=device, progress=False)
    m = res.metrics
    results.append({"model": config.model, "seed": config.seed, "run": res.run_id, "epochs": m["epochs"],
                    "test acc (%)": m["test_acc"], "best test acc (%)": m["best_test_acc"],
                    "params": m["params"], "FLOPs/image": m["flops"], "train FLOPs": m["train_flops"],
                    "wall time (s)": m["wall_time_s"]})
    curves.append(res.history.assign(model=config.model, seed=config.seed))
    print(f"{config.model:<14} seed {config.seed}: test acc {m['test_acc']:6.2f}% (best {m['best_test_acc']:6.2f}%) "
          f"after {m['epochs']} epoch(s), {m['wall_time_s']:.0f} s, run {res.run_id}")
per_run = pd.DataFrame(results)
curves = pd.concat(curves, ignore_index=True)

# %%
labels = {name: f"{name} ({g['seed'].nunique()} seed(s))" for name, g in curves.groupby("model", sort=False)}
ax = curve_figure(curves.assign(label=curves["model"].map(labels)),
                  title=f"Chapter 4: unpruned base models, preset {P.name!r} (mean ± std over seeds)")
ax.axhline(100 / data.num_classes, color="gray", linestyle=":", label="chance")
ax.set_xlim(0.5, curves["epoch"].max() + 0.5)
ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
ax.grid(alpha=0.3)
ax.legend(title=None, fontsize=8)
plt.show()


# %%
summary = per_run.groupby("model", sort=False).agg(
    seeds=("seed", "count"), epochs=("epochs", "first"), params=("params", "first"),
    flops=("FLOPs/image", "first"), test_acc=("test acc (%)", mean_std),
    best_test_acc=("best test acc (%)", mean_std), train_flops=("train FLOPs", "mean"),
    wall_time=("wall time (s)", "mean"),
).rename(columns={"flops": "FLOPs/image", "test_acc": "test acc (%)", "best_test_acc": "best test acc (%)",
                  "train_flops": "train FLOPs per run", "wall_time": "wall time per run (s)"})
summary["params"] = summary["params"].map("{:,}".format)
summary["FLOPs/image"] = summary["FLOPs/image"].map("{:,}".format)
summary["train FLOPs per run"] = summary["train FLOPs per run"].map("{:.3g}".format)
summary["wall time per run (s)"] = summary["wall time per run (s)"].map("{:.1f}".format)
display(summary)
display(per_run.set_index(["model", "seed"]).round(2))

# %% [markdown]
# ## Reading this chapter
#
# Under `smoke` the accuracies mean nothing; under `quick` they show the trend at a small scale.
#
# *Still to come in this chapter:* accuracy against parameter count for slimmed, uniformly pruned and guided
# VGG-16 architectures (Figure 3 left and Figure 6), all trained from scratch, and the per-layer widths found
# by slimming against Table 7.
