import math
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from nbprune.report import (
    HISTOGRAM_BINS,
    mean_std,
    paired_table,
    paper_shaped_table,
    paper_table,
    paper_value,
    results_frame,
    t_interval,
    weight_distribution_figure,
    weight_histogram,
)


def test_paper_numbers_ship_with_the_package():
    assert paper_value(1, "cifar10", "VGG-16", "VGG-16-A", "fine-tuned") == (93.41, 0.12)
    assert paper_value(4, "cifar10", "VGG-19", "70%", "scratch-b") == (93.81, 0.14)
    assert paper_value(1, "cifar10", "VGG-16", "VGG-16-Z", "fine-tuned") is None
    t9 = paper_table("9b")
    assert set(t9["dataset"]) == {"cifar10"} and len(t9) > 0
    with pytest.raises(ValueError, match="table: unknown '99'"):
        paper_table(99)


def test_t_interval_matches_a_hand_computation():
    m, lo, hi = t_interval([1.0, 2.0, 3.0])
    # mean 2, sd 1, n 3: t_{0.975, 2} = 4.302653 -> half width 4.302653 / sqrt(3)
    assert m == 2.0 and hi - m == pytest.approx(4.302653 / math.sqrt(3), rel=1e-5) and m - lo == pytest.approx(hi - m)
    assert math.isnan(t_interval([1.0])[1])




def test_search_pairs_compare_architectures_at_the_same_fraction():
    from nbprune.report import search_pairs

    rows = []
    for seed, (sl, un, gu) in enumerate([(60.0, 55.0, 59.0), (61.0, 55.5, 61.5), (62.0, 56.0, 60.5)]):
        for method, label, acc in (("slimming", "slimming 70%", sl), ("uniform-channels", "uniform 70%", un),
                                   ("guided-channels", "guided 70%", gu)):
            rows.append({"model": "VGG-16", "method": method, "target": label, "seed": seed, "variant": "scratch-e",
                         "final": acc})
            # the same method on another model (transferred guided pruning) is not mixed into VGG-16's pairs
            rows.append({"model": "VGG-19", "method": method, "target": label, "seed": seed, "variant": "scratch-e",
                         "final": 0.0})
    out = search_pairs(pd.DataFrame(rows))
    assert set(out["model"]) == {"VGG-16", "VGG-19"}
    out = out[out["model"] == "VGG-16"].set_index("comparison")
    assert out.loc["slimming - uniform-channels", "mean diff"] == 5.5
    assert out.loc["slimming - uniform-channels", "verdict"] == "slimming better"
    assert out.loc["slimming - uniform-channels", "paper's claim"] == "agrees"
    assert out.loc["guided-channels - slimming", "verdict"].startswith("inconclusive: about")
    assert out.loc["guided-channels - slimming", "paper's claim"] == "undecided"
    assert (out["seeds"] == 3).all() and (out["pruned"] == "70%").all()


def test_tables_pair_runs_by_seed():
    rows = []
    for seed, (ft, sb) in enumerate([(60.0, 61.0), (62.0, 63.2), (61.0, 61.8)]):
        rows += [dict(model="VGG-16", target="VGG-16-A", variant="fine-tuned", seed=seed, final=ft, best=ft + 1),
                 dict(model="VGG-16", target="VGG-16-A", variant="scratch-b", seed=seed, final=sb, best=sb)]
    df = results_frame(rows)
    paper = {("VGG-16", "VGG-16-A", "fine-tuned"): (93.41, 0.12), ("VGG-16", "VGG-16-A", "scratch-b"): (93.78, 0.15)}
    shaped = paper_shaped_table(df, ["model", "target"], paper)
    assert "Unpruned (final)" not in shaped
    assert shaped.loc[0, "Fine-tuned (final)"] == mean_std([60.0, 62.0, 61.0]) == "61.00 ± 1.00"
    assert shaped.loc[0, "Scratch-B (paper)"] == "93.78 ± 0.15"
    paired = paired_table(df, ["model", "target"], [("scratch-b", "fine-tuned")], paper)
    assert paired.loc[0, "mean diff"] == 1.0 and paired.loc[0, "seeds"] == 3
    assert paired.loc[0, "paper"] == "+0.37"
    assert paired.loc[0, "verdict"] == "scratch better"  # 95% interval [0.50, 1.50]; 90% [0.66, 1.34] not in ±1
    assert paired.loc[0, "paper's claim"] == "agrees"
    tight = paired_table(df, ["model", "target"], [("scratch-b", "fine-tuned")], paper, margin=2.0)
    assert tight.loc[0, "verdict"] == "equivalent within ±2 (scratch ahead, by less than 2)" and tight.loc[0, "paper's claim"] == "agrees"


