"""Chapter 6 (later work): random filter pruning, its cross-row verdict, and the chapter's record and grid."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from nbprune import report
from nbprune.chapters import get_chapter
from nbprune.experiments import later_work_grid
from nbprune.models import create_model
from nbprune.presets import get_preset
from nbprune.prune import make_plan
from nbprune.prune.surgery import channel_units


def test_random_filters_keep_the_targets_widths_at_random_and_each_draw_is_fixed():
    model = create_model("vgg16", width=0.25)
    l1 = make_plan(model, "l1", target="vgg16-a")
    draws = [make_plan(model, "random-channels", target="vgg16-a", draw=d) for d in (0, 1)]
    for plan in draws:
        assert plan.cfg == l1.cfg and plan.info["widths"] == l1.info["widths"]
        for name, idx in plan.keep.items():
            assert idx.tolist() == sorted(set(idx.tolist()))  # sorted, distinct channels
    # a pruned unit keeps other channels than the largest-L1 ones, and two draws differ
    pruned = [n for n, u in channel_units(model).items() if l1.info["widths"][n] < u.size]
    assert any(not torch.equal(draws[0].keep[n], l1.keep[n]) for n in pruned)
    assert any(not torch.equal(draws[0].keep[n], draws[1].keep[n]) for n in pruned)
    # the draw does not read the weights: another init, the same channels
    other = create_model("vgg16", width=0.25)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(-3.0)
    again = make_plan(other, "random-channels", target="vgg16-a", draw=0)
    assert all(torch.equal(again.keep[n], draws[0].keep[n]) for n in draws[0].keep)


@pytest.mark.parametrize("bad", [-1, 1.5, True, "0"])
def test_a_bad_draw_is_one_line_naming_it(bad):
    with pytest.raises(ValueError, match=r"^draw: must be an integer >= 0"):
        make_plan(create_model("vgg16", width=0.125), "random-channels", target="vgg16-a", draw=bad)


def _rows():
    """Synthetic chapter-6 rows: L1-norm with its schedules, random filters with 2 draws, 3 seeds."""
    rows = []
    for seed in range(3):
        for variant, acc in (("fine-tuned", 60.0), ("lr-rewinding", 60.0), ("slr", 62.0), ("clr", 63.0)):
            run = f"ft{seed}" if variant in ("fine-tuned", "lr-rewinding") else f"{variant}{seed}"
            rows.append(dict(model="VGG-16", target="VGG-16-A", method="l1", seed=seed, variant=variant,
                             final=acc + 0.1 * seed, best=acc, run_id=run))
        for draw in range(2):
            for variant, acc in (("fine-tuned", 55.0), ("slr", 61.0), ("clr", 62.0 + draw)):
                rows.append(dict(model="VGG-16", target="VGG-16-A, random filters", method="random-channels",
                                 seed=seed, variant=variant, final=acc + 0.2 * seed, best=acc,
                                 run_id=f"r{draw}{variant}{seed}"))
    return report.results_frame(rows)


def test_random_pruning_is_compared_with_the_best_l1_schedule_as_the_mean_over_draws():
    df = _rows()
    assert report.best_schedule(df, "VGG-16") == "clr"  # 63 beats 62 and 60 on the L1-norm row
    (row,) = report.random_pruning_stats(df, margin=1.0)
    # per seed: mean over the two draws of clr (62 and 63, + 0.2 seed) minus L1 fine-tuned (60 + 0.1 seed)
    expected = [(62.5 + 0.2 * s) - (60.0 + 0.1 * s) for s in range(3)]
    assert row["cmp"].mean == pytest.approx(sum(expected) / 3) and row["draws"] == 2 and row["schedule"] == "clr"
    table = report.random_pruning_table(df, margin=1.0)
    assert table.loc[0, "verdict"].startswith("random better") and table.loc[0, "paper's claim"] == "agrees"


def test_a_pair_of_the_same_runs_is_not_a_comparison():
    df = _rows()
    l1 = df[df["method"] == "l1"]
    stats = report.paired_stats(l1, ["model", "target"], [("lr-rewinding", "fine-tuned"), ("slr", "fine-tuned")])
    assert [(r["a"], r["b"]) for r in stats] == [("slr", "fine-tuned")]


def test_the_chapter_shares_its_large_models_and_runs_with_chapters_1_2_and_5():
    from nbprune.graph import large_for

    grid = later_work_grid(get_preset("cpu"))
    assert [e.method for e in grid].count("random-channels") == 3
    assert [e.method for e in later_work_grid(get_preset("cpu"), 5)].count("random-channels") == 5
    ch1 = get_chapter("predefined").grid(get_preset("cpu"))
    ch5 = get_chapter("lottery_ticket").grid(get_preset("cpu"))
    by_label = {(e.method, e.label): e for e in ch1 + get_chapter("automatic").grid(get_preset("cpu")) + ch5}
    for exp in grid:
        twin = by_label.get((exp.method, exp.label))
        if twin is not None:  # the same row of another chapter: the same large model
            assert large_for(exp, get_preset("cpu"), 0) == large_for(twin, get_preset("cpu"), 0)
    shared = {(e.method, e.label) for e in grid} & set(by_label)
    assert {("l1", "VGG-16-A"), ("slimming", "70%"), ("magnitude", "20%")} <= shared
    with pytest.raises(ValueError, match="^draws: must be None or an integer >= 1"):
        later_work_grid(get_preset("cpu"), 0)


def test_the_intro_reads_the_chapters_cross_row_verdict(tmp_path):
    from nbprune.book import verdict_stats, verdict_summary
    from nbprune.presets import get_preset

    p = get_preset("smoke")
    folder = tmp_path / p.name
    folder.mkdir()
    _rows().to_csv(folder / "later_work-cifar10.csv", index=False)
    summary = verdict_summary("smoke", str(tmp_path))
    mine = summary[summary["chapter"].str.contains("06_later_work")]
    assert any(mine["comparison"].str.startswith("random filters")), mine
    stats = verdict_stats("smoke", str(tmp_path))
    assert stats and all(r["keys"]["chapter"] == "6." for r in stats)
    claims = {r.get("label") or f"{r['a']} - {r['b']}": r["claim_text"] for r in stats}  # each names its claim
    assert next(c for k, c in claims.items() if k.startswith("random filters")).startswith("Le & Hua 2021: randomly")
    assert claims["clr - fine-tuned"].startswith("Le & Hua 2021: retrained at a large learning rate")
    families = {r["family"] for r in stats}  # Holm runs within each claim: the random row is a family of its own
    assert len(families) >= 2 and all(f[0] == 6 for f in families)


def test_seed_points_are_drawn_on_an_axis_that_spans_the_data_not_from_zero():
    import matplotlib

    matplotlib.use("Agg")
    ax = report.seeds_figure(_rows(), "t", chance=10.0)
    lo, hi = ax.get_ylim()
    assert 50 < lo < 55 and 63 < hi < 66
    assert not [ln for ln in ax.get_lines() if ln.get_label() == "chance"]  # 10% lies far below: not drawn


def test_the_schedule_figure_draws_one_line_per_schedule_shifted_after_the_large_model():
    import matplotlib

    matplotlib.use("Agg")
    from nbprune.config import RunConfig
    from nbprune.pipeline import retraining_schedule

    large = RunConfig(model="vgg16", epochs=4)
    clr = RunConfig(model="vgg16", epochs=1, **retraining_schedule("clr", large, 1))
    ax = report.schedule_figure({"large": large.lr_curve(4), "clr": clr.lr_curve(4)}, "t", {"clr": 4.0})
    lines = {ln.get_label(): ln for ln in ax.get_lines()}
    assert set(lines) == {"large", "clr"} and min(lines["clr"].get_xdata()) == pytest.approx(4.0)
    assert ax.get_yscale() == "log"


def test_the_training_time_table_counts_a_shared_run_once_and_sums_the_book(tmp_path):
    from nbprune.book import training_time

    folder = tmp_path / "smoke"
    folder.mkdir()
    row = dict(model="VGG-16", target="", seed=0, method="l1", variant="unpruned", final=1.0, best=1.0)
    pd.DataFrame([{**row, "run_id": "a", "wall_time_s": 3600.0, "train_flops": 1e15},
                  {**row, "run_id": "b", "wall_time_s": 1800.0, "train_flops": 2e15}]).to_csv(
        folder / "predefined-cifar10.csv", index=False)
    pd.DataFrame([{**row, "run_id": "a", "wall_time_s": 3600.0, "train_flops": 1e15},
                  {**row, "run_id": "c", "wall_time_s": 720.0, "train_flops": 0.0}]).to_csv(
        folder / "lottery_ticket-cifar10.csv", index=False)
    t = training_time("smoke", str(tmp_path)).set_index("part")
    assert t.loc["5. The lottery ticket hypothesis", "new runs"] == 1  # run a was chapter 1's
    assert t.loc["book", "run-hours (new)"] == pytest.approx(1.7)
    assert t.loc["book", "machine hours (2 at a time)"] == pytest.approx(0.85)
    assert t.loc["book", "training PFLOP (new)"] == pytest.approx(3.0)
