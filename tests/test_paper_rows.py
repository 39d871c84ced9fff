"""The paper preset's remaining rows (issue 30 §3-4): CIFAR-100 through ``Chapter.datasets``, the appendix's
CIFAR-10 rows, and what ``nbprune grid --status`` shows before anything trains."""

from __future__ import annotations

import json

import pytest

from conftest import make_imagefolder
from nbprune.chapters import chapter_grid, get_chapter
from nbprune.experiments import paper_refs

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.mark.parametrize("chapter, cell, value", [
    ("automatic", ("VGG-19", "50%", "scratch-b"), 73.08),  # Table 4, CIFAR-100
    ("automatic", ("DenseNet-40", "80%", "fine-tuned"), 69.60),  # Table 13, CIFAR-100
    ("unstructured", ("DenseNet-BC-100", "95%", "scratch-e"), 71.47),  # Table 6 (and 15), CIFAR-100
    ("unstructured", ("PreResNet-110", "", "unpruned"), 76.96),
])
def test_cifar100_paper_grids_find_the_papers_numbers(chapter, cell, value):
    """Each chapter's CIFAR-100 rows at ``paper`` carry the paper's CIFAR-100 number (not CIFAR-10's)."""
    refs = paper_refs(chapter_grid(chapter, "paper", "cifar100"), "cifar100")
    assert refs[cell][0] == pytest.approx(value)
    assert all(len(r) == 2 for r in refs.values())


def test_cifar100_rows_are_the_papers_ratios_and_figures():
    """Table 4's CIFAR-100 ratios differ from CIFAR-10's (VGG-19 at 50%, not 70%); Figure 5 (middle, right) and
    Figure 6 are chapter 4's CIFAR-100 rows; an unknown dataset is one error line naming the allowed ones."""
    slim = {(e.model, dict(e.settings)["fraction"]) for e in chapter_grid("automatic", "paper", "cifar100")}
    assert ("vgg19", 0.5) in slim and ("vgg19", 0.7) not in slim and ("densenet40", 0.8) in slim
    sources = {e.source for e in chapter_grid("architecture_search", "paper", "cifar100")}
    assert {"Table 19, Figure 5 (middle)", "Table 20, Figure 5 (right)", "Figure 6 (left)", "Figure 6 (right)"} <= sources
    assert get_chapter("lottery_ticket").dataset_names == ("cifar10",)
    with pytest.raises(ValueError, match="dataset: chapter 'lottery_ticket' has no cifar100 rows; allowed: cifar10"):
        chapter_grid("lottery_ticket", "paper", "cifar100")


def test_a_cifar100_imagefolder_loads_and_a_cifar10_source_is_refused(tmp_path):
    """``--data`` takes a CIFAR-100 ImageFolder (100 classes); a 10-class source for cifar100 is one clear error."""
    from nbprune.data import load_cifar

    folder = make_imagefolder(tmp_path / "c100", classes=100, train_per_class=1, test_per_class=1)
    data = load_cifar("cifar100", folder)
    assert data.num_classes == 100 and len(data.train_y) == 100
    small = make_imagefolder(tmp_path / "c10", classes=10, train_per_class=1, test_per_class=1)
    with pytest.raises(ValueError, match="has 10 classes but dataset='cifar100' needs 100"):
        load_cifar("cifar100", small)


