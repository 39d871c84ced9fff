"""Which of the paper's tables and figures each chapter runs, per dataset, and what the committed book leaves out.

A chapter's rows at the ``paper`` preset (:meth:`nbprune.chapters.Chapter.grid_for`, on every dataset of
:attr:`~nbprune.chapters.Chapter.dataset_names`) name where they are in the paper
(:attr:`nbprune.experiments.Experiment.source`: "Table 9a", "Figure 7a"). :func:`paper_coverage` lists them;
:func:`not_run_here` compares them with the committed book's grid (``cpu``, CIFAR-10 only) and gives the
command that runs the rest; :func:`not_run_markdown` is the chapters' "Not run here" section;
:func:`uncovered_tables` is what no chapter covers (the test holds it to :data:`OUT_OF_SCOPE`). Nothing here
trains or reads the run store: it reads grids, which are data.
"""

from __future__ import annotations

from dataclasses import dataclass

from .chapters import CHAPTERS, Chapter, get_chapter
from .experiments import Experiment
from .paper import paper_table
from .presets import get_preset

# the paper's tables no chapter runs, with the reason (the test of uncovered_tables allows exactly these)
OUT_OF_SCOPE = {
    "12": "Table 12 is object detection (Faster R-CNN on PASCAL VOC 2007 with the pruned ResNet-34s as backbones): "
          "a transfer experiment outside the book's classification pipeline",
}
# tables whose cells are other tables' cells (tables_notes.md): table -> (the table whose rows run them, those
# rows' paper target, or "" for all of them)
SHARED_TABLES = {
    "15": ("6", "95%"),  # Table 15's aggressively pruned VGG-19 rows are Table 6's 95% rows
    "7": ("21", "60%"),  # Table 7's widths are VGG-16's Network Slimming architectures at 60% (Figure 3, left)
}
CIFAR = ("cifar10", "cifar100")
DATA_HINT = {"cifar100": " --data <a CIFAR-100 ImageFolder or torchvision root>",
             "imagenet": " --data <an ImageNet ImageFolder: train/<class>/, val/<class>/>"}


@dataclass(frozen=True)
class Covered:
    """One source of the paper (a table or figure) as a chapter runs it on a dataset at a preset."""

    chapter: str
    dataset: str
    source: str  # "Table 1", "Figure 7a", "Table 9a, Figure 7b"
    rows: tuple[str, ...]  # the grid's row labels (model: label)
    tables: tuple[str, ...]  # the paper's tables among them ("1", "9a"), shared tables included

    @property
    def command(self) -> str:
        """The command that runs the chapter's rows on this dataset at ``paper``."""
        return grid_command(self.chapter, self.dataset)


def grid_command(chapter: str, dataset: str = "cifar10", preset: str = "paper") -> str:
    """``nbprune grid <chapter> --preset <preset> [--dataset <d> --data ...]``: the command that runs a chapter's
    rows of ``dataset`` at ``preset``."""
    extra = "" if dataset == "cifar10" else f" --dataset {dataset}{DATA_HINT.get(dataset, ' --data <its data>')}"
    return f"nbprune grid {chapter} --preset {preset}{extra}"


def _row(exp: Experiment) -> str:
    """A row's name: its label, after its paper model's name unless the label starts with it."""
    return exp.label if exp.label.startswith(exp.paper_model) else f"{exp.paper_model} {exp.label}"


def _tables(exp: Experiment) -> set[str]:
    """The paper's tables a row covers: its own and those sharing its cells (:data:`SHARED_TABLES`)."""
    out = {exp.paper_table} if exp.paper_table else set()
    for table, (source, target) in SHARED_TABLES.items():
        if exp.paper_table == source and (not target or exp.paper_target == target):
            out.add(table)
    return out


def _source_of(exp: Experiment) -> str:
    return exp.source or "no table of the paper"


def paper_coverage(chapter: str | Chapter, preset: str = "paper") -> list[Covered]:
    """The paper's sources ``chapter`` runs at ``preset``, per dataset of the chapter (CIFAR-10 first, then
    :attr:`~nbprune.chapters.Chapter.datasets`: CIFAR-100, and ImageNet where a chapter has its rows), in
    grid order."""
    ch = get_chapter(chapter)
    p = get_preset(preset)
    out = []
    for dataset in ch.dataset_names:
        by_source: dict[str, tuple[list[str], set[str]]] = {}
        for exp in ch.grid_for(p, dataset):
            rows, tables = by_source.setdefault(_source_of(exp), ([], set()))
            if _row(exp) not in rows:
                rows.append(_row(exp))
            tables |= _tables(exp)
        out += [Covered(ch.name, dataset, source, tuple(rows), tuple(sorted(tables)))
                for source, (rows, tables) in by_source.items()]
    return out


