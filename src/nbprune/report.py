"""Report helpers for the notebooks: the paper's numbers, seed summaries, paired statistics, figures.

Conventions: accuracies are in %; "final" is the last epoch's test accuracy (this project's primary
number) and "best" the best test accuracy over epochs (the paper's selection). Paired statistics compare
runs that share a seed and a pruned architecture (e.g. Scratch-B - Fine-tuned per seed), with a 95%
t-interval over seeds.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import pandas as pd

VARIANT_ORDER = ["unpruned", "sfp-trained", "pruned", "fine-tuned", "scratch-e", "scratch-b", "winning-ticket",
                 "random-init"]
VARIANT_LABELS = {"unpruned": "Unpruned", "fine-tuned": "Fine-tuned", "scratch-e": "Scratch-E",
                  "scratch-b": "Scratch-B", "winning-ticket": "Winning ticket", "random-init": "Random init",
                  "sfp-trained": "SFP-trained", "pruned": "Pruned"}


@lru_cache(maxsize=1)
def _paper() -> pd.DataFrame:
    with resources.files("nbprune").joinpath("reference/paper_tables.csv").open() as f:
        df = pd.read_csv(f, dtype={"table": str})
    for col in ("target", "note"):
        df[col] = df[col].fillna("")
    return df


def paper_table(table: str | int | None = None, dataset: str | None = None) -> pd.DataFrame:
    """The paper's tables as tidy rows (table, dataset, model, target, variant, metric, mean, std, note)."""
    df = _paper()
    if table is not None:
        tables = sorted(df["table"].unique(), key=lambda t: (len(t), t))
        if str(table) not in tables:
            raise ValueError(f"table: unknown {str(table)!r}; allowed: {', '.join(tables)}")
        df = df[df["table"] == str(table)]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    return df.reset_index(drop=True)


def paper_value(table: str | int, dataset: str, model: str, target: str, variant: str,
                metric: str = "top1_acc", note: str | None = None) -> tuple[float, float] | None:
    """(mean, std) the paper reports for one cell, or None if it has no such cell."""
    df = paper_table(table, dataset)
    sel = (df["model"] == model) & (df["target"] == target) & (df["variant"] == variant) & (df["metric"] == metric)
    if note is not None:
        sel &= df["note"].str.contains(note, regex=False)
    rows = df[sel]
    if rows.empty:
        return None
    return float(rows["mean"].iloc[0]), float(rows["std"].iloc[0]) if pd.notna(rows["std"].iloc[0]) else float("nan")


def mean_std(values) -> str:
    """'93.41 ± 0.12' over seeds (std with n-1; '± n/a' for one seed)."""
    s = pd.Series(list(values), dtype=float)
    if s.empty:
        return "-"
    if len(s) == 1:
        return f"{s.iloc[0]:.2f}"
    return f"{s.mean():.2f} ± {s.std(ddof=1):.2f}"


