"""The chapter runner: one execution path, plans computed once, the CLI and the notebooks making the same rows."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from nbprune import plans
from nbprune.chapters import CHAPTERS, get_chapter
from nbprune.cli import main
from nbprune.executors import LocalExecutor
from nbprune.experiments import l1_grid, magnitude_grid
from nbprune.presets import get_preset
from nbprune.runner import run_chapter, run_grid
from nbprune.runs import RunStore

pytestmark = pytest.mark.usefixtures("one_thread")


def _count_make_plan(monkeypatch) -> list:
    """Count every pruning computation, whoever asks for it: each registered method is wrapped."""
    from nbprune.prune.plan import METHODS

    calls = []

    def counting(name, fn):
        def method(model, **settings):
            calls.append(name)
            return fn(model, **settings)
        return method

    for name, fn in list(METHODS.items()):
        monkeypatch.setitem(METHODS, name, counting(name, fn))
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("grid", [l1_grid(["vgg16-a"]), magnitude_grid({"vgg16": [0.5]})], ids=["l1", "magnitude"])
def test_a_chains_plan_is_computed_once_and_stored_beside_its_large_model(tmp_path, tiny_archive, monkeypatch, grid):
    calls = _count_make_plan(monkeypatch)
    store = RunStore(tmp_path / "store")
    res = run_grid(store, grid, "smoke", [0, 1], data_root=tiny_archive, device="cpu", progress=False)
    # the graph naming the derived runs, the workers fine-tuning them and the collection all use one plan
    assert len(calls) == 2  # one per seed's large model
    for _exp, chain in res.chains:
        assert list((chain.large.dir / "plans").glob("*.pt"))
        assert chain.runs["fine-tuned"].metrics["status"] == "finished"
    again = run_grid(store, grid, "smoke", [0, 1], data_root=tiny_archive, device="cpu", progress=False)
    assert len(calls) == 2 and again.rows == res.rows  # read back, not recomputed


@pytest.mark.slow
def test_a_stored_plan_round_trips_exactly(tmp_path, tiny_archive):
    store = RunStore(tmp_path / "store")
    res = run_grid(store, magnitude_grid({"vgg16": [0.5]}), "smoke", [0], data_root=tiny_archive, device="cpu",
                   progress=False)
    chain = res.chains[0][1]
    fresh = plans.compute_plan(chain.large.model("final"), "magnitude", {"fraction": 0.5})
    stored = plans.load_plan(chain.large.dir, "magnitude", {"fraction": 0.5})
    assert stored.flops_pruned == fresh.flops_pruned and stored.plan.cfg == fresh.plan.cfg
    assert set(stored.plan.masks) == set(fresh.plan.masks)
    assert all(torch.equal(stored.plan.masks[k], fresh.plan.masks[k]) for k in fresh.plan.masks)
    assert plans.load_plan(chain.large.dir, "magnitude", {"fraction": 0.6}) is None  # another spec: not this file


@pytest.mark.slow
def test_a_torn_plan_is_recomputed_and_its_summary_serves_reading(tmp_path, tiny_archive, monkeypatch):
    store = RunStore(tmp_path / "store")
    grid = l1_grid(["vgg16-a"])
    res = run_grid(store, grid, "smoke", [0], data_root=tiny_archive, device="cpu", progress=False)
    large_dir = res.chains[0][1].large.dir
    full, summary = next((large_dir / "plans").glob("*.pt")), next(large_dir.glob("plan-*.json"))
    full.write_bytes(b"torn")
    calls = _count_make_plan(monkeypatch)
    again = run_grid(store, grid, "smoke", [0], data_root=tiny_archive, device="cpu", progress=False)
    assert len(calls) == 0 and again.rows == res.rows  # reading back needs only the JSON summary
    summary.write_text("{")
    again = run_grid(store, grid, "smoke", [0], data_root=tiny_archive, device="cpu", progress=False)
    assert len(calls) == 1 and again.rows == res.rows  # both torn: computed once more, and stored again
    assert plans.load_plan(large_dir, "l1", {"target": "vgg16-a"}) is not None


def test_every_chapter_record_is_complete():
    pages = [c.page for c in CHAPTERS.values()]
    assert pages == ["01_predefined", "02_automatic", "03_unstructured", "04_architecture_search", "05_lottery_ticket",
                     "06_later_work"]
    for c in CHAPTERS.values():
        assert c.claim and c.experiments("smoke") and c.experiments("paper")
        assert c.verdicts == "search" or c.pairs
    with pytest.raises(ValueError, match="chapter: unknown 'predefinedd'; did you mean 'predefined'"):
        get_chapter("predefinedd")


@pytest.mark.slow
@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_the_cli_and_the_notebooks_runner_make_the_same_results_file(tmp_path, tiny_archive, chapter):
    store = tmp_path / "store"
    run = run_chapter(chapter, "smoke", data_root=tiny_archive, store=store, executor=LocalExecutor(workers=1),
                      device="cpu", results_root=tmp_path / "notebook")
    trained = set(RunStore(store).run_ids())
    assert main(["grid", chapter, "--preset", "smoke", "--store", str(store), "--data", str(tiny_archive),
                 "--workers", "1", "--device", "cpu", "--results", str(tmp_path / "cli")]) == 0
    assert set(RunStore(store).run_ids()) == trained  # the CLI trained nothing more: the same runs
    name = f"{chapter}-cifar10.csv"
    assert (tmp_path / "cli" / "smoke" / name).read_bytes() == (tmp_path / "notebook" / "smoke" / name).read_bytes()
    if chapter == "predefined":  # and so does the budget curve, into its own file
        budget = f"{chapter}-budget-cifar10.csv"
        assert (tmp_path / "cli" / "smoke" / budget).read_bytes() == (tmp_path / "notebook" / "smoke" / budget).read_bytes()
    if chapter == "architecture_search":  # the follow-up stage runs from the CLI too
        assert any(r["target"].startswith(("guided", "transferred")) for r in run.rows)


@pytest.mark.slow
def test_the_box_counts_the_runs_made_by_other_code(tmp_path, tiny_archive):
    import json

    run = run_chapter("automatic", "smoke", data_root=tiny_archive, store=tmp_path / "store",
                      executor=LocalExecutor(workers=1), device="cpu", results_root=tmp_path / "results")
    n = len({r["run_id"] for r in run.rows})
    assert f"all {n} runs were made by this code" in run.box()
    prov_path = run.store.path / run.rows[0]["run_id"] / "provenance.json"
    prov = json.loads(prov_path.read_text())
    prov["packages"]["torch"] = "0.0.1"
    prov_path.write_text(json.dumps(prov))
    box = run.box()
    assert f"of {n} runs, 1 by other code or libraries (differing: torch (1))" in box


@pytest.mark.slow
@pytest.mark.parametrize("chapter", ["automatic", "unstructured", "architecture_search", "later_work"])
def test_a_chapter_re_executed_against_exported_results_trains_nothing_and_makes_the_same_rows(
        tmp_path, tiny_archive, chapter):
    from nbprune.store_io import export_runs, import_runs

    first = run_chapter(chapter, "smoke", data_root=tiny_archive, store=tmp_path / "a",
                        executor=LocalExecutor(workers=1), device="cpu", results_root=tmp_path / "r1")
    # what a figure plots from weights was stored by run_chapter itself (as under `nbprune grid`), not by a
    # notebook cell asking for it while the weights were there
    figure = chapter == "unstructured"
    if figure:
        assert list(first.chains[0][1].large.dir.glob("figure-weights-*.json"))
    ids = [r["run_id"] for r in first.rows + (first.curve.rows if first.curve else [])]  # a curve's runs too
    export = export_runs(RunStore(tmp_path / "a"), tmp_path / "export", ids)
    assert not list((tmp_path / "export").rglob("*.pt"))  # no weights travel
    import_runs(tmp_path / "export", RunStore(tmp_path / "b"))
    again = run_chapter(chapter, "smoke", data_root=tiny_archive, store=tmp_path / "b",
                        executor=LocalExecutor(workers=1), device="cpu", results_root=tmp_path / "r2")
    assert set(RunStore(tmp_path / "b").run_ids()) == set(export.run_ids)  # nothing trained
    assert not list((tmp_path / "b").rglob("final.pt"))
    name = f"smoke/{chapter}-cifar10.csv"
    assert (tmp_path / "r1" / name).read_bytes() == (tmp_path / "r2" / name).read_bytes()
    if figure:  # drawn from what is stored with the run, without weights
        assert again.weight_histograms(0) == first.weight_histograms(0)
    from nbprune import report

    assert report.widths_table(again.chains).equals(report.widths_table(first.chains))  # no weights needed
    assert "imported from other stores" in again.box()


def test_a_budget_point_scales_fine_tuning_and_the_presets_own_budget_is_the_preset():
    from nbprune.presets import at_budget, get_preset

    p = at_budget(get_preset("paper"), 40)
    assert (p.epochs, p.finetune_epochs, p.name) == (40, 10, "paper")
    assert at_budget(get_preset("paper"), 160) is get_preset("paper")
    assert at_budget(get_preset("quick"), 16).finetune_epochs == 4 and at_budget(get_preset("quick"), 1).finetune_epochs == 1
    with pytest.raises(ValueError, match="budget: must be an integer number of epochs >= 1"):
        at_budget(get_preset("paper"), 0)


def test_a_curve_on_its_own_images_shares_no_point_with_the_preset_and_trains_its_first_seeds():
    from nbprune.experiments import budget_grid, preset_for
    from nbprune.presets import at_budget, budget_seeds, get_preset

    cpu = get_preset("cpu")
    point = at_budget(cpu, cpu.epochs)  # the preset's epochs, but on the curve's 20,000 images
    assert point is not cpu and (point.epochs, point.train_subset, cpu.train_subset) == (cpu.epochs, 20000, None)
    assert at_budget(cpu, 32).finetune_epochs == 8 and at_budget(cpu, 2).finetune_epochs == 1
    # the curve's seeds continue the chapter's where a point asks for more (8 at 32 and 64 epochs); seeds a user
    # gave are taken as given; each point trains the first of them
    assert budget_seeds(cpu, [0, 1, 2, 3, 4]) == list(range(8)) and budget_seeds(get_preset("paper"), [0, 1, 2, 3, 4]) == [0, 1, 2, 3, 4]
    assert budget_seeds(cpu, [4], explicit=True) == [4]
    counts = {e.budget: e.seeds for e in budget_grid(cpu)}
    assert counts[2] == counts[16] == 3 and counts[32] == counts[64] == 8
    budgets = {e.budget: preset_for(e, cpu) for e in budget_grid(cpu)}
    assert max(budgets) == 2 * max(cpu.budgets) and max(cpu.budgets) >= 16 * min(cpu.budgets)
    assert {p.train_subset for p in budgets.values()} == {20000}


def test_the_budget_curve_spans_16x_and_its_160_epoch_point_is_chapter_1s_row():
    from nbprune.experiments import budget_grid, predefined_grid
    from nbprune.projection import project_grid

    grid = budget_grid(get_preset("paper"))
    budgets = [e.budget for e in grid if e.variants]
    assert max(budgets) / min(budgets) >= 16 and len(budgets) >= 5
    assert grid[-1].variants == () and grid[-1].budget == 2 * max(budgets)  # the doubled unpruned reference
    assert budget_grid(get_preset("quick")) == []
    curve = project_grid([e for e in grid if e.budget == 160], get_preset("paper"), [0])
    main = project_grid([e for e in predefined_grid(get_preset("paper")) if e.label == "VGG-16-A"], get_preset("paper"), [0])
    assert set(curve["run_id"]) == set(main["run_id"])  # the same runs: trained once
    top = project_grid(grid[-1:], get_preset("paper"), [0, 1])
    assert list(top["role"]) == ["large", "large"] and set(top["epochs"]) == {320}


def test_budget_stats_pairs_by_seed_and_measures_the_doubling_gain():
    import pandas as pd

    from nbprune.report import budget_stats

    rows = []
    for seed, shift in ((0, 0.0), (1, 1.0), (2, -1.0)):
        for budget, acc in ((4, 60.0), (8, 66.0), (16, 70.0)):
            rows.append(dict(model="VGG-16", target="", seed=seed, variant="unpruned", budget=budget,
                             final=acc + shift))
        for budget, base in ((4, 58.0), (8, 64.0)):
            rows += [dict(model="VGG-16", target=f"VGG-16-A, {budget} epochs", seed=seed, variant=v, budget=budget,
                          final=base + d + shift) for v, d in (("fine-tuned", 0.0), ("scratch-e", 0.5 * seed),
                                                               ("scratch-b", 2.0))]
    stats = budget_stats(pd.DataFrame(rows), margin=1.0).set_index("budget")
    assert list(stats.index) == [4, 8, 16]  # 16: the unpruned model alone, the far end of 8's doubling gain
    assert stats.loc[16, "unpruned"] == pytest.approx(70.0) and stats.loc[16, "seeds"] == 3
    assert stats.loc[16, ["Fine-tuned", "Scratch-B - Fine-tuned", "doubling gain"]].isna().all()
    assert stats.loc[4, "doubling gain"] == pytest.approx(6.0) and stats.loc[8, "doubling gain"] == pytest.approx(4.0)
    assert stats.loc[4, "Scratch-B - Fine-tuned"] == pytest.approx(2.0)
    assert stats.loc[4, "Scratch-E - Fine-tuned"] == pytest.approx(0.5)  # (0 + 0.5 + 1) / 3, paired by seed
    assert stats.loc[4, "unpruned"] == pytest.approx(60.0)


def test_chapters_2_and_5_curves_share_chapter_1s_large_models_and_train_their_own_seed_counts():
    from nbprune.chapters import CHAPTERS
    from nbprune.graph import large_for
    from nbprune.presets import budget_seeds, get_preset

    cpu = get_preset("cpu")
    seeds = budget_seeds(cpu, list(cpu.seeds))
    ch1 = {e.budget: e for e in CHAPTERS["predefined"].curve(cpu)}
    slim = CHAPTERS["automatic"].curve(cpu)
    tickets = CHAPTERS["lottery_ticket"].curve(cpu)
    assert [e.budget for e in slim] == list(cpu.row_budgets) == [4, 16, 64]
    assert {e.budget: e.seeds for e in slim} == {4: 5, 16: 5, 64: 5}  # chapter 1's 8 at 64 are its own
    more = dataclasses.replace(cpu, row_seeds_at=((64, 8),))
    assert {e.budget: e.seeds for e in CHAPTERS["automatic"].curve(more)} == {4: 5, 16: 5, 64: 8}
    assert budget_seeds(dataclasses.replace(cpu, budget_seeds_at=(), row_seeds_at=((64, 7),)), [0, 1, 2]) == list(range(7))
    assert all(dict(e.large)["bn_sparsity"] > 0 for e in slim)  # the large model trained with the sparsity penalty
    assert {(e.method, e.budget) for e in tickets} == {(m, b) for m in ("l1", "magnitude") for b in (4, 16, 64)}
    for e in tickets:  # the ticket curve prunes chapter 1's curve models: the same runs, trained once
        assert all(large_for(e, cpu, s).run_id == large_for(ch1[e.budget], cpu, s).run_id for s in seeds[:3])
    assert CHAPTERS["automatic"].curve(get_preset("paper")) == []  # the paper preset has no curves


def test_a_point_where_only_the_unpruned_model_trains_counts_its_large_model_once():
    from types import SimpleNamespace as NS

    from nbprune.runner import not_trained

    grid = [NS(label="VGG-16-A, 64 epochs", variants=("fine-tuned", "scratch-e")), NS(label="unpruned, 128 epochs",
                                                                                      variants=())]
    pending = NS(missing=lambda runs: ["large 64 s7", "large 128 s2"], unplannable=[],
                 waiting=[("VGG-16-A, 64 epochs", 7), ("unpruned, 128 epochs", 2)])
    assert not_trained(pending, None, grid) == 3  # two large models, one chain with runs of its own


@pytest.mark.slow
def test_a_chapter_reads_its_curve_without_training_it_unless_asked(tmp_path, tiny_archive):
    """At a preset whose curves are not trained by default, run_chapter reads the finished curve runs and counts
    the missing ones; train_curve=True trains them. A bad train_curve is one line before any work."""
    from dataclasses import replace

    from nbprune import presets

    smoke = presets.get_preset("smoke")
    lazy = replace(smoke, name="smoke", train_curves=False)
    run = run_chapter("automatic", lazy, data_root=tiny_archive, store=tmp_path / "s", device="cpu",
                      executor=LocalExecutor(workers=1), results_root=tmp_path / "r")
    # its 1-epoch point is the chapter's own runs (smoke trains 1 epoch on the same images); the 2-epoch one waits
    assert run.curve_missing > 0 and {r["budget"] for r in run.curve.rows} == {smoke.epochs}
    again = run_chapter("automatic", lazy, data_root=tiny_archive, store=tmp_path / "s", device="cpu",
                        executor=LocalExecutor(workers=1), results_root=tmp_path / "r", train_curve=True)
    assert again.curve_missing == 0 and {r["budget"] for r in again.curve.rows} == set(smoke.row_budgets)
    with pytest.raises(ValueError, match="train_curve: must be None, True or False"):
        run_chapter("automatic", smoke, store=tmp_path / "s", train_curve="yes")


def test_a_chapter_grid_names_its_dataset_and_refuses_one_it_has_no_rows_for():
    from dataclasses import replace

    from nbprune.chapters import chapter_grid

    ch = get_chapter("automatic")
    assert ch.dataset_names[0] == "cifar10"
    assert chapter_grid("automatic", "cpu") == ch.grid_for("cpu") == ch.experiments("cpu")
    with pytest.raises(ValueError, match=r"^dataset: chapter 'automatic' has no mnist rows; allowed: cifar10"):
        ch.grid_for("cpu", "mnist")
    rows = l1_grid(["vgg16-a"])
    other = replace(ch, datasets=(("cifar100", lambda p: rows),))
    assert other.dataset_names == ("cifar10", "cifar100") and other.experiments("cpu", dataset="cifar100") == rows
    # the budget curve is a CIFAR-10 tool: none on another dataset
    assert other.curve_for("cpu") and other.curve_for("cpu", "cifar100") == []


def test_only_the_presets_own_grid_and_seeds_are_saved_under_the_chapters_name():
    from nbprune.runner import results_name

    ch, p = get_chapter("predefined"), get_preset("cpu")
    own = ch.experiments(p)
    assert results_name("predefined", own, list(p.seeds), p) == "predefined"
    fewer = results_name("predefined", own, [0, 1, 2], p)
    other = results_name("predefined", ch.experiments(p, "[vgg16-a]"), list(p.seeds), p)
    assert fewer.startswith("predefined-run-") and other.startswith("predefined-run-") and fewer != other
    assert results_name("predefined", own, [0, 1, 2], p) == fewer  # the same run, the same file
    # grids that differ in any field of a row (here the large model's config) are saved apart
    changed = [dataclasses.replace(own[0], large=(("bn_sparsity", 1e-4),)), *own[1:]]
    assert results_name("predefined", changed, [0, 1, 2], p) not in (fewer, "predefined")


@pytest.mark.slow
def test_a_run_with_other_seeds_leaves_the_presets_results_file_alone(tmp_path, tiny_archive):
    folder = tmp_path / "results" / "smoke"
    folder.mkdir(parents=True)
    (folder / "unstructured-cifar10.csv").write_text("committed\n")
    run = run_chapter("unstructured", "smoke", seeds=[1], data_root=tiny_archive, store=tmp_path / "store",
                      executor=LocalExecutor(workers=1), device="cpu", results_root=tmp_path / "results")
    assert (folder / "unstructured-cifar10.csv").read_text() == "committed\n"
    assert run.saved.startswith(str(folder / "unstructured-run-")) and run.saved.endswith("-cifar10.csv")
    assert {r["seed"] for r in run.rows} == {1}


def test_curve_budgets_are_checked_before_any_work():
    from nbprune.runner import curve_points_at

    ch, cpu = get_chapter("predefined"), get_preset("cpu")
    assert {e.budget for e in curve_points_at(ch, cpu, "cifar10", [32, 64])} == {32, 64}
    assert curve_points_at(ch, cpu, "cifar10", None) == ch.curve_for(cpu)
    for bad, match in [([33], "must be a non-empty list of the curve's budgets"), ([], "non-empty"),
                       ("32", "non-empty"), ([True], "non-empty")]:
        with pytest.raises(ValueError, match=r"curve_budgets \(--budgets\): .*" + match):
            curve_points_at(ch, cpu, "cifar10", bad)
    with pytest.raises(ValueError, match="needs train_curve"):
        curve_points_at(ch, cpu, "cifar10", [32], train=False)
    with pytest.raises(ValueError, match="unstructured has no budget curve"):
        curve_points_at(get_chapter("unstructured"), cpu, "cifar10", [32])
    with pytest.raises(ValueError, match="needs train_curve"):  # from run_chapter too, before any data is read
        run_chapter("predefined", "cpu", curve_budgets=[32], data_root="/nonexistent")
    with pytest.raises(ValueError, match=r"train_grid \(--curve-only\): .* unstructured has no budget curve"):
        run_chapter("unstructured", "cpu", train_curve=True, train_grid=False, data_root="/nonexistent")
    with pytest.raises(ValueError, match=r"train_grid \(--curve-only\): .* is not training its curve"):
        run_chapter("predefined", "cpu", train_curve=False, train_grid=False, data_root="/nonexistent")
    with pytest.raises(ValueError, match="train_grid: must be True or False"):
        run_chapter("predefined", "cpu", train_grid="no", data_root="/nonexistent")


@pytest.mark.slow
def test_a_curve_trained_at_some_budgets_trains_only_those_and_saves_every_finished_point(tmp_path, tiny_archive):
    kw = dict(data_root=tiny_archive, store=tmp_path / "store", executor=LocalExecutor(workers=1), device="cpu",
              results_root=tmp_path / "results", train_curve=True)
    run = run_chapter("predefined", "smoke", curve_budgets=[1], **kw)  # 1 epoch: the chapter's own runs
    assert {r["budget"] for r in run.curve.rows} == {1} and run.curve_missing > 0  # 2 epochs: not trained
    run = run_chapter("predefined", "smoke", **kw)  # the rest of the curve, then every point is in the file
    import pandas as pd

    saved = pd.read_csv(run.curve_saved)
    assert set(saved["budget"]) == {e.budget for e in get_chapter("predefined").curve_for("smoke")}
    assert run.curve_missing == 0


@pytest.mark.slow
def test_curve_only_trains_the_curves_points_and_not_the_chapters_grid(tmp_path, tiny_archive):
    kw = dict(data_root=tiny_archive, store=tmp_path / "store", executor=LocalExecutor(workers=1), device="cpu",
              results_root=tmp_path / "results")
    longest = max(e.budget for e in get_chapter("predefined").curve_for("smoke"))
    run = run_chapter("predefined", "smoke", seeds=[1], train_curve=True, curve_budgets=[longest], train_grid=False,
                      **kw)
    assert run.saved is None and run.rows == []  # the grid at seed 1: read (nothing finished), not trained
    curve_ids = {r["run_id"] for r in run.curve.rows}
    assert curve_ids and {r["budget"] for r in run.curve.rows} == {longest}
    assert set(RunStore(tmp_path / "store").run_ids()) == curve_ids  # every run trained is one of the curve's
    assert not list((tmp_path / "results" / "smoke").glob("predefined-run-*"))  # no grid rows saved



def test_cli_curve_only_is_refused_where_there_is_no_curve_to_train(capsys, tmp_path):
    assert main(["grid", "predefined", "--curve-only", "--no-curve", "--data", str(tmp_path)]) == 2
    assert "curve-only: --curve-only trains the budget curve; it cannot go with --no-curve" in capsys.readouterr().err
    assert main(["grid", "unstructured", "--curve-only", "--data", str(tmp_path)]) == 2
    assert "unstructured has no budget curve" in capsys.readouterr().err