REPO = Path(__file__).resolve().parents[1]


def _report_names_used() -> dict[str, set[str]]:
    """Every name the notebooks, tools, the package and the tests take from nbprune.report: ``report.<name>``
    in files that import ``report`` from nbprune, and the names of ``from nbprune.report import ...``."""
    files = [*REPO.glob("notebooks/*.py"), *REPO.glob("tools/*.py"), *REPO.glob("tests/*.py"),
             *(f for f in REPO.glob("src/nbprune/**/*.py") if "report" not in f.parent.parts[-1:])]
    used: dict[str, set[str]] = {}
    for path in files:
        text = path.read_text()
        names = set()
        if re.search(r"^\s*from (nbprune|\.) import [^\n]*\breport\b", text, re.M):
            names |= set(re.findall(r"\breport\.(\w+)", text))
        for group in re.findall(r"from (?:nbprune|\.)\.?report import (?:\(([^)]*)\)|([\w, ]+)$)", text, re.M):
            names |= {n.strip() for n in ",".join(group).split(",") if n.strip()}
        if names:
            used[str(path.relative_to(REPO))] = names
    return used


def test_every_name_the_notebooks_use_from_report_exists():
    import nbprune.report

    used = _report_names_used()
    assert {"notebooks/01_predefined.py", "tests/test_report.py"} <= set(used)  # the scan finds the callers
    missing = {f: sorted(n for n in names if not hasattr(nbprune.report, n)) for f, names in used.items()}
    assert not any(missing.values()), missing
    assert not hasattr(nbprune.report, "curve_figure")  # removed: nothing used it


