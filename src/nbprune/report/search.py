"""Chapter 4's architecture search as frames: the Scratch-E architectures on curves, their summary, their
sizes at the same fraction of channels, and the groups its accuracy-vs-parameters figures draw.

Pure functions of a results frame (:func:`nbprune.report.results_frame`); the notebook displays what they
return.
"""

from __future__ import annotations

import pandas as pd

from .tables import mean_std

# each method's curve in Figure 3 / 5 / 6; a row of the transferred guided pruning is a curve of its own
SEARCH_CURVES = {"slimming": "Network Slimming architecture", "uniform-channels": "uniform channel pruning",
                 "guided-channels": "guided pruning (slimming's mean stage widths)",
                 "magnitude": "magnitude-pruned mask", "uniform-sparsity": "uniform sparsity",
                 "guided-sparsity": "guided sparsification"}
TRANSFERRED = "transferred guided pruning (VGG-16's pattern)"
SLIM, UNIFORM = SEARCH_CURVES["slimming"], SEARCH_CURVES["uniform-channels"]
CHANNEL_METHODS = ("slimming", "uniform-channels", "guided-channels")  # the architectures of a channel fraction


def search_points(df: pd.DataFrame) -> pd.DataFrame:
    """The Scratch-E runs of ``df``, each with its ``curve`` (:data:`SEARCH_CURVES` by method; rows whose
    target starts with "transferred" on :data:`TRANSFERRED`). A method without a curve gets NaN."""
    points = df[df["variant"] == "scratch-e"]
    return points.assign(curve=points["method"].map(SEARCH_CURVES).where(
        ~points["target"].str.startswith("transferred"), TRANSFERRED))


def search_summary(points: pd.DataFrame) -> pd.DataFrame:
    """Per (model, curve, target), in the order of :func:`search_points`' rows: mean parameters, seeds, and the
    final and best accuracies (mean ± std), sorted by model and curve (the targets keep their order)."""
    summary = points.groupby(["model", "curve", "target"], sort=False).agg(
        params=("params", "mean"), seeds=("seed", "count"), final=("final", mean_std), best=("best", mean_std))
    return summary.sort_index(level=["model", "curve"], sort_remaining=False)


def search_figure_groups(points: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """The accuracy-vs-parameters figures: one per model with curves (a curve of several targets); the points of
    models with one architecture per curve (the transferred VGG-19) join the first figure, each curve renamed
    "<model>: <curve>". Each item: (the models it shows, "VGG-16 and VGG-19"; its rows). One empty figure (no
    name, no rows) when no model has a curve."""
    curved = [m for m, g in points.groupby("model", sort=False) if g.groupby("curve")["target"].nunique().max() > 1]
    lone = points[~points["model"].isin(curved)].assign(curve=lambda d: d["model"] + ": " + d["curve"])
    out = []
    for i, model in enumerate(curved or ["-"]):
        g = pd.concat([points[points["model"] == model], lone if i == 0 else lone.iloc[:0]])
        out.append((" and ".join(dict.fromkeys(g["model"])), g))
    return out


def search_sizes(points: pd.DataFrame) -> pd.DataFrame:
    """Mean parameters of each channel architecture (:data:`CHANNEL_METHODS`) per (model, fraction pruned: the
    last word of the target), one column per curve."""
    sizes = points[points["method"].isin(CHANNEL_METHODS)].assign(pruned=lambda d: d["target"].str.split().str[-1])
    return sizes.pivot_table(index=["model", "pruned"], columns="curve", values="params", aggfunc="mean",
                             observed=True)


def fewer_parameters(sizes: pd.DataFrame) -> tuple[int, int] | None:
    """(at how many fractions Network Slimming's architecture has fewer parameters than the uniform one, of how
    many fractions have both) from :func:`search_sizes`; None when the frame lacks either curve."""
    if not {SLIM, UNIFORM} <= set(sizes.columns):
        return None
    both = sizes[[SLIM, UNIFORM]].dropna()  # the transferred VGG-19 has neither: it is not counted
    return int((both[SLIM] < both[UNIFORM]).sum()), len(both)
