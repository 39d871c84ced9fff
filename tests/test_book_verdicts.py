"""The book-wide verdicts (nbprune.book, nbprune.report.settle): each comparison counted once, Holm within each
claim, the headline read at the longest budget, on the committed cpu results and on rows made up here."""

from pathlib import Path

import pandas as pd
import pytest

from nbprune import report

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "results"


def _rows(model="VGG-16", target="VGG-16-A", shift=None, ids=None):
    """Five seeds of fine-tuned / Scratch-E / Scratch-B; ``ids`` maps a variant to the variant whose runs it is."""
    shift = shift or {"fine-tuned": 0.0, "scratch-e": 0.1, "scratch-b": 2.0}
    out = []
    for seed in range(5):
        for v, d in shift.items():
            run = (ids or {}).get(v, v)
            out.append({"model": model, "target": target, "seed": seed, "variant": v,
                        "final": 60 + d + (0.3 if seed % 2 else -0.3) * (1 if v == "scratch-b" else 0.5),
                        "run_id": f"{model}-{target}-{run}-{seed}"})
    return report.results_frame(out)


def test_a_side_that_is_another_variants_runs_is_named_and_its_comparison_counted_once():
    df = _rows(shift={"pruned": 0.0, "scratch-e": 0.5, "scratch-b": 0.5}, ids={"scratch-b": "scratch-e"})
    rows = report.settle(report.paired_stats(df, ["model", "target"], [("scratch-e", "pruned"), ("scratch-b", "pruned")]))
    assert "same_as" not in rows[0] and rows[1]["same_as"].startswith("Scratch-E - Pruned")
    assert rows[1]["alias"] == {"scratch-b": "scratch-e"}
    table = report.verdict_rows(rows)
    assert table.loc[1, "verdict"].startswith("same runs as") and table.loc[1, "paper's claim"] == "-"
    assert rows[0]["cmp"].family == 1  # the duplicate is not in the family


def test_a_comparison_seen_in_an_earlier_chapter_is_not_counted_again_even_reversed():
    seen = {}
    first = report.settle(report.paired_stats(_rows(), ["model", "target"], [("scratch-b", "fine-tuned")]), seen=seen)
    again = report.settle(report.paired_stats(_rows(), ["model", "target"], [("fine-tuned", "scratch-b")]), seen=seen)
    assert "same_as" not in first[0] and "same_as" in again[0]


def test_holm_runs_within_each_family_and_only_there():
    df = pd.concat([_rows(target=t) for t in ("a", "b", "c")])
    pairs = [("scratch-e", "fine-tuned"), ("scratch-b", "fine-tuned")]
    one = report.settle(report.paired_stats(df, ["model", "target"], pairs))  # one family of 6
    assert {r["cmp"].family for r in one} == {6}
    per_pair = report.settle(report.paired_stats(df, ["model", "target"], pairs), family=lambda r: r["a"])
    assert {r["cmp"].family for r in per_pair} == {3}
    raw = report.paired_stats(df, ["model", "target"], pairs)
    for r, s in zip(raw, per_pair):
        assert s["cmp"].p_diff_adj >= r["cmp"].p_diff and s["cmp"].mean == r["cmp"].mean


def test_the_headline_reads_a_curve_point_only_where_it_trains_longer_than_the_chapter():
    from types import SimpleNamespace

    from nbprune.book import CurvePoint, longest_point
    from nbprune.presets import get_preset

    def point(budget, images, n=5):
        return CurvePoint(budget, images, [{"cmp": SimpleNamespace(n=n)}])

    cpu = get_preset("cpu")  # 4 epochs on all 50,000 images: 200,000 images seen
    short, long_ = point(4, 20000), point(16, 20000)  # 80,000 and 320,000
    assert longest_point([short], cpu) is None
    assert longest_point([short, long_], cpu) is long_
    assert longest_point([short, long_, point(64, 20000, n=1)], cpu) is long_  # one seed decides nothing
    assert longest_point([short]) is short  # without a preset: the longest point with two seeds
    mixed = CurvePoint(16, 20000, [{"cmp": SimpleNamespace(n=3)}, {"cmp": SimpleNamespace(n=5)}])
    assert (mixed.seeds, mixed.seeds_text, long_.seeds_text) == (3, "3–5 seeds", "5 seeds")