def test_report_imports_no_module_above_it():
    code = ("import sys, nbprune.report; print(' '.join(sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('nbprune', 'matplotlib', 'seaborn', 'torch'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split())
    above = {"nbprune.pipeline", "nbprune.runs", "nbprune.executors", "nbprune.train",
             "nbprune.cli", "nbprune.bench", "nbprune.step", "nbprune.store_io", "nbprune.data", "nbprune.runner",
             "nbprune.chapters", "nbprune.experiments", "nbprune.graph", "nbprune.plans"}
    assert not loaded & above, loaded & above
    assert {"nbprune.paper", "nbprune.report.tables", "nbprune.report.verdicts", "nbprune.report.figures"} <= loaded
    assert not loaded & {"matplotlib", "seaborn", "torch"}  # imported only when a figure or table needs them


def _state(seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    out = {}
    for i, c in enumerate((4, 8, 8)):
        w = torch.randn(c, 3, 3, 3, generator=g)
        w[:1] = 0  # a pruned channel: its zeros are left out of the histogram
        out[f"features.{i}.weight"], out[f"features.{i}.bias"] = w, torch.zeros(c)
    return out


def test_weight_histogram_is_the_density_of_the_nonzero_weights():
    state = _state(0)
    h = weight_histogram(state)  # default layer: the middle conv
    w = state["features.1.weight"]
    assert set(h) == {"edges", "density", "nonzero"}
    assert int(h["nonzero"]) == int((w != 0).sum()) == 7 * 27
    assert len(h["edges"]) == HISTOGRAM_BINS + 1 and h["edges"][-1] == pytest.approx(float(w.abs().max()))
    assert float((h["density"] * np.diff(h["edges"])).sum()) == pytest.approx(1.0)
    same = weight_histogram(w, limit=4.0, bins=8)  # a tensor on given bins
    assert np.allclose(same["edges"], np.linspace(-4, 4, 9))
    counts = np.histogram(w[w != 0].numpy(), bins=same["edges"])[0]
    assert np.allclose(same["density"], counts / counts.sum() / 1.0)
    assert not weight_histogram(torch.zeros(3, 3, 3, 3))["density"].any()
    with pytest.raises(ValueError, match="layer: 'conv9' is not in the state dict"):
        weight_histogram(state, "conv9")
    with pytest.raises(ValueError, match="bins: must be an integer >= 1"):
        weight_histogram(w, bins=0)
    with pytest.raises(ValueError, match="limit: must be a number > 0"):
        weight_histogram(w, limit=0)


def test_weight_distribution_figure_draws_one_curve_per_variant():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = lambda state: types.SimpleNamespace(state_dict=lambda: state)  # noqa: E731
    chain = types.SimpleNamespace(large=run(_state(0)),
                                  runs={"fine-tuned": run(_state(1)), "scratch-e": run(_state(2))})
    ax = weight_distribution_figure(chain, "weights", layer="features.0.weight")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "unpruned (81 non-zero)", "Fine-tuned (81 non-zero)", "Scratch-E (81 non-zero)"]
    assert ax.get_xlabel() == "weight value (conv layer 1 of 3)"
    plt.close(ax.figure)


# ------------------------------------------------------------------------------ how the book shows a table
def test_show_renders_every_row_and_column_without_index_nan_or_truncation():
    from nbprune.report import show

    long_text = "inconclusive: about 105 seeds would be needed to tell the two apart " * 2
    df = pd.DataFrame({"model": ["VGG-16", "VGG-16", "ResNet-56"], "target": ["VGG-16-A", "VGG-16-A", "SFP 40%"],
                       "final": [62.9, float("nan"), 47.33], "params": [5_397_034, 5_397_034, 13_900],
                       "count": pd.array([1, None, 3], dtype="Int64"), "unused": [None, float("nan"), ""],
                       "paper": ["-", "-", "-"], "verdict": [long_text, "", None]})
    df = pd.concat([df] + [df.assign(model=f"M{i}") for i in range(30)], ignore_index=True)  # 93 rows
    out = show(df.set_index(["model", "target"]), group=["model", "target"])
    html = out._repr_html_()
    assert "NaN" not in html and "&lt;NA&gt;" not in html and "<NA>" not in html and "None" not in html
    assert "…" not in html and "..." not in html and "rows ×" not in html and "rows x" not in html
    assert long_text.strip() in html  # no cell is cut
    assert html.count("<tr>") == len(df)  # every row, and no header row of an index
    header = re.search(r"<thead>(.*)</thead>", html, re.S).group(1)
    assert re.findall(r"<th>(.*?)</th>", header) == ["model", "target", "final", "params", "count", "verdict"]
    # the index became columns; empty columns ("unused", "paper" all "-") are left out
    body = re.findall(r"<tr>(.*?)</tr>", re.search(r"<tbody>(.*)</tbody>", html, re.S).group(1))
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in body]
    assert cells[0][:4] == ["VGG-16", "VGG-16-A", "62.90", "5,397,034"]
    assert cells[1][:3] == ["", "", ""]  # a repeated group shows once; a missing value is a blank
    assert cells[2][:2] == ["ResNet-56", "SFP 40%"] and cells[2][3] == "13,900"
    assert "NaN" not in repr(out) and "<NA>" not in repr(out)
    assert "<NA>" not in show(df, drop_empty=False)._repr_html_()
    assert "(no rows)" in show(df.iloc[:0])._repr_html_() and "<table" not in show(df.iloc[:0])._repr_html_()
    with pytest.raises(ValueError, match="columns: 'nope' not in the table"):
        show(df, columns=["model", "nope"])
    picked = show(df, columns=["target", "final"], rename={"final": "final (%)"}, formats={"final": "{:.1f}"})
    assert re.findall(r"<th>(.*?)</th>", picked._repr_html_()) == ["target", "final (%)"]
    assert "<td style=\"text-align: right; white-space: nowrap;\">62.9</td>" in picked._repr_html_()


