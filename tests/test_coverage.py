"""The coverage of the paper by the chapters' ``paper`` grids (nbprune.coverage), and the chapters' "Not run here"."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbprune.chapters import CHAPTERS
from nbprune.coverage import (
    OUT_OF_SCOPE,
    covered_tables,
    grid_command,
    not_run_here,
    not_run_markdown,
    paper_coverage,
    uncovered_tables,
)
from nbprune.paper import paper_table

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_every_cifar_table_of_the_paper_is_in_some_chapters_paper_grid():
    """Every CIFAR-10 and CIFAR-100 table of tables.csv is covered by a chapter's ``paper`` grid on its dataset;
    only OUT_OF_SCOPE's tables are not (Table 12: VOC detection), each with its reason."""
    assert uncovered_tables() == []
    tables = set(paper_table()["table"])
    assert set(OUT_OF_SCOPE) <= tables and all(len(why) > 20 for why in OUT_OF_SCOPE.values())
    covered = covered_tables()
    assert covered[("9a", "cifar10")] == ["lottery_ticket", "later_work"]
    assert covered[("13", "cifar100")] == ["automatic"] and covered[("15", "cifar100")] == ["unstructured"]
    assert ("4", "imagenet") not in covered  # ImageNet rows come with Chapter.datasets' ("imagenet", ...) builders


def test_coverage_reads_every_dataset_a_chapter_names(monkeypatch):
    """A dataset added through Chapter.datasets (e.g. ImageNet) appears in the coverage and its "Not run here" with
    its command, without any change here."""
    from dataclasses import replace

    from nbprune.experiments import experiment

    fake = experiment("VGG-11 50%", "imagenet-vgg11", "slimming", {"fraction": 0.5}, paper_table="4",
                      paper_target="50%")
    chapter = replace(CHAPTERS["automatic"], datasets=(*CHAPTERS["automatic"].datasets, ("imagenet", lambda p: [fake])))
    monkeypatch.setitem(CHAPTERS, "automatic", chapter)
    assert ("imagenet", "Table 4") in {(c.dataset, c.source) for c in paper_coverage("automatic")}
    assert covered_tables(datasets=("imagenet",)) == {("4", "imagenet"): ["automatic"]}
    text = not_run_markdown("automatic")
    assert "**ImageNet**, run with `nbprune grid automatic --preset paper --dataset imagenet --data" in text


def test_not_run_here_leaves_out_what_the_committed_book_runs():
    """The cpu book's rows (VGG-16-A of Table 1, VGG-19 at 70% of Table 4) are not listed; the rest of the paper
    grid is, per dataset, with the command that runs it."""
    missing = {(c.dataset, c.source): c.rows for c in not_run_here("predefined")}
    assert "VGG-16-A" not in missing[("cifar10", "Table 1")] and "ResNet-56-B" in missing[("cifar10", "Table 1")]
    assert missing[("cifar10", "Table 14")] == ("ResNet-56, 90%",)
    auto = {(c.dataset, c.source): c.rows for c in not_run_here("automatic")}
    assert "VGG-19 70%" not in auto[("cifar10", "Table 4")] and "VGG-19 50%" in auto[("cifar100", "Table 4")]
    assert grid_command("automatic", "cifar100").startswith("nbprune grid automatic --preset paper --dataset cifar100")
    with pytest.raises(ValueError, match="chapter: unknown"):
        not_run_here("nope")


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_each_chapter_shows_its_not_run_here_section_computed(chapter):
    """Each chapter notebook has a "Not run here" section whose text comes from not_run_markdown (hidden input)."""
    src = (NOTEBOOKS / f"{CHAPTERS[chapter].page}.py").read_text()
    head, _, rest = src.partition("# ## Not run here")
    assert rest, f"{chapter}: no 'Not run here' section"
    cell = rest.split("# %% [markdown]")[0]
    assert '# %% tags=["remove-input"]' in cell and "not_run_markdown(" in cell
