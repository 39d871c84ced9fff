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
# store (`provenance.json`), and the table at the end lists the runs the store holds.

# %% tags=["parameters"]
preset = "quick"  # smoke | quick | paper
dataset = "cifar10"  # cifar10 | cifar100
models = ["vgg16", "resnet56", "vgg19"]  # the base models the chapters train (sizes at this preset below)
seeds = None  # None: the preset's seeds
device = "auto"  # auto | cpu | cuda[:N]
data_root = None  # None: $NBPRUNE_DATA, else torchvision's download
store = None  # run store directory; None: $NBPRUNE_STORE, else ./store

# %%
import platform
import sys

import pandas as pd
import torch
from IPython.display import display

import nbprune
from nbprune import data as nbdata
from nbprune.flops import count_flops, count_params
from nbprune.models import create_model
from nbprune.presets import get_preset, preset_table
from nbprune.provenance import device_name, git_commit, package_versions
from nbprune.runs import RunStore
from nbprune.train import resolve_device

# Check every parameter before doing any work: a typo fails here, with one line naming it.
P = get_preset(preset)
if isinstance(models, str) or not isinstance(models, (list, tuple)):
    raise ValueError(f"models: must be a list of model names, got {models!r}")
num_classes = nbdata.DATASETS.get(dataset)
if num_classes is None:
    raise ValueError(f"dataset: unknown {dataset!r}; allowed: {', '.join(nbdata.DATASETS)}")
for name in models:
    create_model(name, num_classes=num_classes, width=P.width)
seeds = list(P.seeds if seeds is None else seeds)
dev = resolve_device(device)
nbdata.resolve_root(data_root)
runs = RunStore(store)

# %% [markdown]
# ## Software and machine

# %%
env = {
    "nbprune": nbprune.__version__,
    "git commit": git_commit() or "(not a git checkout)",
    "python": f"{platform.python_version()} ({sys.executable})",
    "platform": platform.platform(),
    "device used": device_name(dev),
    "CUDA available": torch.cuda.is_available(),
    "torch threads": torch.get_num_threads(),
    **{f"package: {k}": v or "(not installed)" for k, v in package_versions().items()},
}
display(pd.DataFrame({"value": env}).rename_axis("item"))

# %% [markdown]
# ## Data
#
# The data source is `data_root`, else the `NBPRUNE_DATA` environment variable (an ImageFolder directory or a
# `.tar.gz` of one), else torchvision's download. Its sha256 identifies the exact images; a decoded copy is
# cached under `~/.cache/nbprune` (or `$NBPRUNE_CACHE`), keyed by that checksum.

# %%
data = nbdata.load_cifar(dataset, data_root, train_subset=P.train_subset, test_subset=P.test_subset)
display(pd.DataFrame({"value": {**data.describe(), "classes": ", ".join(data.classes)}}).rename_axis("item"))

# %% [markdown]
# ## Presets
#
# One parameter, `preset`, sets the budget of every chapter. `None` means the paper's value (all images).
# This run used the preset named in the parameters cell above.

# %%
# NBVAL_CHECK_OUTPUT
presets = preset_table()
for col in ("train_subset", "test_subset"):
    presets[col] = presets[col].map(lambda v: "all" if pd.isna(v) else f"{int(v):,}")
print(presets.drop(columns="description").to_string())
for name, text in presets["description"].items():
    print(f"{name}: {text}")

# %% [markdown]
# ## The base models at this run's width
#
# The chapters' tables of architectures are at the paper's width; these are the sizes actually trained under
# this preset.

# %%
sizes = []
for name in models:
    model = create_model(name, num_classes=num_classes, width=P.width)
    sizes.append({"model": name, "width": P.width, "params": f"{count_params(model):,}",
                  "FLOPs/image": f"{count_flops(model):,}"})
display(pd.DataFrame(sizes).set_index("model"))

# %% [markdown]
# ## Runs in the store
#
# Every run the store holds, with the configuration fields that vary between runs and its final metrics.
# Run ids are hashes of the configuration: the same configuration always maps to the same directory.

# %%
df = runs.dataframe()
print(f"{len(df)} run(s) in {runs.path}")
if len(df):
    varying = [c for c in df.columns if c != "run_id" and df[c].astype(str).nunique() > 1]
    wanted = ["model", "dataset", "width", "epochs", "seed", "train_subset", "test_subset", "status",
              "test_acc", "best_test_acc", "wall_time_s"]
    cols = [c for c in dict.fromkeys(wanted + varying) if c in df.columns and c not in ("history", "cfg")]
    display(df.set_index("run_id")[cols].round(2))

# %% [markdown]
# ## Bad input: what each mistake gets
#
# Every parameter a user types is checked before any work starts; a mistake gets one line naming the
# parameter and what is allowed (on the command line: no traceback, exit status 2). The table is produced by
# running each case now, so it always shows the current messages; `make test` checks it cell for cell, and the
# unit tests check the same cases.

# %%
# NBVAL_CHECK_OUTPUT
import contextlib
import io

from nbprune.cli import main as nbprune_cli
from nbprune.grids import l1_grid
from nbprune.presets import resolve_seeds
from nbprune.prune import make_plan
from nbprune.train import RunConfig

CLI_CASES = [
    ["info", "resnt56"],
    ["info", "vgg16", "--width", "0"],
    ["train", "--model", "vgg16", "--epochs", "-3"],
    ["train", "--model", "vgg16", "--preset", "quik"],
    ["train", "--model", "vgg16", "--epochs", "1", "--data", "/no/such/dir"],
]
API_CASES = {
    "create_model('vgg16', cfg=[64, 0, 'M'])": lambda: create_model("vgg16", cfg=[64, 0, "M"]),
    "RunConfig(model='vgg16', epochs=-1)": lambda: RunConfig(model="vgg16", epochs=-1),
    "RunConfig(model='vgg16', dataset='cifar1000')": lambda: RunConfig(model="vgg16", dataset="cifar1000"),
    "get_preset('quik')": lambda: get_preset("quik"),
    "resolve_seeds('0,1', 'quick')": lambda: resolve_seeds("0,1", "quick"),
    "l1_grid(['vgg16-c'])": lambda: l1_grid(["vgg16-c"]),
    "make_plan(vgg16, 'magnitude', fraction=1.0)": lambda: make_plan(create_model("vgg16", width=0.125), "magnitude", fraction=1.0),
    "make_plan(vgg16, 'slimmming', fraction=0.5)": lambda: make_plan(create_model("vgg16", width=0.125), "slimmming", fraction=0.5),
    "load_cifar('cifar10', '/no/such/dir')": lambda: nbdata.load_cifar("cifar10", "/no/such/dir"),
}
cases = []
for argv in CLI_CASES:
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            status = nbprune_cli(argv)
        except SystemExit as e:  # argparse's own checks exit directly
            status = e.code
    cases.append(("nbprune " + " ".join(argv), f"exit {status}: {err.getvalue().strip()}"))
for call, fn in API_CASES.items():
    try:
        fn()
        cases.append((call, "accepted (a bug: it should have been rejected)"))
    except (ValueError, FileNotFoundError) as e:
        cases.append((call, f"{type(e).__name__}: {e}"))
for call, message in cases:
    print(f"{call}\n    -> {message}")