def test_a_paper_shaped_table_is_shown_one_variant_per_line():
    from nbprune.report import show, variant_rows

    rows = []
    for seed in range(2):
        rows += [dict(model="VGG-16", target="", variant="unpruned", seed=seed, final=70.0 + seed, best=71.0),
                 dict(model="VGG-16", target="VGG-16-A", variant="fine-tuned", seed=seed, final=60.0 + seed, best=61.0),
                 dict(model="VGG-16", target="VGG-16-A", variant="scratch-b", seed=seed, final=62.0, best=62.0),
                 dict(model="ResNet-56", target="SFP 40%", variant="pruned", seed=seed, final=50.0, best=50.0)]
    shaped = paper_shaped_table(results_frame(rows), ["model", "target"],
                                {("VGG-16", "VGG-16-A", "fine-tuned"): (93.41, 0.12)})
    assert shaped.shape[1] > 10 and shaped.isna().any().any()  # wide, with holes: what the book showed before
    long = variant_rows(shaped)
    assert list(long.columns) == ["model", "target", "variant", "final", "best", "paper"]
    assert list(zip(long["target"], long["variant"])) == [("VGG-16-A", "Unpruned"), ("VGG-16-A", "Fine-tuned"),
                                                          ("VGG-16-A", "Scratch-B"), ("SFP 40%", "Pruned")]
    assert long.loc[1, "final"] == "60.50 ± 0.71" and long.loc[1, "paper"] == "93.41 ± 0.12"
    assert "NaN" not in show(long)._repr_html_()


def test_paper_tables_show_the_rows_run_and_fold_the_rest():
    from nbprune.experiments import l1_grid, magnitude_grid
    from nbprune.report import fold, paper_rows, paper_tables, paper_wide, show

    grid = l1_grid(["vgg16-a"])
    ours = paper_rows(paper_wide("1", "2", "3"), grid)
    assert [k[2:] for k in ours.index] == [("VGG-16", ""), ("VGG-16", "VGG-16-A")]
    assert set(ours.index.get_level_values("dataset")) == {"cifar10"}
    html = paper_tables(["1", "2", "3"], grid)._repr_html_()
    before, folded = html.split("<details", 1)
    assert "imagenet" not in before and "ResNet-34" not in before and "VGG-16-A" in before
    assert folded.startswith(' class="nbprune-fold">') and "<details open" not in html
    for t in ("Table 1", "Table 2", "Table 3"):
        assert f"<strong>{t}</strong>" in folded
    assert "imagenet" in folded and "ResNet50-70%" in folded and "cifar100" not in folded
    assert "NaN" not in html and "Scratch-B" in before  # variant keys as the book names them
    # a grid row the paper has no table for shows only the folded tables
    nothing = paper_tables(["8a"], magnitude_grid({"vgg19": [0.3]}))._repr_html_()
    assert nothing.startswith("<details")
    assert fold(show(ours), "s")._repr_html_().count("<table") == 1


def test_the_ledger_shows_the_range_of_epochs_over_seeds():
    from nbprune.report import ledger_table

    rows = []
    for seed, sb in enumerate([10, 9, 9]):
        rows += [dict(model="VGG-16", target="", variant="unpruned", seed=seed, epochs=8, train_flops=1e15,
                      wall_time_s=10.0),
                 dict(model="VGG-16", target="VGG-16-A", variant="fine-tuned", seed=seed, epochs=2, train_flops=1e14,
                      wall_time_s=2.0),
                 dict(model="VGG-16", target="VGG-16-A", variant="scratch-b", seed=seed, epochs=sb, train_flops=9e14,
                      wall_time_s=9.0)]
    ledger = ledger_table(results_frame(rows)).set_index("pipeline")
    assert ledger.loc["Scratch-B", "epochs"] == "9–10"
    assert ledger.loc["train large + prune + fine-tune", "epochs"] == "2"
    assert ledger.loc["train large + prune + fine-tune", "training PFLOP"] == "1.1"