def not_run_here(chapter: str | Chapter, book_preset: str = "cpu", preset: str = "paper") -> list[Covered]:
    """What ``preset`` runs of ``chapter`` that the committed book (``book_preset``, CIFAR-10 only) does not: per
    dataset and source, the rows missing from the book's grid (each :class:`Covered` has the command that runs
    them). A row counts as run when the book's grid has the same experiment (at its own budget)."""
    ch = get_chapter(chapter)
    book = {_key(e) for e in ch.grid_for(get_preset(book_preset), "cifar10")}
    out = []
    for c in paper_coverage(ch, preset):
        grid = ch.grid_for(get_preset(preset), c.dataset)
        missing = [_row(e) for e in grid if _source_of(e) == c.source
                   and (c.dataset != "cifar10" or _key(e) not in book)]
        missing = list(dict.fromkeys(missing))
        if missing:
            out.append(Covered(c.chapter, c.dataset, c.source, tuple(missing), c.tables))
    return out


def _key(exp: Experiment) -> tuple:
    """An experiment's identity across presets (its label, model, method, settings and large-model overrides)."""
    return exp.label, exp.model, exp.method, exp.settings, exp.large


def _dataset_name(dataset: str) -> str:
    return {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet": "ImageNet"}.get(dataset, dataset)


def not_run_markdown(chapter: str | Chapter, book_preset: str = "cpu", preset: str = "paper",
                     max_rows: int = 6) -> str:
    """The chapter's "Not run here" section in markdown: per dataset, the paper's tables and figures of the
    ``preset`` grid that the committed ``book_preset`` book does not run (up to ``max_rows`` row names each),
    and the command that runs them; the follow-up stage, where the chapter has one, is designed from results."""
    ch = get_chapter(chapter)
    missing = not_run_here(ch, book_preset, preset)
    if not missing:
        return f"The committed `{book_preset}` book runs every row of this chapter's `{preset}` grid (at its own budget)."
    lines = [f"The `{preset}` preset's grid has these rows that the committed `{book_preset}` book does not run:", ""]
    for dataset in ch.dataset_names:
        here = [c for c in missing if c.dataset == dataset]
        if not here:
            continue
        lines.append(f"**{_dataset_name(dataset)}**, run with `{grid_command(ch.name, dataset, preset)}`:")
        lines.append("")
        for c in here:
            # semicolons: a row's name can hold a comma ("ResNet-56 SFP 30%, pretrained")
            shown = "; ".join(c.rows[:max_rows]) + (f"; and {len(c.rows) - max_rows} more" if len(c.rows) > max_rows
                                                     else "")
            lines.append(f"- {c.source}: {shown}")
        lines.append("")
    if ch.followups is not None:
        lines.append("The follow-up stage (guided and transferred guided pruning and sparsification, Figure 6) is "
                     "designed from each grid's results and runs after it with the same command.")
    return "\n".join(lines).rstrip() + "\n"


def covered_tables(preset: str = "paper", datasets: tuple[str, ...] = CIFAR) -> dict[tuple[str, str], list[str]]:
    """(table, dataset) -> the chapters whose ``preset`` grid covers it, for the paper's tables on ``datasets``."""
    out: dict[tuple[str, str], list[str]] = {}
    for ch in CHAPTERS.values():
        for c in paper_coverage(ch, preset):
            if c.dataset in datasets:
                for t in c.tables:
                    out.setdefault((t, c.dataset), [])
                    if ch.name not in out[(t, c.dataset)]:
                        out[(t, c.dataset)].append(ch.name)
    return out


def uncovered_tables(preset: str = "paper", datasets: tuple[str, ...] = CIFAR) -> list[tuple[str, str]]:
    """The paper's (table, dataset) pairs of ``tables.csv`` on ``datasets`` that no chapter's ``preset`` grid
    covers, less :data:`OUT_OF_SCOPE`'s tables."""
    df = paper_table()
    wanted = sorted({(t, d) for t, d in zip(df["table"], df["dataset"]) if d in datasets and t not in OUT_OF_SCOPE})
    covered = covered_tables(preset, datasets)
    return [pair for pair in wanted if pair not in covered]


def coverage_frame(preset: str = "paper"):
    """One row per (chapter, dataset, source) of the ``preset`` grids: its rows and the command (a DataFrame)."""
    import pandas as pd

    return pd.DataFrame([{"chapter": c.chapter, "dataset": c.dataset, "source": c.source, "rows": len(c.rows),
                          "command": c.command} for ch in CHAPTERS.values() for c in paper_coverage(ch, preset)])
