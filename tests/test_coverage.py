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
    assert ("4", "imagenet") not in covered  # covered_tables reads CIFAR unless asked for ImageNet


def test_every_imagenet_table_is_in_some_chapters_paper_grid():
    """The ImageNet rows come through Chapter.datasets' ("imagenet", ...) builders, read without a name list here:
    every ImageNet table of tables.csv is covered, and each chapter that has them lists them with the command."""
    assert uncovered_tables(datasets=("imagenet",)) == []
    covered = covered_tables(datasets=("imagenet",))
    assert covered[("4", "imagenet")] == ["automatic"] and covered[("6", "imagenet")] == ["unstructured"]
    assert {t for t, _ in covered} == set(paper_table().query("dataset == 'imagenet'")["table"])
    assert {("imagenet", "Table 4"), ("imagenet", "Table 5")} <= {(c.dataset, c.source) for c in paper_coverage("automatic")}
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