def test_budget_tables_split_the_curve_into_accuracies_and_differences():
    from nbprune.report import budget_stats, budget_tables

    rows = []
    for budget in (2, 4):
        for seed in range(3):
            rows += [dict(model="VGG-16", target="", variant="unpruned", budget=budget, seed=seed,
                          final=50.0 + budget + seed),
                     dict(model="VGG-16", target="", variant="unpruned", budget=2 * budget, seed=seed,
                          final=55.0 + budget + seed)]
            for variant, acc in (("fine-tuned", 40.0), ("scratch-e", 41.0), ("scratch-b", 43.0)):
                rows.append(dict(model="VGG-16", target="VGG-16-A", variant=variant, budget=budget, seed=seed,
                                 final=acc + budget + 0.1 * seed * (variant == "scratch-b")))
    unique = pd.DataFrame(rows).drop_duplicates(["variant", "budget", "seed"])  # budget 4's unpruned is listed twice
    stats = budget_stats(results_frame(unique.to_dict("records")))
    accuracy, differences = budget_tables(stats)
    assert list(accuracy.columns) == ["budget", "seeds", "unpruned", "Fine-tuned", "Scratch-E", "Scratch-B"]
    assert list(differences.columns) == ["budget", "difference", "mean", "95% CI", "p diff / equiv", "verdict"]
    # the p's the verdict read, Holm-adjusted over the budget's two comparisons; none for the doubling gain
    ps = differences.set_index(["budget", "difference"])["p diff / equiv"]
    assert ps.loc[(2, "Scratch-E - Fine-tuned")].endswith("(Holm, 2)") and pd.isna(ps.loc[(2, "doubling gain")])
    assert set(differences["difference"]) == {"Scratch-E - Fine-tuned", "Scratch-B - Fine-tuned", "doubling gain"}
    by = differences.set_index(["budget", "difference"])
    assert by.loc[(2, "Scratch-E - Fine-tuned"), "mean"] == pytest.approx(1.0)


def test_a_budget_figure_of_one_budget_draws_every_difference_at_that_budget():
    from nbprune.report import budget_figure, budget_stats

    rows = []
    for seed in range(3):
        rows.append(dict(model="VGG-19", target="", variant="unpruned", budget=4, seed=seed, final=48.0 + seed))
        for variant, acc in (("fine-tuned", 43.0), ("scratch-e", 38.0), ("scratch-b", 55.0)):
            rows.append(dict(model="VGG-19", target="70%", variant=variant, budget=4, seed=seed,
                             final=acc + 0.3 * seed * (variant != "fine-tuned")))
    fig = budget_figure(budget_stats(results_frame(rows)), 1.0, "one point", {"Fine-tuned": 93.0})
    left, right = fig.axes
    assert right.get_xlim() == left.get_xlim()
    lo, hi = right.get_xlim()
    drawn = {float(line.get_xdata()[0]) for line in right.get_lines() if len(line.get_xdata()) == 1}
    assert len(drawn) == 2 and all(lo < x < hi and abs(x / 4 - 1) < 0.1 for x in drawn)  # side by side at 4


def test_a_budget_figure_draws_every_variant_of_the_curve_not_only_chapter_1s():
    from nbprune.report import budget_figure, budget_stats

    rows = []
    for budget in (4, 16):
        for seed in range(3):
            rows.append(dict(model="VGG-16", target="", variant="unpruned", budget=budget, seed=seed, final=50.0 + budget))
            for variant, acc in (("winning-ticket", 47.0), ("random-init", 46.0)):
                rows.append(dict(model="VGG-16", target="VGG-16-A", variant=variant, budget=budget, seed=seed,
                                 final=acc + budget + 0.2 * seed * (variant == "random-init")))
    paper = {"unpruned": 93.6, "Winning ticket": 93.5, "Random init": 93.5}  # nearly equal, as the paper's are
    fig = budget_figure(budget_stats(results_frame(rows), 1.0, [("winning-ticket", "random-init")]), 1.0, "tickets",
                        paper)
    left, _ = fig.axes
    assert [t.get_text() for t in left.get_legend().get_texts()] == ["Unpruned", "Winning ticket", "Random init"]
    assert sorted(left.get_lines()[2].get_ydata()) == pytest.approx([51.0, 63.0])
    stars = [line for line in left.get_lines() if line.get_marker() == "*"]
    xs = sorted(float(line.get_xdata()[0]) for line in stars)
    assert len(stars) == 3 and len(set(xs)) == 3 and all(abs(x / 160 - 1) < 0.25 for x in xs)  # side by side at 160
    assert xs[1] / xs[0] > 1.1  # 0.15 of a doubling apart (2 ** 0.15 = 1.11)