def test_the_headline_reads_a_point_only_once_all_its_planned_seeds_are_trained():
    from types import SimpleNamespace

    from nbprune.book import CurvePoint, _still_training, longest_point, planned_seeds
    from nbprune.chapters import get_chapter
    from nbprune.presets import get_preset

    cpu = get_preset("cpu")
    # the preset's plan, per budget of each curve's pruned rows (chapter 1's lone 128-epoch unpruned point is
    # no comparison, so it plans none)
    assert planned_seeds(get_chapter("predefined"), cpu) == {2: 3, 4: 3, 8: 3, 16: 3, 32: 8, 64: 8}
    assert planned_seeds(get_chapter("automatic"), cpu) == {4: 5, 16: 5, 64: 5}
    assert planned_seeds(get_chapter("unstructured"), cpu) == {}

    def point(budget, n, planned):
        return CurvePoint(budget, 20000, [{"cmp": SimpleNamespace(n=n), "claim_text": "c"}], planned)

    done, partial = point(32, 8, 8), point(64, 3, 8)
    assert done.complete and not partial.complete
    assert (done.seeds_text, partial.seeds_text) == ("8 seeds", "3 of 8 seeds")
    assert longest_point([done, partial], cpu) is done  # 64 epochs is still gaining seeds: 32 is read
    assert longest_point([done, point(64, 8, 8)], cpu).budget == 64
    assert longest_point([point(32, 2, 8), point(64, 3, 8)], cpu).budget == 64  # none complete: two seeds do
    assert _still_training([done, partial], done, "c") == "; 64 epochs is still training (3 of 8 seeds): read when complete"
    assert _still_training([done, partial], done, "another claim") == ""
    assert _still_training([done], done, "c") == ""


@pytest.mark.slow
@pytest.mark.skipif(not (COMMITTED / "cpu" / "predefined-cifar10.csv").exists(), reason="no committed cpu results")
def test_the_committed_book_counts_each_comparison_once_and_reads_chapter_1_on_its_curve():
    from nbprune.book import book_comparisons, curve_points, headline, longest_point
    from nbprune.chapters import CHAPTERS
    from nbprune.presets import get_preset

    rows = book_comparisons("cpu", str(COMMITTED))
    keys = [frozenset(r["ids"]) for r in rows if "same_as" not in r]
    assert len(keys) == len(set(keys))  # no two verdicts compare the same runs
    dup = {r["chapter"].number: r["same_as"] for r in rows if "same_as" in r}
    # chapter 6 repeats chapter 5's 20% row; chapter 1's SFP Scratch-B (5 epochs at `cpu`, the paper's rule on
    # the authors' scope) is no longer its Scratch-E (4), so it is a verdict of its own
    assert set(dup) == {6}
    head = headline("cpu", str(COMMITTED))
    assert len(head) == len({r["family"] for r in rows if "same_as" not in r and r["claim_text"] != "no claim tabulated"})
    point = longest_point(curve_points(CHAPTERS["predefined"], "cpu", str(COMMITTED)), get_preset("cpu"))
    first = head.iloc[0]
    assert point is not None and first["at the longest budget"].startswith(f"**{point.budget} epochs")
    assert first["our verdict"].strip("*") in ("supports", "contradicts", "mixed", "undecided",
                                                "supports (partly decided)", "contradicts (partly decided)")


@pytest.mark.slow
@pytest.mark.skipif(not (COMMITTED / "cpu" / "predefined-cifar10.csv").exists(), reason="no committed cpu results")
def test_the_intro_markdown_has_the_headline_first_and_every_comparison_folded():
    from nbprune.book import verdict_markdown

    md = verdict_markdown("cpu", str(COMMITTED))
    assert md.startswith(":::{list-table}") and "* - claim" in md.split(":::")[1]
    assert md.index("_static/verdicts.png") < md.index(":::{dropdown}")
    assert "nan" not in md.lower().replace("financ", "")