def t_interval(diffs, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the t-interval of the mean of paired differences (nan bounds for n < 2)."""
    from scipy import stats

    s = pd.Series(list(diffs), dtype=float)
    n = len(s)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(s.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * s.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half


# The paper's claim about each pair (a, b), in the terms of :func:`nbprune.stats.agreement`
PAIR_CLAIMS = {("scratch-e", "fine-tuned"): "a >= b", ("scratch-b", "fine-tuned"): "a >= b",
               ("scratch-e", "pruned"): "a >= b", ("scratch-b", "pruned"): "a >= b",
               ("winning-ticket", "random-init"): "a <= b"}  # at lr 0.1 a winning ticket is no better


def _side(variant: str) -> str:
    return "scratch" if variant.startswith("scratch") else VARIANT_LABELS.get(variant, variant).lower()


def paired_stats(df: pd.DataFrame, group: list[str], pairs: list[tuple[str, str]], paper: dict | None = None,
                 margin: float = 1.0, value: str = "final") -> list[dict]:
    """Per group and pair (a, b): the per-seed differences a - b compared by :func:`nbprune.stats.compare`
    against ``margin`` (accuracy points), with the paper's difference for the row; numbers, not text."""
    from .stats import compare

    out = []
    for keys, g in df.groupby(group, observed=True, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        for a, b in pairs:
            wide = g[g["variant"].isin([a, b])].pivot_table(index="seed", columns="variant", values=value,
                                                               observed=True)
            if a not in wide or b not in wide:
                continue
            diffs = (wide[a] - wide[b]).dropna()
            if diffs.empty:
                continue
            pa, pb = (paper or {}).get((*keys, a)), (paper or {}).get((*keys, b))
            out.append({"keys": dict(zip(group, keys)), "a": a, "b": b, "cmp": compare(diffs, margin),
                        "paper": None if pa is None or pb is None else pa[0] - pb[0]})
    return out


def _interval(lo: float, hi: float) -> str:
    return "n/a" if math.isnan(lo) else f"[{lo:.2f}, {hi:.2f}]"


def _verdict_row(keys: dict, label: str, c, verdict: str, paper: str, agrees: str) -> dict:
    return {**keys, "comparison": label, "seeds": c.n, "mean diff": round(c.mean, 2),
            "95% CI": _interval(c.low95, c.high95), "90% CI": _interval(c.low90, c.high90),
            "paper": paper, "verdict": verdict, "paper's claim": agrees}


# Section 5's comparisons of architectures at the same fraction of channels (all Scratch-E): (a, b, what the
# paper found: the better one, or "neither" for "about as good")
SEARCH_COMPARISONS = [("slimming", "uniform-channels", "a > b"),
                      ("guided-channels", "uniform-channels", "a > b"),
                      ("guided-channels", "slimming", "a = b"),
                      ("magnitude", "uniform-sparsity", None),  # Figure 3's unstructured curve: no claim tabulated
                      ("guided-sparsity", "uniform-sparsity", None)]
CLAIM_WORDS = {"a > b": "{a} better", "b > a": "{b} better", "a = b": "about equal", "a >= b": "{a} as good or better",
               "a <= b": "{a} no better"}


def search_stats(df: pd.DataFrame, margin: float = 1.0) -> list[dict]:
    """Section 5's comparisons of architectures at the same fraction pruned (all Scratch-E), paired by seed."""
    from .stats import compare

    points = df[df["variant"] == "scratch-e"]
    pairs = points.assign(fraction=points["target"].str.split().str[-1]).pivot_table(
        index=["model", "fraction", "seed"], columns="method", values="final", observed=True)
    out = []
    for (model, fraction), g in pairs.groupby(level=["model", "fraction"], sort=False):
        for a, b, claim in SEARCH_COMPARISONS:
            if a not in g or b not in g:
                continue
            d = (g[a] - g[b]).dropna()
            if not d.empty:
                out.append({"keys": {"model": model, "pruned": fraction}, "a": a, "b": b, "claim": claim,
                            "cmp": compare(d, margin), "paper": None})
    return out


def search_pairs(df: pd.DataFrame, margin: float = 1.0) -> pd.DataFrame:
    """:func:`search_stats` as a table: interval, verdict and whether it supports the paper's finding."""
    from .stats import agreement

    rows = []
    for r in search_stats(df, margin):
        a, b, claim, c = r["a"], r["b"], r["claim"], r["cmp"]
        words = "-" if claim is None else CLAIM_WORDS[claim].format(a=a, b=b)
        agrees = "-" if claim is None else agreement(c.outcome, claim)
        rows.append(_verdict_row(r["keys"], f"{a} - {b}", c, c.text(a, b), words, agrees))
    return pd.DataFrame(rows)


def results_frame(rows: list[dict]) -> pd.DataFrame:
    """Tidy results: one row per run with at least group columns, ``variant``, ``seed``, ``final``, ``best``."""
    df = pd.DataFrame(rows)
    if not df.empty and "variant" in df:
        df["variant"] = pd.Categorical(df["variant"], [v for v in VARIANT_ORDER if v in set(df["variant"])]
                                       + sorted(set(df["variant"]) - set(VARIANT_ORDER)), ordered=True)
    return df


def paper_shaped_table(df: pd.DataFrame, group: list[str], paper: dict | None = None) -> pd.DataFrame:
    """Rows = ``group`` values, columns = variants: final and best accuracy (mean ± std over seeds) and the
    paper's value. Unpruned runs (variant "unpruned", empty target) fill the Unpruned columns of every row
    of their model, as in the paper's tables.

    ``paper`` maps (group values..., variant) -> (mean, std) from :func:`paper_value`.
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


def paired_table(df: pd.DataFrame, group: list[str], pairs: list[tuple[str, str]],
                 paper: dict | None = None, margin: float = 1.0, value: str = "final") -> pd.DataFrame:
    """Per group and pair (a, b): the mean per-seed difference a - b, its 95% and 90% intervals, the verdict
    of :func:`nbprune.stats.compare` at ``margin`` and whether it supports the paper's claim about the pair."""
    from .stats import agreement

    rows = []
    for r in paired_stats(df, group, pairs, paper, margin, value):
        a, b, c = r["a"], r["b"], r["cmp"]
        claim = PAIR_CLAIMS.get((a, b))
        paper_diff = "-" if r["paper"] is None else f"{r['paper']:+.2f}"
        rows.append(_verdict_row(r["keys"], f"{VARIANT_LABELS.get(a, a)} - {VARIANT_LABELS.get(b, b)}", c,
                                 c.text(_side(a), _side(b)), paper_diff,
                                 "-" if claim is None else agreement(c.outcome, claim)))
    return pd.DataFrame(rows)


def forest_figure(stats_rows: list[dict], margin: float, title: str, ax=None):
    """Each comparison's mean paired difference with its 95% (thin) and 90% (thick) intervals, the ±margin
    band of the equivalence test, and the paper's difference (a cross) where it has one."""
    import matplotlib.pyplot as plt

    _style()
    n = len(stats_rows)
    if ax is None:
        _, ax = plt.subplots(figsize=(8.4, max(2.2, 0.45 * n + 1.4)))
    ax.axvspan(-margin, margin, color="tab:green", alpha=0.12, label=f"equivalence margin ±{margin:g}")
    ax.axvline(0, color="0.4", lw=0.8)
    labels, paper_shown = [], False
    for i, r in enumerate(stats_rows):
        c, y = r["cmp"], n - 1 - i
        if not math.isnan(c.low95):
            ax.plot([c.low95, c.high95], [y, y], color="tab:blue", lw=1.2)
            ax.plot([c.low90, c.high90], [y, y], color="tab:blue", lw=3.5)
        ax.plot([c.mean], [y], "o", color="tab:blue", label="ours: mean, 90% and 95% interval" if i == 0 else None)
        if r.get("paper") is not None:
            ax.plot([r["paper"]], [y], "x", color="tab:red", ms=8, label=None if paper_shown else "paper")
            paper_shown = True
        keys = " ".join(str(v) for v in r["keys"].values())
        labels.append(f"{keys}: {VARIANT_LABELS.get(r['a'], r['a'])} - {VARIANT_LABELS.get(r['b'], r['b'])}")
    ax.set_yticks(range(n))
    ax.set_yticklabels(reversed(labels))
    ax.set_xlabel("difference in test accuracy (points, final epoch)")
    ax.set_title(title)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.25 if n > 2 else -0.45), ncol=2, frameon=False)
    ax.grid(axis="x", alpha=0.3)
    ax.figure.tight_layout()
    return ax