def test_status_plans_derived_runs_whose_plan_needs_no_training(tmp_path, capsys):
    """``nbprune grid --status --json`` names every run's table or figure, and lists the L1-norm chain's variants
    with their planned epochs before the large model has trained; a slimming chain (data-driven) only waits."""
    from nbprune.cli import main
    from nbprune.presets import get_preset

    assert main(["grid", "predefined", "--preset", "smoke", "--status", "--json", "--store", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    grid = [r for r in rows if r.get("part", "grid") == "grid"]
    assert grid and all(r["table"] for r in grid)  # every run of the grid: a table of the paper
    planned = {r["role"]: r for r in grid if r["state"].startswith("planned") and r["label"] == "VGG-16-A"}
    smoke = get_preset("smoke")
    assert set(planned) == {"fine-tuned", "scratch-e", "scratch-b"}
    assert planned["fine-tuned"]["epochs"] == smoke.finetune_epochs and planned["scratch-e"]["epochs"] == smoke.epochs
    assert planned["scratch-b"]["epochs"] >= smoke.epochs and planned["scratch-e"]["table"] == "Table 1"
    assert main(["grid", "automatic", "--preset", "smoke", "--status", "--json", "--store", str(tmp_path)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert not any(r["state"].startswith("planned") for r in rows)
    assert {r["table"] for r in rows if r["role"] == "(derived)"} == {"Table 4"}


@pytest.mark.slow
def test_a_cifar100_chapter_row_runs_end_to_end_at_smoke(tmp_path):
    """Chapter 3's CIFAR-100 row trains, prunes, fine-tunes and retrains on a 100-class folder, and its results
    go to <preset>/unstructured-cifar100.csv with the paper's CIFAR-100 numbers beside them."""
    from nbprune.executors import LocalExecutor
    from nbprune.runner import run_chapter

    folder = make_imagefolder(tmp_path / "c100", classes=100, train_per_class=2, test_per_class=1)
    run = run_chapter("unstructured", "smoke", dataset="cifar100", data_root=folder, store=tmp_path / "store",
                      executor=LocalExecutor(workers=1), results_root=tmp_path / "results")
    assert str(run.saved).endswith("smoke/unstructured-cifar100.csv")
    assert {r["variant"] for r in run.results.rows} == {"unpruned", "fine-tuned", "scratch-e", "scratch-b"}
    assert {run.store.load(r["run_id"]).config.dataset for r in run.results.rows} == {"cifar100"}
    assert run.data.num_classes == 100
    assert run.refs[("VGG-19", "30%", "scratch-b")][0] == pytest.approx(73.30)


def test_cifar100_follow_ups_transfer_vgg16s_cifar10_patterns_to_vgg19():
    """Figure 6's transferred guided pruning and sparsification: on CIFAR-100 the follow-up stage applies VGG-16's
    CIFAR-10 per-stage patterns to VGG-19 (five stages each); PreResNet-164's three-stage patterns are not moved."""
    from nbprune.chapters import CHAPTERS
    from nbprune.experiments import experiment
    from nbprune.presets import get_preset

    slim16 = experiment("slimming 40%", "vgg16", "slimming", {"fraction": 0.4})
    slim164 = experiment("slimming 40%", "preresnet164", "slimming", {"fraction": 0.4})
    mag16 = experiment("magnitude 30%", "vgg16", "magnitude", {"fraction": 0.3})
    transfer = ([(slim16, [0.9, 0.8, 0.7, 0.5, 0.3]), (slim164, [0.9, 0.8, 0.7])], [(mag16, [0.1, 0.2, 0.3, 0.4, 0.5])])
    follow = CHAPTERS["architecture_search"].followups([], [], get_preset("paper"), False, dataset="cifar100",
                                                       transfer=transfer)
    assert [(e.label, e.model, e.method) for e in follow] == [
        ("transferred 40%", "vgg19", "guided-channels"), ("transferred sparsity 30%", "vgg19", "guided-sparsity")]
    assert dict(follow[0].settings)["stage_keep"] == (0.9, 0.8, 0.7, 0.5, 0.3)


def test_make_book_trains_no_curve_at_paper_unless_asked():
    """``make book PRESET=paper`` trains no budget curve (``Preset.train_curves`` is off there); ``CURVE=1`` passes
    ``--curve``, which sets ``train_curve=True`` in the chapters that have a curve and only in those."""
    import importlib.util
    import shutil
    import subprocess
    from pathlib import Path

    from nbprune.presets import get_preset

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("execute_notebooks", root / "tools" / "execute_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert not get_preset("paper").train_curves
    base = {"preset": "paper"}
    assert tool.curve_parameters(root / "notebooks" / "01_predefined.py", base, True) == {**base, "train_curve": True}
    assert tool.curve_parameters(root / "notebooks" / "03_unstructured.py", base, True) == base  # no curve there
    assert tool.curve_parameters(root / "notebooks" / "01_predefined.py", base, False) == base
    if shutil.which("make"):
        def dry(*extra: str) -> str:
            return subprocess.run(["make", "-n", "notebooks", "PRESET=paper", *extra], cwd=root, capture_output=True,
                                  text=True).stdout
        assert "--curve" in dry("CURVE=1") and "--curve" not in dry()


def test_table9_and_figure7_run_the_weight_level_models_at_paper_only():
    """At ``paper`` Table 9's one-shot rows and Figure 7's iterative rounds prune the weight-level code's VGG-16
    (its own unpruned row) and the CIFAR ResNet-50; the CPU presets keep Table 1's VGG-16 (their committed runs)."""
    from nbprune.experiments import WEIGHT_LEVEL_ROW, WEIGHT_LEVEL_VGG16

    paper = [e for e in chapter_grid("lottery_ticket", "paper") if e.method == "magnitude"]
    assert {e.model for e in paper} == {"vgg16", "resnet50"}
    vgg = [e for e in paper if e.model == "vgg16"]
    assert all(dict(WEIGHT_LEVEL_VGG16).items() <= dict(e.large).items() for e in vgg)
    assert {e.large_row for e in vgg} == {WEIGHT_LEVEL_ROW, f"{WEIGHT_LEVEL_ROW}, lr 0.01"}
    rounds = [e for e in paper if e.model == "resnet50" and e.previous is not None and "(lr" not in e.label]
    assert len(rounds) == 13 and all(e.source == "Figure 7a" for e in rounds)
    refs = paper_refs(chapter_grid("lottery_ticket", "paper"))
    assert refs[("VGG-16", WEIGHT_LEVEL_ROW, "unpruned")][0] == pytest.approx(93.76)  # Table 9a's, not 8a's 93.63
    assert refs[("VGG-16", "lr 0.01", "unpruned")][0] == pytest.approx(92.64)  # Table 8b's own unpruned model
    assert refs[("ResNet-50", "95%", "winning-ticket")][0] == pytest.approx(88.75)
    for preset in ("smoke", "quick", "cpu"):
        assert all(not e.large or e.large == (("lr", 0.01),) for e in chapter_grid("lottery_ticket", preset))
    fig3 = [e for e in chapter_grid("architecture_search", "paper") if e.source == "Figure 3 (right)"]
    assert fig3 and all(e.large == WEIGHT_LEVEL_VGG16 for e in fig3)


def test_appendix_rows_plan_longer_fine_tuning_and_the_300_epoch_schedule():
    """Table 16's variants fine-tune 2x and 4x the preset's fine-tuning epochs (80 and 160 of 40 at ``paper``) from
    Table 1's large model; Table 17's large model trains 300 epochs and its Scratch-E as long; Table 14 prunes 90%
    of every block's first conv of ResNet-56."""
    from nbprune.graph import plan_ahead
    from nbprune.pipeline import FINETUNE_LR, LONGER_FINETUNING
    from nbprune.presets import get_preset

    assert LONGER_FINETUNING == {"fine-tune-80": 2, "fine-tune-160": 4} and get_preset("paper").finetune_epochs == 40
    grid = {e.label: e for e in chapter_grid("predefined", "paper")}
    smoke = get_preset("smoke")
    longer = {n.role: n.config for n in plan_ahead(grid["VGG-16-A, longer fine-tuning"], smoke, [0])}
    table1 = {n.role: n.config for n in plan_ahead(grid["VGG-16-A"], smoke, [0])}
    assert longer["fine-tune-80"].parent == table1["fine-tuned"].parent  # Table 1's large model
    assert [longer[v].epochs for v in ("fine-tune-80", "fine-tune-160")] == [2 * smoke.finetune_epochs,
                                                                            4 * smoke.finetune_epochs]
    assert longer["fine-tune-160"].lr == FINETUNE_LR and longer["fine-tune-160"].init == "parent"
    long = {n.role: n.config for n in plan_ahead(grid["VGG-16-A, 300 epochs"], smoke, [0])}
    assert long["scratch-e"].epochs == 300 and long["fine-tuned"].epochs == smoke.finetune_epochs
    assert long["scratch-b"].epochs > 300 and long["fine-tuned"].parent != table1["fine-tuned"].parent
    t14 = {n.role: n.config for n in plan_ahead(grid["ResNet-56, 90%"], get_preset("paper"), [0])}
    assert t14["scratch-e"].cfg == ((1,) * 9, (3,) * 9, (6,) * 9)  # int(C * 0.1) of 16/32/64, no layer skipped