def test_a_budget_figure_shows_the_unpruned_models_longer_budget_and_keeps_its_tick_apart_from_the_papers():
    from nbprune.report import budget_figure, budget_stats

    def rows(budgets, longest):
        out = []
        for seed in range(3):
            out += [dict(model="VGG-16", target="", variant="unpruned", budget=b, seed=seed, final=40.0 + b / 4 + seed)
                    for b in (*budgets, longest)]
            out += [dict(model="VGG-16", target="VGG-16-A", variant=v, budget=b, seed=seed, final=39.0 + b / 4 + d)
                    for b in budgets for v, d in (("fine-tuned", 0.0), ("scratch-e", 0.1 * seed), ("scratch-b", 1.0))]
        return results_frame(out)

    fig = budget_figure(budget_stats(rows((16, 64), 128)), 1.0, "to 128", {"Fine-tuned": 93.0})
    left, right = fig.axes
    unpruned = next(line for line in left.get_lines() if line.get_label() == "Unpruned")
    assert list(unpruned.get_xdata()) == [16, 64, 128] and unpruned.get_ydata()[-1] == pytest.approx(73.0)
    assert [t.get_text() for t in left.get_xticklabels()] == ["16", "64", "128"]  # 160 would print as "128160"
    gain = next(c for c in right.containers if c.get_label() == "doubling gain")
    assert list(gain.lines[0].get_ydata()) == pytest.approx([16.0])  # at 64 (to 128); 16 has no 32 to double to
    fig = budget_figure(budget_stats(rows((4, 16), 32)), 1.0, "to 32", {"Fine-tuned": 93.0})
    assert "160" in [t.get_text() for t in fig.axes[0].get_xticklabels()]


# ------------------------------------------------------------------------------------------------ figures
def _stats_rows(n: int) -> list[dict]:
    from nbprune.stats import compare

    return [{"keys": {"model": "VGG-16", "target": f"{10 * (i + 1)}%"}, "a": "scratch-b", "b": "fine-tuned",
             "cmp": compare([0.5 * i, 0.5 * i + 1.0, 0.5 * i - 0.4], 1.0), "paper": 0.3 if i % 2 else None}
            for i in range(n)]


def test_forest_figures_are_sized_to_their_rows_with_the_legend_outside_the_data():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nbprune.report import forest_figure

    heights = []
    for n in (1, 3, 12):
        ax = forest_figure(_stats_rows(n), 1.0, "t")
        fig = ax.figure
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        heights.append(fig.get_size_inches()[1] / max(n, 1))
        axes_box = ax.get_window_extent(renderer)
        assert axes_box.height > 0.25 * fig.dpi * n  # at least a quarter inch per comparison
        legend = fig.legends[0] if fig.legends else ax.get_legend()
        legend_box = legend.get_window_extent(renderer)
        assert legend_box.y1 <= axes_box.y0 + 1, "the legend overlaps the data"
        xlabel_box = ax.xaxis.label.get_window_extent(renderer)
        assert legend_box.y1 <= xlabel_box.y0 + 1, "the legend overlaps the axis label"
        fig_box = fig.bbox
        assert legend_box.x0 >= fig_box.x0 - 1 and legend_box.x1 <= fig_box.x1 + 1 and legend_box.y0 >= fig_box.y0 - 1
        lo, hi = ax.get_ylim()
        assert lo <= -0.5 and hi >= n - 0.5  # half a row of room: no marker on the edge
        for line in ax.get_lines():  # every interval and marker inside the x range
            xs = [x for x in line.get_xdata() if np.isfinite(x)]
            if xs:
                assert ax.get_xlim()[0] <= min(xs) and max(xs) <= ax.get_xlim()[1]
        plt.close(fig)
    assert heights[0] > heights[-1]  # a one-row figure is not squashed: its fixed parts get room


def test_schedule_figure_shows_a_curve_that_lies_on_another():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nbprune.report import schedule_figure

    same = ([0.0, 1.0], [0.001, 0.001])
    ax = schedule_figure({"large": ([0.0, 1.0], [0.1, 0.01]), "Fine-tuned": same, "LR rewinding": same,
                          "other": ([0.0, 1.0], [0.1, 0.05])}, "t",
                         {"Fine-tuned": 2.0, "LR rewinding": 2.0, "other": 2.0})
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert lines["LR rewinding"].get_linestyle() != "-"  # dashed over the one it covers
    assert lines["Fine-tuned"].get_linewidth() > lines["LR rewinding"].get_linewidth()  # which shows around it
    assert lines["other"].get_linestyle() == "-" and lines["large"].get_linestyle() == "-"
    plt.close(ax.figure)


