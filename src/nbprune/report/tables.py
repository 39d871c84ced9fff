"""Results as tables: the tidy results frame, paper-shaped tables, the budget ledger, architectures, widths,
and the run box that sets an execution beside the paper's settings; and how the book shows a table
(:func:`show`: no index, no ``NaN``, nothing cut), folds one away (:func:`fold`) and shows the paper's tables
(:func:`paper_tables`: the rows a chapter re-runs, the rest folded).

Accuracies are in %; "final" is the last epoch's test accuracy (this project's primary number) and "best"
the best test accuracy over epochs (the paper's selection).
"""

from __future__ import annotations

import html
import math
import numbers
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..presets import Preset
from ..variants import get_variant, list_variants, variant_label, variant_order


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
        order = variant_order()
        df["variant"] = pd.Categorical(df["variant"], [v for v in order if v in set(df["variant"])]
                                       + sorted(set(df["variant"]) - set(order)), ordered=True)
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
        label = variant_label(variant)
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


VARIANT_COLUMN = re.compile(r"^(?P<label>.+) \((?P<kind>final|best|paper)\)$")


def variant_rows(shaped: pd.DataFrame, group: tuple[str, ...] = ("model", "target")) -> pd.DataFrame:
    """A :func:`paper_shaped_table` turned on its side, for reading: one row per (group, variant) that was run,
    with the columns ``variant``, ``final``, ``best`` and ``paper`` (as the shaped table formats them), in
    the shaped table's order. Three columns per variant make a row of the paper's tables 20 or 30 columns
    wide; this keeps it at six, and the variants of one row are read down a column."""
    labels = list(dict.fromkeys(m["label"] for c in shaped.columns if (m := VARIANT_COLUMN.match(str(c)))))
    out = []
    for _, r in shaped.iterrows():
        for label in labels:
            final = r.get(f"{label} (final)")
            if _missing(final):
                continue  # not run in this row
            out.append({**{g: r[g] for g in group}, "variant": label, "final": final,
                        "best": r.get(f"{label} (best)"), "paper": r.get(f"{label} (paper)")})
    return pd.DataFrame(out, columns=[*group, "variant", "final", "best", "paper"])


# ----------------------------------------------------------------------------------------- display helpers
class Html:
    """An HTML block for a notebook's output: ``display(Html(...))`` shows ``html`` (Jupyter, the built book)
    and falls back to ``text`` where HTML is not rendered."""

    def __init__(self, html: str, text: str = ""):
        self.html, self.text = html, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text or self.html

    def __add__(self, other: Html) -> Html:
        return Html(self.html + "\n" + other.html, "\n\n".join(t for t in (self.text, other.text) if t))


def _missing(v) -> bool:
    """Whether a cell holds no value: None, NaN, pd.NA, NaT or a blank string."""
    if v is None:
        return True
    if isinstance(v, str):
        return not v.strip()
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):  # a list or an array: a value
        return False


def _cell_text(v, fmt, digits: int) -> tuple[str, bool]:
    """(the text of one cell, whether it is a number: right-aligned)."""
    if _missing(v):
        return "", False
    if fmt is not None:
        return (fmt(v) if callable(fmt) else fmt.format(v)), isinstance(v, numbers.Number)
    if isinstance(v, (bool, np.bool_)):
        return ("yes" if v else "no"), False
    if isinstance(v, numbers.Integral):
        return (f"{int(v):,}" if abs(int(v)) >= 10_000 else str(int(v))), True
    if isinstance(v, numbers.Real):
        v = float(v)
        if v.is_integer() and abs(v) >= 1000:  # a count averaged over seeds: no decimals
            return f"{int(v):,}", True
        return f"{v:.{digits}f}", True
    return str(v), False


NOWRAP = 12  # cells of at most this many characters do not wrap (a model name, a mean ± std)