def row_label(df: pd.DataFrame) -> pd.Series:
    """A readable name per result row: 'VGG-16 (unpruned)', 'VGG-16-A', 'VGG-19 70%'."""
    def one(r) -> str:
        if r["variant"] == "unpruned" or not r["target"]:
            return f"{r['model']} (unpruned)"
        return r["target"] if str(r["target"]).startswith(r["model"]) else f"{r['model']} {r['target']}"
    return df.apply(one, axis=1)


FIGSIZE = (6.4, 3.8)


def _style() -> None:
    import matplotlib as mpl

    mpl.rcParams.update({"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 10,
                         "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.dpi": 110})


def bar_figure(df: pd.DataFrame, title: str, hue: str = "variant", value: str = "final", chance: float | None = 10.0,
               ax=None):
    """Bars of mean accuracy with std error bars over seeds, one group per result row, one bar per ``hue``."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    plot = df.copy()
    plot["row"] = row_label(plot)
    plot[hue] = plot[hue].map(lambda v: VARIANT_LABELS.get(v, v))
    sns.barplot(data=plot, x="row", y=value, hue=hue, errorbar="sd", ax=ax, capsize=0.1, err_kws={"linewidth": 1},
                dodge=True)
    if chance is not None:
        ax.axhline(chance, color="gray", linestyle=":", linewidth=1, label="chance")
    ax.set_ylim(0, min(100.0, plot[value].max() + 8))
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("")
    ax.set_title(title)
    ax.legend(title=None, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3, frameon=False)
    ax.figure.tight_layout()
    return ax


def curve_figure(histories: pd.DataFrame, title: str, hue: str = "label", ax=None):
    """Test accuracy vs epoch, mean ± std over seeds, one line per ``hue`` value."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    sns.lineplot(data=histories, x="epoch", y="test_acc", hue=hue, errorbar="sd", marker="o", ax=ax)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(title=None)
    ax.figure.tight_layout()
    return ax


