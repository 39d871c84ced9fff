"""Figures for the notebooks: forest plots of paired verdicts, accuracy bars, weight histograms, accuracy vs
parameters and per-stage sparsity. Every figure function draws on ``ax`` (a new figure when None) and
returns it; matplotlib and seaborn are imported only when a figure is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..variants import get_variant, list_variants, variant_label
from .tables import results_frame, row_label
from .verdicts import paired_stats

FIGSIZE = (6.4, 3.8)
HISTOGRAM_BINS = 80  # bins of weight_histogram, over [-limit, +limit]


def _style() -> None:
    """The book's font sizes and resolution, set on matplotlib's rcParams."""
    import matplotlib as mpl

    mpl.rcParams.update({"font.size": 11, "axes.titlesize": 11, "axes.labelsize": 11, "legend.fontsize": 10,
                         "xtick.labelsize": 10, "ytick.labelsize": 10, "figure.dpi": 110})


def _wrap(text: str, width: int) -> str:
    """``text`` broken into lines of at most ``width`` characters (a long axis label stays beside its axis)."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width, break_on_hyphens=False)) or text


def _legend_below(ax, ncol: int = 3) -> None:
    """The axis's legend under the figure, outside the data: a figure legend in constrained layout (which
    keeps room for it), else one anchored below the axis."""
    handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return
    fig = ax.figure
    # as many columns as fit the figure's width (~0.08 inch per character at the legend's font, plus the key)
    per_column = 0.08 * max(len(str(label)) for label in labels) + 0.7
    ncol = max(1, min(ncol, len(handles), int(fig.get_size_inches()[0] // per_column)))
    if fig.get_layout_engine() is not None and len(fig.axes) == 1:
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, frameon=False)
    else:
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=ncol, frameon=False)


def forest_figure(stats_rows: list[dict], margin: float, title: str, ax=None):
    """Each comparison's mean paired difference with its 95% (thin) and 90% (thick) intervals, the ±margin
    band of the equivalence test, and the paper's difference (a cross) where it has one.

    ``stats_rows`` are the rows of :func:`nbprune.report.verdicts.paired_stats` or ``search_stats``. The
    figure's height follows the number of rows (and of lines in their wrapped labels), the legend sits under
    it, outside the data, and the x range holds every interval, cross and the margin band with a little room.
    """
    import matplotlib.pyplot as plt

    _style()
    n = len(stats_rows)
    labels = []
    for r in stats_rows:
        keys = " ".join(str(v) for v in r["keys"].values())
        labels.append(_wrap(f"{keys}: {variant_label(r['a'])} - {variant_label(r['b'])}", 44))
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    if ax is None:
        row_h = (0.32 + 0.17 * lines) if n <= 8 else (0.2 + 0.14 * lines)  # inches per comparison
        _, ax = plt.subplots(figsize=(7.2, 1.9 + row_h * max(n, 1)), layout="constrained")
    ax.axvspan(-margin, margin, color="tab:green", alpha=0.12, label=f"equivalence margin ±{margin:g}")
    ax.axvline(0, color="0.4", lw=0.8)
    xs = [-margin, margin]
    paper_shown = False
    for i, r in enumerate(stats_rows):
        c, y = r["cmp"], n - 1 - i
        if not math.isnan(c.low95):
            ax.plot([c.low95, c.high95], [y, y], color="tab:blue", lw=1.2, solid_capstyle="butt")
            ax.plot([c.low90, c.high90], [y, y], color="tab:blue", lw=3.5, solid_capstyle="butt")
            xs += [c.low95, c.high95]
        ax.plot([c.mean], [y], "o", color="tab:blue", label="ours: mean, 90% and 95% interval" if i == 0 else None)
        xs.append(c.mean)
        if r.get("paper") is not None:
            ax.plot([r["paper"]], [y], "x", color="tab:red", ms=8, mew=2, label=None if paper_shown else "paper")
            xs.append(r["paper"])
            paper_shown = True
    finite = [x for x in xs if not math.isnan(x)]
    lo, hi = min(finite), max(finite)
    pad = 0.06 * (hi - lo) or 0.5
    ax.set_xlim(lo - pad, hi + pad)
    ax.set_ylim(-0.6, max(n, 1) - 0.4)  # half a row of room above and below: no marker is clipped
    ax.set_yticks(range(n))
    ax.set_yticklabels(reversed(labels))
    ax.set_xlabel("difference in test accuracy (points, final epoch)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    _legend_below(ax)
    if ax.figure.get_layout_engine() is None:
        ax.figure.tight_layout()
    return ax


def chapter_forest(rows: list[dict], refs: dict, pairs: list[tuple[str, str]], margin: float, title: str, ax=None):
    """The forest plot of a chapter's paired comparisons (:func:`forest_figure`), each comparison once: a row of
    the same runs as an earlier one (:func:`nbprune.report.settle`) is not drawn again."""
    from .verdicts import settle

    df = results_frame(rows)
    stats = settle(paired_stats(df[df["variant"] != "unpruned"], ["model", "target"], pairs, refs, margin))
    return forest_figure([r for r in stats if "same_as" not in r], margin, title, ax)


# one colour per variant in every figure of the book (its registration's; a hue that is no variant gets the next
# free one)


def _colours(labels: list[str]) -> dict[str, str]:
    """A colour per hue label: the variant's own (its registered ``colour``), else one of tab20 not yet used."""
    import matplotlib.pyplot as plt

    by_label = {variant_label(k): get_variant(k).colour for k in list_variants()}
    out = {h: by_label[h] for h in labels if h in by_label}
    spare = (plt.get_cmap("tab20")(i) for i in range(1, 40, 2))
    for h in labels:
        if h not in out:
            out[h] = next(spare)
    return out


def seeds_figure(df: pd.DataFrame, title: str, hue: str = "variant", value: str = "final",
                 chance: float | None = None, ax=None):
    """Every seed's accuracy as a point, one group per result row and one colour per ``hue`` (each row spaces
    only the hues it has; a variant has the same colour in every figure), with the mean over seeds as a short
    black bar; the axis spans the data (a 1-point difference stays visible), and ``chance`` is drawn as a
    dotted line only when it lies in that span. The legend sits under the axis, outside the data."""
    import matplotlib.pyplot as plt
    import numpy as np

    _style()
    plot = df.copy()
    plot["row"] = row_label(plot)
    plot[hue] = plot[hue].map(lambda v: variant_label(v)).astype(str)
    rows = list(dict.fromkeys(plot["row"]))
    hues = list(dict.fromkeys(plot[hue]))
    colours = _colours(hues)
    if ax is None:
        _, ax = plt.subplots(figsize=(min(7.2, max(FIGSIZE[0], 1.2 * len(rows) + 2.4)), 4.2), layout="constrained")
    rng = np.random.default_rng(0)  # the jitter is only drawn, never data
    shown = set()
    for i, row in enumerate(rows):
        here = plot[plot["row"] == row]
        present = [h for h in hues if h in set(here[hue])]
        width = 0.8 / max(len(present), 2)  # a row of one hue gets half the row, not all of it
        for j, h in enumerate(present):
            x = i + (j - (len(present) - 1) / 2) * width
            ys = here.loc[here[hue] == h, value].to_numpy(dtype=float)
            ax.scatter(x + rng.uniform(-0.2, 0.2, len(ys)) * width, ys, s=30, color=colours[h], alpha=0.9,
                       edgecolors="white", linewidths=0.4, label=None if h in shown else h, zorder=3)
            ax.plot([x - 0.38 * width, x + 0.38 * width], [ys.mean()] * 2, color="0.1", lw=2, zorder=4)
            shown.add(h)
    lo, hi = plot[value].min(), plot[value].max()
    pad = max(0.5, 0.08 * (hi - lo))
    ax.set_ylim(lo - pad, hi + pad)
    if chance is not None and lo - pad <= chance <= hi + pad:
        ax.axhline(chance, color="gray", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([_wrap(r, 16 if len(rows) <= 5 else 11) for r in rows])
    ax.set_xlim(-0.6, len(rows) - 0.4)
    for i in range(1, len(rows)):  # a faint rule between result rows
        ax.axvline(i - 0.5, color="0.85", lw=0.8, zorder=0)
    ax.set_ylabel("test accuracy (%), one point per seed")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    _legend_below(ax, ncol=4)
    if ax.figure.get_layout_engine() is None:
        ax.figure.tight_layout()
    return ax


def conv_weight_names(state_dict: Mapping) -> list[str]:
    """The conv weights of a state dict (4-dimensional ``...weight`` entries), in its order."""
    return [k for k, v in state_dict.items() if k.endswith("weight") and v.dim() == 4]


def _nonzero_weights(weights, layer: str | None) -> np.ndarray:
    """The non-zero values of a tensor, or of ``layer`` of a state dict (default: its middle conv), flat."""
    if isinstance(weights, Mapping):
        convs = conv_weight_names(weights)
        if layer is None:
            if not convs:
                raise ValueError("weights: the state dict has no conv weights (4-d '...weight' entries)")
            layer = convs[len(convs) // 2]
        if layer not in weights:
            raise ValueError(f"layer: {layer!r} is not in the state dict; conv weights: {', '.join(convs)}")
        weights = weights[layer]
    elif layer is not None:
        raise ValueError("layer: give a layer name only with a state dict, not with a single tensor")
    values = weights.detach().cpu().flatten().numpy() if hasattr(weights, "detach") else np.ravel(weights)
    return values[values != 0]


def weight_histogram(weights, layer: str | None = None, bins: int = HISTOGRAM_BINS,
                     limit: float | None = None) -> dict[str, np.ndarray]:
    """The density histogram of the non-zero weights of one conv layer; pure, so it can be stored with a run.

    ``weights`` is a state dict (then ``layer`` names the entry, by default the middle conv of
    :func:`conv_weight_names`) or a single tensor / array. The ``bins`` equal bins span ``[-limit, +limit]``
    (default: the largest absolute non-zero weight). Returns ``edges`` (bins + 1 values), ``density``
    (1 / unit weight, integrating to 1; zeros when no weight is non-zero) and ``nonzero`` (0-d: the count).
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins: must be an integer >= 1, got {bins!r}")
    values = _nonzero_weights(weights, layer)
    if limit is None:
        limit = float(np.abs(values).max()) if values.size else 1.0
    elif not limit > 0:
        raise ValueError(f"limit: must be a number > 0 (the histogram spans [-limit, +limit]), got {limit!r}")
    edges = np.linspace(-limit, limit, bins + 1)
    if values.size:
        density, _ = np.histogram(values, bins=edges, density=True)
    else:
        density = np.zeros(bins)
    return {"edges": edges, "density": density, "nonzero": np.array(values.size)}


def weight_histograms(states: Mapping[str, Mapping], layer: str | None = None, bins: int = HISTOGRAM_BINS) -> dict:
    """The data of :func:`weight_distribution_figure` as plain JSON values (so it can be stored with a run):
    for each labelled state dict, the :func:`weight_histogram` of one conv layer's non-zero weights on bins
    shared by all of them. ``layer`` defaults to the middle conv of the first state dict."""
    if not states:
        raise ValueError("states: give at least one labelled state dict")
    convs = conv_weight_names(next(iter(states.values())))
    layer = layer or convs[len(convs) // 2]
    values = {name: _nonzero_weights(s, layer) for name, s in states.items()}
    lim = max((float(np.abs(v).max()) for v in values.values() if v.size), default=1.0)
    curves = {}
    for name, v in values.items():
        h = weight_histogram(v, limit=lim, bins=bins)
        curves[name] = {"edges": h["edges"].tolist(), "density": h["density"].tolist(), "nonzero": int(h["nonzero"])}
    return {"layer": layer, "position": convs.index(layer) + 1, "convs": len(convs), "curves": curves}


def chain_states(chain) -> dict[str, Mapping]:
    """The state dicts :func:`weight_distribution_figure` compares for a chain: unpruned, fine-tuned and
    trained from scratch (Scratch-E) with the same mask."""
    states = {"unpruned": chain.large.state_dict()}
    for variant in ("fine-tuned", "scratch-e"):
        if variant in chain.runs:
            states[get_variant(variant).label] = chain.runs[variant].state_dict()
    return states


def weight_distribution_figure(data, title: str, layer: str | None = None, ax=None):
    """Histogram of the non-zero weights of one conv layer: unpruned, fine-tuned, and trained from scratch
    (Scratch-E) with the same mask. ``data`` is what :func:`weight_histograms` returns (as stored with a run),
    or a chain, whose states it reads (:func:`chain_states`; then ``layer`` picks the conv, default the middle)."""
    import matplotlib.pyplot as plt

    if not isinstance(data, Mapping):
        data = weight_histograms(chain_states(data), layer)
    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=(7.2, FIGSIZE[1]), layout="constrained")
    for name, h in data["curves"].items():
        edges, density = np.asarray(h["edges"]), np.asarray(h["density"])
        # the precomputed densities as weights of one point per bin: the same step curve as hist(values)
        ax.hist(edges[:-1], bins=edges, weights=density, histtype="step", linewidth=1.5,
                label=f"{name} ({int(h['nonzero']):,} non-zero)")
    ax.set_yscale("log")
    ax.set_xlabel(f"weight value (conv layer {data['position']} of {data['convs']})")
    ax.set_ylabel("density (1 / unit weight)")
    ax.set_title(title)
    # the legend beside the curves, not over them: right of the axis (a figure legend would hide it from
    # ax.get_legend(), which the tests read)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9)
    if ax.figure.get_layout_engine() is None:
        ax.figure.tight_layout()
    return ax


def params_curve_figure(df: pd.DataFrame, title: str, ax=None):
    """Accuracy vs parameter count, mean ± std over seeds, one line per ``curve`` (Figure 3 style); a curve
    of a single point (e.g. one transferred architecture) is drawn as a large marker without a line. The
    legend sits under the axis, outside the data."""
    import matplotlib.pyplot as plt

    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], FIGSIZE[1] + 0.8), layout="constrained")
    for curve, g in df.groupby("curve", sort=False):
        # one point per row of the grid (its target), averaged over seeds: architectures found per seed
        # (Network Slimming) differ a little in size, so parameters are averaged too (horizontal bars: std)
        key = "target" if "target" in g else "params"
        s = g.groupby(key, observed=True).agg(params=("params", "mean"), params_std=("params", "std"),
                                              mean=("final", "mean"), std=("final", "std")).sort_values("params")
        single = len(s) == 1
        ax.errorbar(s["params"] / 1e3, s["mean"], yerr=s["std"].fillna(0), xerr=s["params_std"].fillna(0) / 1e3,
                    marker="*" if single else "o", ms=12 if single else 6, linestyle="none" if single else "-",
                    capsize=3, label=curve)
    ax.set_xlabel("parameters (thousands)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _legend_below(ax, ncol=2)
    if ax.figure.get_layout_engine() is None:
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


def budget_figure(stats: pd.DataFrame, margin: float, title: str, paper: Mapping[str, float] | None = None,
                  paper_budget: int = 160):
    """The budget curve (:func:`nbprune.report.budget_stats`): left, mean final accuracy of the unpruned model
    and each variant against the large model's epochs (log scale), with the paper's values at
    ``paper_budget`` epochs (``paper``: label -> accuracy) drawn at the right; right, each paired difference
    and the gain of doubling the unpruned model's epochs, with their 95% intervals and the ±margin band.
    The two panels are stacked (a page's width each) with their legends beside them, outside the data;
    ``left`` and ``right`` keep their names."""
    import matplotlib.pyplot as plt

    _style()
    fig, (left, right) = plt.subplots(2, 1, figsize=(7.2, 7.6), layout="constrained")
    x = stats["budget"].to_numpy()
    # the unpruned model, then every variant's column (budget_stats names them by the variants' labels)
    labels = [lb for lb in ("unpruned", *(variant_label(v) for v in list_variants() if v != "unpruned")) if lb in stats]
    starred = [lb for lb in labels if paper and lb in paper]
    for label in labels:
        line = left.plot(x, stats[label], marker="o", label=label.capitalize() if label == "unpruned" else label)
        if label in starred:  # side by side, so that the paper's nearly equal values do not hide one another
            k = starred.index(label)
            left.plot([paper_budget * 2 ** (0.15 * (k - (len(starred) - 1) / 2))], [paper[label]], marker="*",
                      markersize=11, linestyle="none", color=line[0].get_color())
    if paper:
        left.annotate(f"paper, {paper_budget} epochs (*)", (paper_budget, min(paper.values())), fontsize=8,
                      ha="right", va="top", xytext=(12, -10), textcoords="offset points")  # under the stars
    left.set_xscale("log", base=2)
    # the paper's budget gets a tick unless a budget of the curve sits too close for both labels (128 and 160);
    # the annotation under the stars names it either way
    far = paper and max(x) * 1.5 <= paper_budget
    ticks = sorted({*map(int, x), *([paper_budget] if far else [])})
    left.set_xticks(ticks, [str(t) for t in ticks])
    left.minorticks_off()
    left.set_xlabel("large model's epochs (log scale)")
    left.set_ylabel("final test accuracy (%)")
    left.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9)
    right.axhspan(-margin, margin, color="0.9", label=f"±{margin:g} margin")
    right.axhline(0, color="0.5", linewidth=0.8)
    names = [c[1:] for c in stats.columns if c.startswith("_")]
    for k, name in enumerate(names):
        col = stats[f"_{name}"].dropna()
        if col.empty:
            continue
        xs = stats.loc[col.index, "budget"].to_numpy() * (1 + 0.04 * (k - (len(names) - 1) / 2))  # side by side
        mean = np.array([t[0] for t in col])
        lo, hi = np.array([t[1] for t in col]), np.array([t[2] for t in col])
        right.errorbar(xs, mean, yerr=[mean - lo, hi - mean], marker="o", capsize=3, label=name,
                       linestyle="--" if name == "doubling gain" else "-")
    right.set_xscale("log", base=2)
    right.set_xlim(left.get_xlim())  # the panels' budgets line up (one budget alone would spread its points apart)
    right.set_xticks(sorted(map(int, x)), [str(int(t)) for t in sorted(x)])
    right.minorticks_off()
    right.set_xlabel("large model's epochs (log scale)")
    right.set_ylabel("difference (points), 95% CI")
    right.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), frameon=False, fontsize=9)
    fig.suptitle(title)
    return fig


def schedule_figure(curves: Mapping[str, tuple[list[float], list[float]]], title: str, offset: Mapping[str, float] | None = None,
                    ax=None):
    """The lr schedules a chapter ran, one line per name: ``curves`` maps a name to (epochs, lr) as
    :meth:`nbprune.config.RunConfig.lr_curve` gives them; ``offset`` shifts a curve right by that many epochs
    (a retraining run drawn after its large model's training). Log lr axis, so 0.1 and 0.001 both show. A
    curve that lies on one drawn before it (learning-rate rewinding that replays only the fine-tuning lr) is
    drawn dashed over a wider line, so that both stay visible."""
    import matplotlib.pyplot as plt

    _style()
    if ax is None:
        _, ax = plt.subplots(figsize=(FIGSIZE[0], FIGSIZE[1] + 0.7), layout="constrained")
    drawn: list[tuple[list[float], list[float]]] = []
    for name, (xs, ys) in curves.items():
        shift = (offset or {}).get(name, 0.0)
        # a step plot at each point, floored at 1e-5 so a cosine that reaches 0 stays on the log axis
        px = [x + shift for x in xs] + [xs[-1] + shift + (xs[1] - xs[0] if len(xs) > 1 else 1)]
        py = [max(y, 1e-5) for y in ys] + [max(ys[-1], 1e-5)]
        overlaps = any(len(px) == len(dx) and np.allclose(px, dx) and np.allclose(py, dy) for dx, dy in drawn)
        ax.step(px, py, where="post", label=name, linewidth=2.0 if overlaps else 1.5,
                linestyle=(0, (4, 3)) if overlaps else "-", zorder=3 if overlaps else 2)
        drawn.append((px, py))
    # a line that another one covers exactly: widen the covered one so that it shows around the dashes
    for line, (px, py) in zip(ax.get_lines(), drawn):
        if line.get_linestyle() == "-" and sum(len(px) == len(dx) and np.allclose(px, dx) and np.allclose(py, dy)
                                              for dx, dy in drawn) > 1:
            line.set_linewidth(4.0)
            line.set_alpha(0.55)
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate")
    ax.set_title(title)
    _legend_below(ax, ncol=2)
    if ax.figure.get_layout_engine() is None:
        ax.figure.tight_layout()
    return ax