def test_the_verdict_figure_has_every_claims_key_under_it_and_no_blank_band_between_rows():
    import matplotlib

    matplotlib.use("Agg")
    from nbprune.book import claim_series, verdict_figure
    from nbprune.presets import get_preset

    ax = verdict_figure("cpu", str(COMMITTED))
    fig = ax.figure
    fig.canvas.draw()
    claims = claim_series(get_preset("cpu"), str(COMMITTED), "cifar10")
    plots = [a for a in fig.axes if a.axison]
    keys = [a for a in fig.axes if not a.axison]
    assert len(plots) == len(keys) == len(claims)
    renderer, dpi = fig.canvas.get_renderer(), fig.dpi
    for plot, key, claim in zip(plots, keys, claims):
        labels = [t.get_text() for t in key.get_legend().get_texts()]
        assert labels == [s["name"] for s in claim["series"][:6]], claim["claim"]
        legend, box = key.get_legend().get_window_extent(renderer), plot.get_tightbbox(renderer)
        assert legend.y1 <= box.y0 + 1 and legend.x0 < box.x1 and legend.x1 > box.x0  # under its own plot
    rows = {}
    for plot, key in zip(plots, keys):
        row = rows.setdefault(round(plot.get_position().y0, 3), {"top": 0.0, "bottom": float("inf")})
        row["top"] = max(row["top"], plot.get_tightbbox(renderer).y1)
        row["bottom"] = min(row["bottom"], key.get_legend().get_window_extent(renderer).y0)
    ordered = [rows[k] for k in sorted(rows, reverse=True)]
    for upper, lower in zip(ordered, ordered[1:]):  # the tallest key of a row reaches the next row's titles
        assert (upper["bottom"] - lower["top"]) / dpi < 0.3, f"{(upper['bottom'] - lower['top']) / dpi:.2f} in blank"


def test_the_intro_of_a_preset_without_results_says_so(tmp_path):
    from nbprune.book import verdict_figure, verdict_markdown

    md = verdict_markdown("smoke", str(tmp_path))
    assert md.startswith("No chapter has results at preset `smoke` yet.") and "not run" in md
    assert verdict_figure("smoke", str(tmp_path)) is None


def test_the_intros_run_paragraph_is_computed_from_the_committed_results(tmp_path):
    import re

    from nbprune.run_summary import run_summary

    text = run_summary("cpu", str(COMMITTED))
    ids = set()
    for path in (COMMITTED / "cpu").glob("*-cifar10.csv"):
        if "-run-" not in path.name:  # a run with other parameters (nbprune grid --seeds ...) is not the book's
            ids |= set(pd.read_csv(path, keep_default_na=False)["run_id"])
    assert text.startswith(f"The `cpu` book's results hold {len(ids)} distinct runs, trained ")
    chapter = pd.read_csv(COMMITTED / "cpu" / "predefined-cifar10.csv", keep_default_na=False)
    large = chapter[chapter["variant"] == "unpruned"]["final"]
    assert f"{large.min():.1f} to {large.max():.1f}% (mean {large.mean():.1f}%) for VGG-16;" in text
    curve = pd.read_csv(COMMITTED / "cpu" / "predefined-budget-cifar10.csv", keep_default_na=False)
    top = curve[curve["variant"] == "unpruned"].groupby("budget")["final"].mean()
    assert f"to {top.iloc[-1]:.1f}% at {top.index[-1]} (mean over seeds)" in text
    assert re.search(r"(on|between) 20\d\d-\d\d-\d\d", text) and "nan" not in text
    assert run_summary("smoke", str(tmp_path)) == "The `smoke` book has no results yet."


def test_a_chapter_run_on_another_dataset_says_its_curve_is_cifar10s():
    from types import SimpleNamespace

    from nbprune.book import curve_note
    from nbprune.chapters import get_chapter
    from nbprune.presets import get_preset

    run = SimpleNamespace(chapter=get_chapter("automatic"), preset=get_preset("cpu"), dataset="cifar100", curve=None,
                          curve_missing=0)
    assert curve_note(run) == ("This chapter has no budget curve on cifar100 at preset `cpu`: the curves run on "
                               "CIFAR-10.")
    run.dataset = "cifar10"  # the same run on CIFAR-10: its curve exists, none of it read here
    assert curve_note(run).startswith("No point of this curve is trained yet.")


def test_a_curve_note_says_which_points_still_miss_seeds(monkeypatch):
    from types import SimpleNamespace

    import nbprune.book as book
    from nbprune.chapters import get_chapter
    from nbprune.presets import get_preset

    run = SimpleNamespace(chapter=get_chapter("automatic"), preset=get_preset("cpu"), dataset="cifar10", curve=None,
                          curve_missing=2)
    monkeypatch.setattr(book, "curve_sections", lambda run: [{"seeds": {4: 5, 16: 5, 64: 3}}])
    text = book.curve_note(run)
    assert "Points trained: 4 epochs (5 seeds), 16 epochs (5 seeds), 64 epochs (3 of 5 seeds so far)" in text
    assert "the intro's headline reads a point only once all its seeds are trained" in text
    monkeypatch.setattr(book, "curve_sections", lambda run: [{"seeds": {4: 5, 16: 5}}])
    assert "so far" not in book.curve_note(run) and "headline reads a point" not in book.curve_note(run)