def paper_wide(*tables: str | int) -> pd.DataFrame:
    """The paper's numbers for some tables, one row per (table, dataset, model, pruned model), one column per
    variant; '†' marks a cell whose place in the paper's table was inferred from the PDF's layout."""
    t = pd.concat([paper_table(table) for table in tables], ignore_index=True)

    def cell(r) -> str:
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


def architecture_table(names: list[str], num_classes: int = 10) -> pd.DataFrame:
    """Params, FLOPs per image and conv sizes of models at the paper's width; for named pruned targets also
    the FLOPs saved against their base and the Scratch-B epochs of a 160-epoch budget."""
    import torch

    from .flops import count_flops, count_params, scratch_b_epochs
    from .models import create_model, list_targets

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


def run_box(preset, seeds: list[int], data, device, extra: list[str] | None = None) -> str:
    """Markdown: the settings of this execution next to the paper's, and every way it differs."""
    from .presets import get_preset
    from .provenance import device_name

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
        ("data", f"`{src['source']}`", "original CIFAR"),
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


PIPELINES = {"fine-tuned": "train large + prune + fine-tune", "scratch-e": "Scratch-E", "scratch-b": "Scratch-B",
             "winning-ticket": "train large + prune + retrain from its init", "random-init": "random init",
             "sfp-trained": "train with soft filter pruning", "pruned": "SFP training + removal (no fine-tuning)"}


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
        if variant in ("fine-tuned", "winning-ticket"):
            parent, keys = large, list(zip(g["model"], g["seed"]))
        elif variant == "pruned":  # Soft Filter Pruning's result: its pipeline is the SFP training
            parent, keys = soft, list(zip(g["model"], g["target"], g["seed"]))
        if parent is not None:
            flops = flops + parent.loc[keys, "train_flops"].astype(float).to_numpy()
            wall = wall + parent.loc[keys, "wall_time_s"].astype(float).to_numpy()
        out.append({"model": model, "pruned": target, "pipeline": PIPELINES.get(variant, variant),
                    "epochs": int(g["epochs"].iloc[0]), "training FLOPs": f"{flops.mean():.3g}",
                    "wall time (s)": f"{wall.mean():.0f}"})
    return pd.DataFrame(out)


def chapter_tables(rows: list[dict], refs: dict, pairs: list[tuple[str, str]],
                   margin: float = 1.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the paper-shaped table, the paired-statistics table at equivalence ``margin``) of a chapter's rows."""
    df = results_frame(rows)
    shaped = paper_shaped_table(df, ["model", "target"], refs)
    paired = paired_table(df[df["variant"] != "unpruned"], ["model", "target"], pairs, refs, margin)
    return shaped, paired