def show(df: pd.DataFrame, columns: list[str] | None = None, rename: dict | None = None, group: list[str] | None = None,
         formats: dict | None = None, digits: int = 2, drop_empty: bool = True, title: str | None = None,
         empty: str = "(no rows)") -> Html:
    """A table as a book shows it: every row and column, no index, no truncation, no ``NaN`` or ``<NA>``.

    The index, if it is not a plain row count, becomes ordinary columns (so ``set_index`` is not needed and
    ``pivot_table``'s keys are kept). ``columns`` picks and orders columns (after that), ``rename`` renames
    them. Missing values (None, NaN, pd.NA) show as blanks; with ``drop_empty`` a column with no value at all
    (blank, "-" or "n/a" in every row: an interval of one seed) is left out. Floats get ``digits`` decimals
    (an integer-valued float of 1,000 or more shows as an integer), integers of 10,000 or more get thousands
    separators; ``formats`` maps a column to a format string (``"{:g}"``) or a function of the value.
    ``group`` names leading columns whose repeats are blanked (a value shows on the first row of its run).
    ``title`` goes above the table in bold.
    Numbers are right-aligned; a cell of at most :data:`NOWRAP` characters (an interval "[a, b]" aside) is
    not broken across lines, so a narrow page wraps the long texts (a verdict) rather than "VGG-16-A" or
    "93.63 ± 0.16"; the table's text is a little smaller than the prose's (0.9em).
    """
    frame = df.to_frame() if isinstance(df, pd.Series) else df.copy()
    if not (isinstance(frame.index, pd.RangeIndex) and frame.index.name is None):
        n = frame.index.nlevels
        frame.index = frame.index.set_names([name if name is not None else ("" if n == 1 else f"level {i}")
                                             for i, name in enumerate(frame.index.names)])
        frame = frame.reset_index()
    frame.columns = [" ".join(str(x) for x in c if str(x)) if isinstance(c, tuple) else str(c) for c in frame.columns]
    if columns is not None:
        unknown = [c for c in columns if c not in frame.columns]
        if unknown:
            raise ValueError(f"columns: {', '.join(map(repr, unknown))} not in the table; it has "
                             f"{', '.join(map(repr, frame.columns))}")
        frame = frame[list(columns)]
    names = [str((rename or {}).get(c, c)) for c in frame.columns]
    fmts = [(formats or {}).get(c) for c in frame.columns]
    cells = [[_cell_text(v, f, digits) for v, f in zip(row, fmts)] for row in frame.itertuples(index=False)]
    keep = [j for j in range(len(names))
            if not drop_empty or any(row[j][0] not in ("", "-", "n/a") for row in cells)]
    group_idx = [frame.columns.get_loc(g) for g in (group or []) if g in frame.columns]
    shown = [[list(c) for c in row] for row in cells]
    for i in range(1, len(cells)):
        for k, j in enumerate(group_idx):
            if all(cells[i][g][0] == cells[i - 1][g][0] for g in group_idx[:k + 1]):
                shown[i][j][0] = ""
    head = f"<p><strong>{html.escape(title)}</strong></p>\n" if title else ""
    if not cells:
        return Html(f"{head}<p><em>{html.escape(empty)}</em></p>", "\n".join(filter(None, [title, empty])))
    def td(text: str, number: bool) -> str:
        # a short value ("VGG-16-A", "93.63 ± 0.16") is never broken across lines; a long one wraps
        short = len(text) <= NOWRAP and not text.startswith("[")  # an interval "[-1.85, -0.00]" may wrap
        style = ("text-align: right;" if number else "") + (" white-space: nowrap;" if short else "")
        return (f'<td style="{style.strip()}">' if style else "<td>") + html.escape(text) + "</td>"

    th = "".join(f"<th>{html.escape(names[j])}</th>" for j in keep)
    body = "\n".join("<tr>" + "".join(td(*row[j]) for j in keep) + "</tr>" for row in shown)
    text = pd.DataFrame([[row[j][0] for j in keep] for row in shown], columns=[names[j] for j in keep])
    return Html(f'{head}<table class="dataframe nbprune-table" style="font-size: 0.9em;">\n'
                f'<thead><tr style="text-align: left;">{th}</tr></thead>\n<tbody>\n{body}\n</tbody>\n</table>',
                "\n".join(filter(None, [title, text.to_string(index=False)])))