def test_seed_points_keep_one_colour_per_variant_across_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from nbprune.report import seeds_figure

    def colour_of(df, label):
        ax = seeds_figure(results_frame(df), "t")
        fig = ax.figure
        handles, labels = (fig.legends[0].legend_handles, [t.get_text() for t in fig.legends[0].get_texts()]) \
            if fig.legends else (ax.get_legend().legend_handles, [t.get_text() for t in ax.get_legend().get_texts()])
        colour = tuple(handles[labels.index(label)].get_facecolor()[0][:3])
        plt.close(fig)
        return colour

    a = [dict(model="VGG-16", target="VGG-16-A", variant=v, seed=s, final=60.0 + s) for v in ("fine-tuned", "scratch-b")
         for s in range(3)]
    b = [dict(model="VGG-16", target="VGG-16-A", variant=v, seed=s, final=60.0 + s) for v in ("scratch-b",)
         for s in range(3)]
    assert colour_of(a, "Scratch-B") == colour_of(b, "Scratch-B")


# -------------------------------------------------------------- bad input (once a gallery in the appendix)
@pytest.mark.parametrize("call, message", [
    (lambda: __import__("nbprune.models", fromlist=["x"]).create_model("vgg16", cfg=[64, 0, "M"]),
     r"^cfg: vgg16 needs a list of 17 entries"),
    (lambda: __import__("nbprune.experiments", fromlist=["x"]).l1_grid(["vgg16-c"]),
     r"^targets: unknown 'vgg16-c'; did you mean 'vgg16-a'\?"),
    (lambda: __import__("nbprune.presets", fromlist=["x"]).get_preset("quik"),
     r"^preset: unknown 'quik'; did you mean 'quick'\?"),
    (lambda: __import__("nbprune.prune", fromlist=["x"]).make_plan(
        __import__("nbprune.models", fromlist=["x"]).create_model("vgg16", width=0.125), "slimmming", fraction=0.5),
     r"^method: unknown 'slimmming'; did you mean 'slimming'\?"),
])
def test_bad_input_gets_one_line_naming_the_parameter(call, message):
    """The cases the appendix's gallery of mistakes showed that no other test module checks (the rest are in
    test_cli, test_models, test_train, test_params, test_store_io, test_unstructured and test_data)."""
    with pytest.raises(ValueError, match=message) as e:
        call()
    assert "\n" not in str(e.value)


def test_budget_widths_sets_each_budgets_architecture_side_by_side_and_counts_the_one_channel_layers():
    from types import SimpleNamespace as NS

    from nbprune import report
    from nbprune.config import RunConfig
    from nbprune.prune.surgery import channel_units
    from nbprune.report.tables import _architecture

    config = RunConfig(model="vgg19", width=0.125)
    units = list(channel_units(_architecture(config)))

    def chain(widths, emptied):
        return NS(large=NS(config=config), plan=NS(info={"widths": widths, "emptied": emptied}))

    def exp(budget):
        return NS(budget=budget, paper_model="VGG-19", label=f"70%, {budget} epochs")

    even = {u: 4 for u in units}
    thin = {**even, units[-3]: 1, units[-2]: 1}
    chains = [(exp(64), chain(thin, units[-3:-1])), (exp(16), chain(even, [])),
              (exp(16), chain({**even, units[0]: 2}, [])), (exp(64), chain(thin, [units[-2]]))]
    table, sentence = report.budget_widths(chains)
    assert list(table.columns) == ["width", "16 epochs", "64 epochs"] and list(table.index) == units
    assert table.loc[units[0], "width"] == 8 and table.loc[units[-1], "width"] == 64
    assert table.loc[units[0], "16 epochs"] == report.mean_std([4, 2])
    assert table.loc[units[-2], "64 epochs"] == report.mean_std([1, 1])
    assert f"of {len(units)} " in sentence
    assert "one channel wide" in sentence.split(".")[0]
    assert "0.0 at 16 epochs (2 seeds, 0–0), 2.0 at 64 epochs (2 seeds, 2–2)." in sentence  # both thin layers
    assert "keep their one largest channel: 0.0, 1.5 on average" in sentence  # of them, 2 and 1 emptied
    no_widths = [(exp(4), NS(large=NS(config=config), plan=NS(info={})))]
    assert report.budget_widths(no_widths)[1] == "" and report.budget_widths(no_widths)[0].empty