def chapter_forest(rows: list[dict], refs: dict, pairs: list[tuple[str, str]], margin: float, title: str, ax=None):
    """The forest plot of a chapter's paired comparisons (:func:`forest_figure`)."""
    df = results_frame(rows)
    return forest_figure(paired_stats(df[df["variant"] != "unpruned"], ["model", "target"], pairs, refs, margin),
                         margin, title, ax)


def widths_table(chains) -> pd.DataFrame:
    """Kept channels per pruned unit, mean ± std over the chains (seeds) of each experiment (Table 7 style)."""
    rows = {}
    for exp, chain in chains:
        widths = chain.plan.info.get("widths")
        if not widths:
            continue
        from .prune.surgery import channel_units

        sizes = {name: u.size for name, u in channel_units(chain.large.model()).items()}
        for unit, w in widths.items():
            rows.setdefault((exp.paper_model, exp.label, unit), {"size": sizes.get(unit), "kept": []})["kept"].append(w)
    out = [{"model": m, "pruned": label, "layer": unit, "width": v["size"], "kept": mean_std(v["kept"]),
            "kept %": f"{100 * pd.Series(v['kept']).mean() / v['size']:.0f}%" if v["size"] else "-"}
           for (m, label, unit), v in rows.items()]
    return pd.DataFrame(out).set_index(["model", "pruned", "layer"]) if out else pd.DataFrame()


