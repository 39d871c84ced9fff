"""Results as tables: the tidy results frame, paper-shaped tables, the budget ledger, architectures, widths,
and the run box that sets an execution beside the paper's settings.

Accuracies are in %; "final" is the last epoch's test accuracy (this project's primary number) and "best"
the best test accuracy over epochs (the paper's selection).
"""

from __future__ import annotations

import math

from pathlib import Path

import pandas as pd

from ..presets import get_preset

VARIANT_ORDER = ["unpruned", "sfp-trained", "pruned", "fine-tuned", "lr-rewinding", "slr", "clr", "scratch-e",
                 "scratch-b", "winning-ticket", "rewound-ticket", "random-init"]
VARIANT_LABELS = {"unpruned": "Unpruned", "fine-tuned": "Fine-tuned", "scratch-e": "Scratch-E",
                  "scratch-b": "Scratch-B", "winning-ticket": "Winning ticket", "random-init": "Random init",
                  "sfp-trained": "SFP-trained", "pruned": "Pruned", "lr-rewinding": "LR rewinding",
                  "slr": "Scaled LR restart", "clr": "Cyclic LR restart", "rewound-ticket": "Rewound ticket"}

PIPELINES = {"fine-tuned": "train large + prune + fine-tune", "scratch-e": "Scratch-E", "scratch-b": "Scratch-B",
             "winning-ticket": "train large + prune + retrain from its init", "random-init": "random init",
             "sfp-trained": "train with soft filter pruning", "pruned": "SFP training + removal (no fine-tuning)",
             "lr-rewinding": "train large + prune + retrain (its last epochs' lr)",
             "slr": "train large + prune + retrain (scaled lr restart)",
             "clr": "train large + prune + retrain (cyclic lr restart)",
             "rewound-ticket": "train large + prune + retrain from its early weights"}


def mean_std(values) -> str:
    """'93.41 ± 0.12' over seeds (std with n-1; the bare value for one seed, '-' for none)."""
    s = pd.Series(list(values), dtype=float)
    if s.empty:
        return "-"
    if len(s) == 1:
        return f"{s.iloc[0]:.2f}"
    return f"{s.mean():.2f} ± {s.std(ddof=1):.2f}"


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """Tidy results: one row per run with at least group columns, ``variant``, ``seed``, ``final``, ``best``."""
    df = pd.DataFrame(rows)
    if not df.empty and "variant" in df:
        df["variant"] = pd.Categorical(df["variant"], [v for v in VARIANT_ORDER if v in set(df["variant"])]
                                       + sorted(set(df["variant"]) - set(VARIANT_ORDER)), ordered=True)
    return df


def row_label(df: pd.DataFrame) -> pd.Series:
    """A readable name per result row: 'VGG-16 (unpruned)', 'VGG-16-A', 'VGG-19 70%'."""
    def one(r) -> str:
        if r["variant"] == "unpruned" or not r["target"]:
            return f"{r['model']} (unpruned)"
        return r["target"] if str(r["target"]).startswith(r["model"]) else f"{r['model']} {r['target']}"
    return df.apply(one, axis=1)