def fold(content, summary: str) -> Html:
    """``content`` (an :class:`Html`, a DataFrame, or a list of them) folded away under a one-line
    ``summary`` the reader clicks to open (an HTML ``<details>`` element; closed at first)."""
    parts = content if isinstance(content, (list, tuple)) else [content]
    blocks = [p if isinstance(p, Html) else show(p) if isinstance(p, (pd.DataFrame, pd.Series))
              else Html(f"<p>{html.escape(str(p))}</p>", str(p)) for p in parts]
    inner = "\n".join(b.html for b in blocks)
    return Html(f'<details class="nbprune-fold">\n<summary>{html.escape(summary)}</summary>\n{inner}\n</details>',
                summary + " (folded)")


def budget_tables(stats: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The budget curve's numbers (:func:`nbprune.report.budget_stats`) as two tables a page can hold:
    (mean final accuracy per budget: ``budget``, ``seeds`` and one column per model that was trained;
    every difference per budget, one row each: ``budget``, ``difference``, ``mean``, ``95% CI`` (unadjusted),
    ``p diff / equiv`` (Holm-adjusted over the budget's comparisons, as the verdict reads them) and ``verdict``
    (both blank for the doubling gain, which has none))."""
    names = [c[1:] for c in stats.columns if str(c).startswith("_")]
    accuracy = [c for c in stats.columns if not str(c).startswith("_") and c not in names
                and not any(str(c).startswith(f"{n} ") for n in names)]
    rows = []
    for _, r in stats.iterrows():
        for name in names:
            if _missing(r.get(name)):
                continue
            rows.append({"budget": r["budget"], "difference": name, "mean": float(r[name]),
                         "95% CI": r.get(f"{name} 95% CI"), "p diff / equiv": r.get(f"{name} p"),
                         "verdict": r.get(f"{name} verdict")})
    return (stats[accuracy].reset_index(drop=True),
            pd.DataFrame(rows, columns=["budget", "difference", "mean", "95% CI", "p diff / equiv", "verdict"]))


def paper_columns() -> dict[str, str]:
    """The paper tables' column names: each variant's label, and the two columns that are no variant."""
    return {**{v: variant_label(v) for v in list_variants()}, "pruned model": "pruned model",
            "kept_ratio": "kept per stage"}


def paper_rows(wide: pd.DataFrame, grid, dataset: str = "cifar10") -> pd.DataFrame:
    """The rows of :func:`nbprune.paper.paper_wide` that a chapter re-runs: for every experiment of ``grid``
    with a paper table, its row of that table on ``dataset`` and its unpruned model's row there."""
    keys = set()
    for exp in grid:
        exp = exp[0] if isinstance(exp, tuple) else exp  # (experiment, chain) pairs as a grid's results hold them
        if getattr(exp, "paper_table", ""):
            keys |= {(exp.paper_table, dataset, exp.paper_model, exp.paper_target),
                     (exp.paper_table, dataset, exp.paper_model, "")}
    return wide[[k in keys for k in wide.index]]


def paper_tables(tables: list[str], grid, dataset: str = "cifar10") -> Html:
    """The paper's numbers for a chapter: the rows it re-runs (:func:`paper_rows`), then every row of
    ``tables`` (ImageNet and CIFAR-100 included), one table after another, folded away."""
    from ..paper import paper_wide

    ours = paper_rows(paper_wide(*tables), grid, dataset)
    names = ", ".join(tables[:-1]) + (f" and {tables[-1]}" if len(tables) > 1 else tables[-1])
    summary = f"The paper's Table{'s' if len(tables) > 1 else ''} {names} in full (every dataset and model)"
    full = fold([show(paper_wide(t).droplevel("table"), rename=paper_columns(), group=["dataset", "model"],
                      title=f"Table {t}") for t in tables], summary)
    if ours.empty:
        return full
    # every row run is on ``dataset``: the column would repeat it
    return show(ours.droplevel("dataset"), rename=paper_columns(), group=["table", "model"]) + full


def ledger_table(df: pd.DataFrame) -> pd.DataFrame:
    """The budget ledger: training FLOPs and wall time of each pipeline, mean over seeds.

    A variant's pipeline includes the training of the row its registration names (``includes``: the large
    model for a fine-tuned model or a ticket, Soft Filter Pruning's training for its pruned model); a model
    trained from scratch pays only for itself. ``epochs`` is the run's own epochs, as text: one number, or the range
    over seeds ("9–10") where they differ (Scratch-B's follow each seed's FLOPs ratio).
    """
    large = df[df["variant"] == "unpruned"].set_index(["model", "seed"])
    out = []
    for (model, target, variant), g in df[df["variant"] != "unpruned"].groupby(["model", "target", "variant"],
                                                                              observed=True, sort=False):
        flops, wall = g["train_flops"].astype(float).to_numpy(), g["wall_time_s"].astype(float).to_numpy()
        parent, keys, includes = None, None, get_variant(str(variant)).includes
        if includes == "unpruned":  # the large model of the same model and seed
            parent, keys = large, list(zip(g["model"], g["seed"]))
        elif includes is not None:  # another row of the same target (Soft Filter Pruning's trained model)
            parent = df[df["variant"] == includes].set_index(["model", "target", "seed"])
            keys = list(zip(g["model"], g["target"], g["seed"]))
        if parent is not None:
            flops = flops + parent.loc[keys, "train_flops"].astype(float).to_numpy()
            wall = wall + parent.loc[keys, "wall_time_s"].astype(float).to_numpy()
        lo, hi = int(g["epochs"].min()), int(g["epochs"].max())  # Scratch-B's epochs can differ by seed
        out.append({"model": model, "pruned": target, "pipeline": get_variant(str(variant)).pipeline,
                    "epochs": str(lo) if lo == hi else f"{lo}–{hi}", "training PFLOP": f"{flops.mean() / 1e15:.3g}",
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
    from ..config import thaw
    from ..models import create_model

    cfg = None if config.cfg is None else thaw(config.cfg)
    return create_model(config.model, num_classes=config.classes, cfg=cfg, width=config.width,
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


def budget_widths(chains) -> tuple[pd.DataFrame, str]:
    """A budget curve's pruned architectures side by side, and what its threshold emptied.

    ``chains``: (experiment, chain) pairs of a curve (each experiment with its ``budget``). The table has one
    row per pruned unit (its unpruned width, then the kept channels per budget, mean ± std over seeds, as
    :func:`widths_table`); the sentence gives, per budget, the mean number of units one channel wide (the
    signal passes there through a single channel; the count :func:`nbprune.book.one_channel_layers` reads from
    the runs' configs) and, of those, the mean number whose every channel fell under the global threshold (the
    plan's ``emptied``: each keeps its one largest channel). ("" and an empty table when no plan records its
    widths.)
    """
    by_budget: dict[int, list] = {}
    for exp, chain in chains:
        if chain.plan.info.get("widths") and exp.budget is not None:
            by_budget.setdefault(exp.budget, []).append((exp, chain))
    if not by_budget:
        return pd.DataFrame(), ""
    columns, size = {}, None
    for budget in sorted(by_budget):
        t = widths_table(by_budget[budget]).droplevel(["model", "pruned"])
        size = t["width"] if size is None else size
        columns[f"{budget} epochs"] = t["kept"]
    table = pd.concat({"width": size, **columns}, axis=1)
    table.index.name = "layer"
    units = len(table)

    def spread(counts: list[int], budget: int) -> str:
        seeds = f"{len(counts)} seed{'s' if len(counts) != 1 else ''}"
        return (f"{np.mean(counts):.1f} at {budget} epochs ({seeds}, {min(counts)}–{max(counts)})"
                if len(counts) > 1 else f"{counts[0]} at {budget} epochs (1 seed)")

    ones, emptied = [], []
    for budget, pairs in sorted(by_budget.items()):
        ones.append(spread([sum(w == 1 for w in chain.plan.info["widths"].values()) for _, chain in pairs], budget))
        emptied.append(f"{np.mean([len(chain.plan.info.get('emptied') or []) for _, chain in pairs]):.1f}")
    sentence = (f"Layers one channel wide, of {units} (the signal passes there through a single channel), mean over "
                f"seeds: " + ", ".join(ones) + ". Of these, the layers whose every channel fell under the global "
                "threshold and which keep their one largest channel: " + ", ".join(emptied)
                + " on average; the others kept exactly one.")
    return table, sentence


def run_box(preset: Preset, seeds: list[int], data, device, extra: list[str] | None = None) -> str:
    """Markdown: the settings of this execution next to the paper's, and every way it differs."""
    from ..provenance import device_name  # imports torch: only when a run box is made

    p = preset
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