def weight_distribution_figure(chain, title: str, layer: str | None = None, ax=None):
    """Histogram of the non-zero weights of one conv layer: unpruned, fine-tuned, and trained from scratch
    (Scratch-E) with the same mask. The default layer is the middle conv of the network."""
    import matplotlib.pyplot as plt
    import numpy as np

    states = {"unpruned": chain.large.state_dict()}
    for variant in ("fine-tuned", "scratch-e"):
        if variant in chain.runs:
            states[VARIANT_LABELS[variant]] = chain.runs[variant].state_dict()
    convs = [k for k, v in states["unpruned"].items() if k.endswith("weight") and v.dim() == 4]
    layer = layer or convs[len(convs) // 2]
    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    values = {name: s[layer].flatten().numpy() for name, s in states.items()}
    values = {name: v[v != 0] for name, v in values.items()}
    lim = max(float(np.abs(v).max()) for v in values.values() if v.size)
    bins = np.linspace(-lim, lim, 81)
    for name, v in values.items():
        ax.hist(v, bins=bins, histtype="step", linewidth=1.5, density=True, label=f"{name} ({v.size:,} non-zero)")
    ax.set_yscale("log")
    position = convs.index(layer) + 1
    ax.set_xlabel(f"weight value (conv layer {position} of {len(convs)})")
    ax.set_ylabel("density (1 / unit weight)")
    ax.set_title(title)
    ax.legend()
    ax.figure.tight_layout()
    return ax


def params_curve_figure(df: pd.DataFrame, title: str, ax=None):
    """Accuracy vs parameter count, mean ± std over seeds, one line per ``curve`` (Figure 3 style)."""
    import matplotlib.pyplot as plt

    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    for curve, g in df.groupby("curve", sort=False):
        # one point per row of the grid (its target), averaged over seeds: architectures found per seed
        # (Network Slimming) differ a little in size, so parameters are averaged too (horizontal bars: std)
        key = "target" if "target" in g else "params"
        s = g.groupby(key, observed=True).agg(params=("params", "mean"), params_std=("params", "std"),
                                              mean=("final", "mean"), std=("final", "std")).sort_values("params")
        ax.errorbar(s["params"] / 1e3, s["mean"], yerr=s["std"].fillna(0), xerr=s["params_std"].fillna(0) / 1e3,
                    marker="o", capsize=3, label=curve)
    ax.set_xlabel("parameters (thousands)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    ax.figure.tight_layout()
    return ax


def stage_sparsity_figure(table: pd.DataFrame, title: str, ax=None):
    """Heatmap of the fraction of conv weights pruned per stage (columns) at each overall fraction (rows)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=FIGSIZE)
    sns.heatmap(100 * table, annot=True, fmt=".0f", cmap="viridis", cbar_kws={"label": "weights pruned (%)"}, ax=ax)
    ax.set_xlabel("stage (feature-map size, largest first)")
    ax.set_ylabel("weights pruned overall")
    ax.set_title(title)
    ax.figure.tight_layout()
    return ax


CLAIMS = [
    ("predefined", "01_predefined", "Predefined pruning: training the pruned architecture from scratch is as good as "
     "fine-tuning the pruned model (L1-norm), or as Soft Filter Pruning's result",
     [("scratch-e", "fine-tuned"), ("scratch-b", "fine-tuned"), ("scratch-e", "pruned"), ("scratch-b", "pruned")]),
    ("automatic", "02_automatic", "Automatic pruning (Network Slimming): the found architecture trained from scratch "
     "is as good as the fine-tuned one", [("scratch-e", "fine-tuned"), ("scratch-b", "fine-tuned")]),
    ("unstructured", "03_unstructured", "Unstructured pruning at moderate sparsity on CIFAR: scratch training keeps up "
     "with fine-tuning", [("scratch-e", "fine-tuned"), ("scratch-b", "fine-tuned")]),
    ("architecture_search", "04_architecture_search", "Pruning as architecture search: on VGG, the architectures "
     "automatic pruning finds (and guided ones built from their per-stage widths) beat uniform pruning when "
     "trained from scratch", []),
    ("lottery_ticket", "05_lottery_ticket", "At lr 0.1 a winning ticket is no better than a random initialisation",
     [("winning-ticket", "random-init")]),
]


def verdict_summary(preset, results_dir: str | None = None, dataset: str = "cifar10") -> pd.DataFrame:
    """The paper's claims, one row per measured comparison, with our verdict, from the chapters' saved results
    (``results/<preset>/<chapter>-<dataset>.csv``; chapters without results are listed as not run)."""
    from pathlib import Path

    from .grids import chapter_grid, paper_refs
    from .presets import get_preset

    import os

    p = get_preset(preset)
    results_dir = results_dir or os.environ.get("NBPRUNE_RESULTS") or "results"  # where save_results writes
    out = []
    for chapter, doc, claim, pairs in CLAIMS:
        path = Path(results_dir) / p.name / f"{chapter}-{dataset}.csv"
        link = f"{{doc}}`{doc}`"
        if not path.exists():
            out.append({"claim": claim, "chapter": link, "row": "-", "comparison": "-", "ours": "not run",
                        "paper": "-", "verdict": "-", "paper's claim": "-"})
            continue
        rows = pd.read_csv(path, keep_default_na=False)
        if chapter == "architecture_search":
            for _, r in search_pairs(results_frame(rows.to_dict("records")), p.margin).iterrows():
                out.append({"claim": claim, "chapter": link, "row": f"{r['model']}, {r['pruned']} pruned",
                            "comparison": r["comparison"], "ours": f"{r['mean diff']:+.2f} {r['95% CI']}",
                            "paper": r["paper"], "verdict": r["verdict"], "paper's claim": r["paper's claim"]})
            continue
        refs = paper_refs(chapter_grid(chapter, p), dataset)
        paired = paired_table(results_frame(rows.to_dict("records"))[lambda d: d["variant"] != "unpruned"],
                              ["model", "target"], pairs, refs, p.margin)
        for _, r in paired.iterrows():
            out.append({"claim": claim, "chapter": link, "row": f"{r['model']} {r['target']}",
                        "comparison": r["comparison"], "ours": f"{r['mean diff']:+.2f} {r['95% CI']}",
                        "paper": r["paper"], "verdict": r["verdict"], "paper's claim": r["paper's claim"]})
    return pd.DataFrame(out)


def verdict_markdown(preset, results_dir: str | None = None, dataset: str = "cifar10") -> str:
    """:func:`verdict_summary` as a MyST markdown table (differences in accuracy points, ours over seeds with
    its 95% interval)."""
    df = verdict_summary(preset, results_dir, dataset)
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    return head + "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False))