def paper_shaped_table(df: pd.DataFrame, group: list[str], paper: dict | None = None) -> pd.DataFrame:
    """Rows = ``group`` values, columns = variants: final and best accuracy (mean ± std over seeds) and the
    paper's value. Unpruned runs (variant "unpruned", empty target) fill the Unpruned columns of every row
    of their model, as in the paper's tables.

    ``paper`` maps (group values..., variant) -> (mean, std) from :func:`nbprune.paper.paper_value`.
    """
    def cells(row: dict, keys: tuple, variant: str, gv: pd.DataFrame) -> None:
        label = VARIANT_LABELS.get(variant, variant)
        row[f"{label} (final)"] = mean_std(gv["final"])
        row[f"{label} (best)"] = mean_std(gv["best"])
        ref = (paper or {}).get((*keys, variant))
        row[f"{label} (paper)"] = "-" if ref is None else (
            f"{ref[0]:.2f}" + ("" if math.isnan(ref[1]) else f" ± {ref[1]:.2f}"))

    unpruned = df[df["variant"] == "unpruned"]
    pruned = df[df["variant"] != "unpruned"]
    out = []
    for keys, g in pruned.groupby(group, observed=True, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        row = dict(zip(group, keys))
        base = unpruned[unpruned[group[0]] == keys[0]]
        if not base.empty:
            cells(row, (keys[0],) + ("",) * (len(keys) - 1), "unpruned", base)
        for variant, gv in g.groupby("variant", observed=True):
            cells(row, keys, variant, gv)
        out.append(row)
    return pd.DataFrame(out)


def ledger_table(df: pd.DataFrame) -> pd.DataFrame:
    """The budget ledger: training FLOPs and wall time of each pipeline, mean over seeds.

    A fine-tuned (or winning-ticket) model's pipeline includes training its large model; a model trained
    from scratch pays only for itself.
    """
    large = df[df["variant"] == "unpruned"].set_index(["model", "seed"])
    soft = df[df["variant"] == "sfp-trained"].set_index(["model", "target", "seed"])
    out = []
    for (model, target, variant), g in df[df["variant"] != "unpruned"].groupby(["model", "target", "variant"],
                                                                              observed=True, sort=False):
        flops, wall = g["train_flops"].astype(float).to_numpy(), g["wall_time_s"].astype(float).to_numpy()
        parent, keys = None, None
        if variant in ("fine-tuned", "winning-ticket", "rewound-ticket", "lr-rewinding", "slr", "clr"):  # they include the large model
            parent, keys = large, list(zip(g["model"], g["seed"]))
        elif variant == "pruned":  # Soft Filter Pruning's result: its pipeline is the SFP training
            parent, keys = soft, list(zip(g["model"], g["target"], g["seed"]))
        if parent is not None:
            flops = flops + parent.loc[keys, "train_flops"].astype(float).to_numpy()
            wall = wall + parent.loc[keys, "wall_time_s"].astype(float).to_numpy()
        out.append({"model": model, "pruned": target, "pipeline": PIPELINES.get(variant, variant),
                    "epochs": int(g["epochs"].iloc[0]), "training PFLOP": f"{flops.mean() / 1e15:.3g}",
                    "wall time (s)": f"{wall.mean():.0f}"})
    return pd.DataFrame(out)


def architecture_table(names: list[str], num_classes: int = 10) -> pd.DataFrame:
    """Params, FLOPs per image and conv sizes of models at the paper's width; for named pruned targets also
    the FLOPs saved against their base and the Scratch-B epochs of a 160-epoch budget."""
    import torch  # torch, the models and the FLOPs counter only when the table is made

    from ..flops import count_flops, count_params, scratch_b_epochs
    from ..models import create_model, list_targets

    flops, rows = {}, []
    for name in names:
        model = create_model(name, num_classes=num_classes)
        flops[name] = count_flops(model)
        convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
        row = {"model": name, "params": f"{count_params(model):,}", "FLOPs/image": f"{flops[name]:,}",
               "conv layers": len(convs), "conv channels": sum(c.out_channels for c in convs),
               "pruned from": "-", "FLOPs saved": "-", "Scratch-B epochs": "-"}
        if name in list_targets():
            base = model.arch
            if base not in flops:
                flops[base] = count_flops(create_model(base, num_classes=num_classes))
            row.update({"pruned from": base, "FLOPs saved": f"{100 * (1 - flops[name] / flops[base]):.1f}%",
                        "Scratch-B epochs": scratch_b_epochs(flops[base], flops[name], 160)})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")


def _architecture(config):
    """The architecture of a run's config, without its weights (a run imported from results has none)."""
    from ..config import _thaw
    from ..data import DATASETS
    from ..models import create_model

    cfg = None if config.cfg is None else _thaw(config.cfg)
    return create_model(config.model, num_classes=DATASETS[config.dataset], cfg=cfg, width=config.width,
                        **dict(config.model_kwargs))


def widths_table(chains) -> pd.DataFrame:
    """Kept channels per pruned unit, mean ± std over the chains (seeds) of each experiment (Table 7 style).

    ``chains`` is a list of (experiment, chain) pairs as a grid's results hold them; chains whose plan
    records no per-unit ``widths`` (unstructured or predefined pruning) are skipped.
    """
    rows = {}
    for exp, chain in chains:
        widths = chain.plan.info.get("widths")
        if not widths:
            continue
        from ..prune.surgery import channel_units  # imports torchvision: only for plans with widths

        sizes = {name: u.size for name, u in channel_units(_architecture(chain.large.config)).items()}
        for unit, w in sorted(widths.items(), key=lambda kv: list(sizes).index(kv[0]) if kv[0] in sizes else len(sizes)):
            rows.setdefault((exp.paper_model, exp.label, unit), {"size": sizes.get(unit), "kept": []})["kept"].append(w)
    out = [{"model": m, "pruned": label, "layer": unit, "width": v["size"], "kept": mean_std(v["kept"]),
            "kept %": f"{100 * pd.Series(v['kept']).mean() / v['size']:.0f}%" if v["size"] else "-"}
           for (m, label, unit), v in rows.items()]
    return pd.DataFrame(out).set_index(["model", "pruned", "layer"]) if out else pd.DataFrame()


def run_box(preset, seeds: list[int], data, device, extra: list[str] | None = None) -> str:
    """Markdown: the settings of this execution next to the paper's, and every way it differs."""
    from ..provenance import device_name  # imports torch: only when a run box is made

    p = get_preset(preset)
    src = data.describe()
    n_train, n_test = 50_000, 10_000
    setting = [
        ("preset", f"`{p.name}`: {p.description}", "-"),
        ("seeds", ", ".join(map(str, seeds)), "5 seeds, mean ± std"),
        ("epochs (large model)", p.epochs, 160),
        ("fine-tuning epochs", p.finetune_epochs, 40),
        ("width (channel multiplier)", f"{p.width:g}", 1),
        ("training images", f"{src['train']:,} of {n_train:,}", f"{n_train:,}"),
        ("test images", f"{src['test']:,} of {n_test:,}", f"{n_test:,}"),
        ("batch size", p.batch_size, 64),
        ("precision", "bf16 autocast, fp32 weights" if p.amp else "fp32", "fp32"),
        ("data", f"`{Path(str(src['source'])).name}`", "original CIFAR"),  # a file by name, not a machine path
        ("data sha256", f"`{src['sha256'][:16]}…`", "-"),
        ("device", device_name(device), "GPU"),
        ("accuracy reported", "final epoch (best over epochs beside it)", "best test accuracy over epochs"),
        ("verdicts", f"paired by seed; equivalence (TOST) within ±{p.margin:g} points, fixed before the runs",
         "mean ± std, no test"),
    ]
    diffs = []
    if p.epochs != 160 or p.finetune_epochs != 40:
        diffs.append(f"trains for {p.epochs} epochs instead of 160 and fine-tunes for {p.finetune_epochs} instead of "
                     "40 (lr steps at 50% and 75% of the epochs, Scratch-B epochs scale with the FLOPs ratio)")
    if p.width != 1:
        diffs.append(f"every layer has {p.width:g}x the paper's channels (about {1 / p.width ** 2:.0f}x fewer FLOPs)")
    if src["train"] < n_train:
        diffs.append(f"trains on a fixed random subset of {src['train']:,} training images")
    if src["test"] < n_test:
        diffs.append(f"evaluates on a fixed random subset of {src['test']:,} test images")
    if p.amp:
        diffs.append("convolutions and linear layers run in bfloat16 (autocast; weights, optimizer and loss in "
                     "fp32), for speed")
    if len(seeds) != 5:
        diffs.append(f"{len(seeds)} seed(s) instead of 5")
    if "jpeg" in src["source"].lower():
        diffs.append("the images are a lossy JPEG re-encoding of CIFAR-10, so accuracies are lower than on the "
                     "original: compare methods with each other, and with the paper only with that in mind")
    diffs.append("the primary number is the final-epoch test accuracy; the paper's code keeps the best test "
                 "accuracy over epochs, shown beside it")
    diffs.append("SGD uses momentum 0.9 without Nesterov, as the authors' code does (the paper's text says Nesterov)")
    diffs.append("every from-scratch run (Scratch-E/B, random-init controls) draws its initial weights from a seed "
                 "stream of its own, so it shares no initial value with the large model of the same seed")
    diffs += list(extra or [])
    table = "\n".join(f"| {k} | {v} | {q} |" for k, v, q in setting)
    return ("| setting | this run | paper |\n|---|---|---|\n" + table + "\n\n**How this run differs from the paper:**\n\n"
            + "\n".join(f"- {d}" for d in diffs))