def test_chapter_1s_curve_note_counts_the_unpruned_models_own_longest_budget(monkeypatch):
    from types import SimpleNamespace

    import nbprune.book as book
    from nbprune.chapters import get_chapter
    from nbprune.presets import get_preset

    cpu = get_preset("cpu")
    longest = max(cpu.budgets)
    rows = [{"model": "VGG-16", "target": "", "variant": "unpruned", "budget": 2 * longest, "seed": s, "final": 70.0,
             "run_id": f"u{s}"} for s in (0, 1)]
    run = SimpleNamespace(chapter=get_chapter("predefined"), preset=cpu, dataset="cifar10", curve_missing=0,
                          curve=SimpleNamespace(rows=rows))
    monkeypatch.setattr(book, "curve_sections", lambda run: [{"seeds": {longest: 8}}])
    text = book.curve_note(run)
    assert f"; the unpruned model alone at {2 * longest} epochs (2 of 3 seeds so far), on" in text
    run.curve.rows = rows + [{**rows[0], "seed": 2, "run_id": "u2"}]
    assert f"alone at {2 * longest} epochs (3 seeds), on" in book.curve_note(run)
    run.chapter = get_chapter("automatic")  # its curve has no unpruned-only point
    assert "unpruned model alone" not in book.curve_note(run)


def test_the_doubling_gain_is_cited_at_each_budget_chapter_1s_curve_has_both_ends_of(tmp_path):
    from nbprune.book import doubling_sentence
    from nbprune.presets import get_preset

    folder = tmp_path / "cpu"
    folder.mkdir()
    rows = [{"variant": "unpruned", "budget": b, "seed": s, "final": acc + s}
            for b, acc in ((4, 60.0), (8, 68.0), (16, 72.0), (32, 75.5)) for s in (0, 1, 2)]
    pd.DataFrame(rows).to_csv(folder / "predefined-budget-cifar10.csv", index=False)
    p = get_preset("cpu")
    text = doubling_sentence(p, [4, 16, 64], str(tmp_path))  # 64 has no 128 on this curve: left out
    assert "adds 8.0 points from 4 to 8 epochs and 3.5 points from 16 to 32 epochs:" in text and "64" not in text
    assert doubling_sentence(p, [64], str(tmp_path)) == ""


def test_a_curve_sections_seed_count_is_the_fewest_any_pruned_variant_has():
    from types import SimpleNamespace

    from nbprune.book import curve_sections
    from nbprune.chapters import get_chapter
    from nbprune.presets import get_preset

    rows = [{"model": "VGG-19", "target": t, "variant": v, "seed": s, "budget": 64, "final": 60.0 + s, "best": 61.0}
            for v, t, seeds in (("unpruned", "", (0, 1, 2)), ("fine-tuned", "70%, 64 epochs", (0, 1)),
                                ("scratch-e", "70%, 64 epochs", (0, 1)), ("scratch-b", "70%, 64 epochs", (0,)))
            for s in seeds]
    run = SimpleNamespace(curve=SimpleNamespace(rows=rows), grid=[], dataset="cifar10", preset=get_preset("cpu"),
                          chapter=get_chapter("automatic"))
    (section,) = curve_sections(run)
    assert section["seeds"] == {64: 1}  # Scratch-B is a seed behind: its comparison has one seed


def test_the_headline_says_where_the_pruned_architectures_read_are_one_channel_wide(tmp_path):
    import json

    from nbprune.book import one_channel_layers
    from nbprune.chapters import get_chapter

    cfgs = {0: [8, 1, "M", 1, 30], 1: [8, 2, "M", 1, 30], 2: [8, 4, "M", 16, 30]}
    rows = []
    for budget in (16, 64):
        for seed, cfg in cfgs.items():
            for variant in ("unpruned", "fine-tuned", "scratch-e"):
                run_id = f"{budget:02d}{seed}{variant[:2]}0123456789"[:16]
                rows.append({"model": "VGG-19", "target": f"70%, {budget} epochs", "seed": seed,
                             "method": "slimming", "budget": budget, "variant": variant, "final": 60.0,
                             "run_id": run_id})
                d = tmp_path / "cpu" / "store" / run_id
                d.mkdir(parents=True)
                wide = [8, 64, "M", 64, 64] if variant == "unpruned" or budget == 16 else cfg
                (d / "config.json").write_text(json.dumps({"model": "vgg19", "cfg": wide}))
    pd.DataFrame(rows).to_csv(tmp_path / "cpu" / "automatic-budget-cifar10.csv", index=False)
    ch = get_chapter("automatic")
    said = one_channel_layers(ch, "cpu", 64, str(tmp_path))
    assert said == "the pruned models have 0–2 of their 4 layers one channel wide, a bottleneck fine-tuning inherits"
    assert one_channel_layers(ch, "cpu", 16, str(tmp_path)) == ""  # no layer one channel wide there
    assert one_channel_layers(get_chapter("predefined"), "cpu", 64, str(tmp_path)) == ""  # no curve file


@pytest.mark.slow
@pytest.mark.skipif(not (COMMITTED / "cpu" / "predefined-cifar10.csv").exists(), reason="no committed cpu results")
def test_a_chapters_findings_read_its_curve_where_the_headline_does_and_say_the_same():
    from types import SimpleNamespace

    from nbprune.book import _curve_findings, curve_points, headline, longest_point, short_claim
    from nbprune.chapters import CHAPTERS
    from nbprune.presets import get_preset

    cpu = get_preset("cpu")
    head = headline("cpu", str(COMMITTED))
    checked = 0
    for ch in CHAPTERS.values():
        run = SimpleNamespace(preset=cpu, chapter=ch, dataset="cifar10")
        lines = _curve_findings(run, str(COMMITTED))
        point = longest_point(curve_points(ch, cpu, str(COMMITTED)), cpu)
        if point is None:
            assert lines == []
            continue
        text = "\n".join(lines)
        assert f"({point.budget} epochs, 20,000 training images, {point.seeds_text})" in text
        for claim in {r["claim_text"] for r in point.rows}:
            row = head[head["claim"].str.startswith(short_claim(ch, claim) + " (")].iloc[0]
            assert row["at the longest budget"].startswith(f"**{point.budget} epochs")
            assert f"**{short_claim(ch, claim)}** at {point.budget} epochs: *{row['our verdict'].strip('*')}*." in text
            checked += 1
    assert checked >= 3  # chapters 1, 2 and 5


def test_a_chapters_reasons_follow_the_verdicts_they_explain_before_its_curve_is_read():
    from types import SimpleNamespace

    import pandas as pd

    from nbprune.book import chapter_findings
    from nbprune.chapters import CHAPTERS
    from nbprune.presets import get_preset
    from nbprune.runner import results_path

    cpu, ch = get_preset("cpu"), CHAPTERS["automatic"]
    rows = pd.read_csv(results_path(ch.name, cpu, "cifar10", COMMITTED), keep_default_na=False).to_dict("records")
    run = SimpleNamespace(preset=cpu, chapter=ch, dataset="cifar10", rows=rows, saved=None)
    text = chapter_findings(run, str(COMMITTED))
    why, curve = text.find(f"Why the {cpu.epochs}-epoch runs may read differently"), text.find("budget curve, at its")
    assert 0 < why < curve, text


def test_an_equivalence_is_stated_with_the_interval_and_p_that_decided_it():
    """An equivalence is read on the 90% interval (TOST); the 95% one shown beside it can overhang the margin
    (chapter 5's 20% row at 64 epochs: -0.04 [-1.23, +1.15], equivalent within ±1), so the words give the 90%
    interval and the equivalence p, not the difference p."""
    from nbprune.book import _result, _sentence
    from nbprune.stats import compare, holm

    wide, _ = holm([compare([-1.2, 0.9, 0.3, -0.6, 0.4], 1.0), compare([0.1, 0.3, -0.2, 0.0, 0.2], 1.0)])
    assert wide.outcome == "equivalent" and wide.high95 > 1.0 > wide.high90  # the 95% interval overhangs ±1
    r = {"cmp": wide, "a": "winning-ticket", "b": "random-init", "keys": {"model": "VGG-16", "target": "20%"}}
    assert f"equivalent within ±1 (90% interval [{wide.low90:+.2f}, {wide.high90:+.2f}])" in _result(r)
    s = _sentence(r)
    assert f"90% interval {wide.low90:+.2f} to {wide.high90:+.2f} lies inside ±1" in s
    assert f"Holm-adjusted p {wide.p_equiv_adj:.3f} for equivalence over the claim's 2 comparisons" in s
    assert "for a difference" not in s
    other = {**r, "cmp": compare([2.0, 3.0, 2.5], 1.0)}  # a difference keeps its difference p, no 90% interval
    assert "90% interval" not in _result(other) and "p " in _sentence(other) and "for a difference" in _sentence(other)
