"""The book-wide verdicts: every chapter's comparisons read from the saved results, each counted once, decided
with multiplicity control within each claim, and summed up per claim for the intro's headline.

A *claim* is a chapter's claim (:meth:`nbprune.chapters.Chapter.claim_for`: chapter 6 tests several). Its
comparisons form one family: :func:`nbprune.report.settle` drops a comparison whose runs an earlier one
already compared (in any chapter) and adjusts the rest by Holm's method within the family. The headline reads
each claim where training is longest: on the chapter's budget curve when it has one (its longest budget at
which every comparison of the curve's row has all the seeds the preset plans there, if that trains on more
images x epochs than the chapter's own runs; a longer point still training is named, not read, so that a verdict
is never read off a sample stopped early), else at the preset's own budget.

Nothing here trains or reads the run store: everything comes from the results files the chapters write
(:func:`nbprune.runner.results_path`).
"""

from __future__ import annotations

import math
import re
import textwrap
from dataclasses import dataclass, field

import pandas as pd

from . import report
from .chapters import CHAPTERS, Chapter
from .config import TRAIN_IMAGES
from .experiments import paper_refs
from .presets import Preset, budget_seeds, get_preset
from .runner import results_path
from .stats import agreement
from .variants import pair_claim, side_name, variant_label

SHORT_CLAIMS = {
    "predefined": "Predefined pruning: scratch training is as good as fine-tuning",
    "automatic": "Automatic pruning: the found architecture from scratch is as good as fine-tuned",
    "unstructured": "Unstructured pruning (moderate sparsity): scratch keeps up with fine-tuning",
    "architecture_search": "Pruning as architecture search: found architectures beat uniform ones",
    "lottery_ticket": "Lottery tickets at lr 0.1: a winning ticket is no better than a random init",
}
"""Each chapter's claim in a few words, for the headline (chapter 6's claims: :data:`LATER_SHORT`)."""

LATER_SHORT = {"Le & Hua 2021: retrained at a large": "Le & Hua: large-lr retraining beats fine-tuning and scratch",
               "Le & Hua 2021: randomly pruned": "Le & Hua: random filters + large-lr retraining beat L1-norm + FT",
               "Frankle et al.": "Frankle et al.: a ticket needs rewinding at lr 0.1",
               "The paper: at lr 0.1 a winning": "Lottery tickets at lr 0.1 (chapter 6's rows)"}

_BUDGET = re.compile(r",\s*(\d+) epochs$")


def short_claim(ch: Chapter, claim: str) -> str:
    """A claim of ``ch`` in a few words."""
    for start, words in LATER_SHORT.items():
        if claim.startswith(start):
            return words
    return SHORT_CLAIMS.get(ch.name, claim)


def _frame(path) -> pd.DataFrame:
    return report.results_frame(pd.read_csv(path, keep_default_na=False).to_dict("records"))


def _chapter_stats(ch: Chapter, df: pd.DataFrame, p: Preset, dataset: str) -> list[dict]:
    """A chapter's comparisons as stats rows (not settled), each with its claim text in ``claim_text``."""
    if ch.verdicts == "search":
        rows = report.search_stats(df, p.margin)
        return [{**r, "claim_text": ch.claim if r["claim"] is not None else "no claim tabulated"} for r in rows]
    rows = report.paired_stats(df[df["variant"] != "unpruned"], ["model", "target"], list(ch.pairs),
                               paper_refs(ch.grid_for(p, dataset), dataset), p.margin)
    rows = [{**r, "claim_text": ch.claim_for(r["a"], r["b"])} for r in rows]
    if ch.verdicts == "paired+random":
        rows += [{**r, "claim_text": ch.claim_for("random", "")} for r in report.random_pruning_stats(df, p.margin)]
    return rows


def _row_name(r: dict) -> str:
    keys = r["keys"]
    if "pruned" in keys:
        return f"{keys['model']}, {keys['pruned']} pruned"
    target = str(keys.get("target", ""))
    return target if target.startswith(str(keys.get("model", ""))) else f"{keys.get('model', '')} {target}".strip()


def _label(ch: Chapter):
    return lambda r: f"chapter {ch.number}'s {_row_name(r)}: {r.get('label') or report.comparison_label(r)}"


def book_comparisons(preset, results_dir: str | None = None, dataset: str = "cifar10") -> list[dict]:
    """Every chapter's comparisons at the preset's own budget, settled book-wide (:func:`nbprune.report.settle`):
    each row a stats row plus ``chapter`` (the record), ``claim_text`` and ``family`` ((chapter number, claim));
    a row of runs an earlier row compared carries ``same_as``. Chapters without results are left out."""
    preset = get_preset(preset)
    seen: dict = {}
    out = []
    for ch in CHAPTERS.values():
        path = results_path(ch.name, preset, dataset, results_dir)
        if not path.exists():
            continue
        rows = _chapter_stats(ch, _frame(path), preset, dataset)
        settled = report.settle(rows, family=lambda r, n=ch.number: (n, r["claim_text"]), seen=seen, label=_label(ch))
        out += [{**r, "chapter": ch} for r in settled]
    return out


@dataclass
class CurvePoint:
    """A claim's comparisons at one budget of a chapter's curve (settled within the point)."""

    budget: int
    images: int | None
    rows: list[dict] = field(default_factory=list)  # stats rows, Holm-adjusted over the point's comparisons
    planned: int | None = None  # the seeds the preset trains at this point (None: not known)

    @property
    def seeds(self) -> int:
        """The fewest seeds of the point's comparisons."""
        return min((r["cmp"].n for r in self.rows), default=0)

    @property
    def complete(self) -> bool:
        """Whether every comparison has the seeds the preset plans at this point (True where that is not known)."""
        return self.planned is None or self.seeds >= self.planned

    @property
    def seeds_text(self) -> str:
        """'5 seeds', '3–5 seeds' where the point's comparisons have different counts, and '3 of 8 seeds' where
        the point is not :attr:`complete`."""
        counts = [r["cmp"].n for r in self.rows]
        text = f"{min(counts)}–{max(counts)}" if counts and min(counts) != max(counts) else f"{self.seeds}"
        return f"{text} of {self.planned} seeds" if not self.complete else f"{text} seeds"


def planned_seeds(ch: Chapter, preset, dataset: str = "cifar10", unpruned_only: bool = False) -> dict[int, int]:
    """Budget -> how many seeds the preset trains the pruned rows of ``ch``'s curve with there (the curve's
    experiments' ``seeds``; all the curve's seeds where that is None). Empty without a curve.
    ``unpruned_only``: the points where only the unpruned model trains instead."""
    p = get_preset(preset)
    every = len(budget_seeds(p, list(p.seeds)))
    out: dict[int, int] = {}
    for e in ch.curve_for(p, dataset):
        if bool(e.variants) != unpruned_only and e.budget is not None:
            out[e.budget] = max(out.get(e.budget, 0), every if e.seeds is None else e.seeds)
    return out


def curve_points(ch: Chapter, preset, results_dir: str | None = None, dataset: str = "cifar10") -> list[CurvePoint]:
    """The chapter's curve (its ``<chapter>-budget`` results file) as comparisons per budget: each of the
    chapter's pairs, per row of the curve (the row label without its ", N epochs"), paired by seed, Holm-
    adjusted within the budget (the comparisons a headline reads together). Empty without a curve file."""
    p = get_preset(preset)
    path = results_path(f"{ch.name}-budget", p, dataset, results_dir)
    if not path.exists():
        return []
    df = _frame(path)
    df = df[df["variant"] != "unpruned"].copy()
    if df.empty:
        return []
    df["budget"] = df["budget"].astype(int)
    df["target"] = df["target"].astype(str).str.replace(_BUDGET, "", regex=True)
    images = p.budget_subset if p.budget_subset is not None else p.train_subset
    planned = planned_seeds(ch, p, dataset)
    out = []
    for budget, g in df.groupby("budget", sort=True):
        rows = report.paired_stats(g, ["model", "target"], list(ch.pairs), None, p.margin)
        rows = [r for r in rows if r["cmp"].n >= 1]
        if ch.claims:
            rows = [{**r, "claim_text": ch.claim_for(r["a"], r["b"])} for r in rows]
        else:
            rows = [{**r, "claim_text": ch.claim} for r in rows]
        settled = report.settle(rows)
        out.append(CurvePoint(int(budget), images, settled, planned.get(int(budget))))
    return out


def _images_seen(epochs: int, images: int | None) -> int:
    """Training images passed through a model: ``epochs`` x the training images (None: all of CIFAR's)."""
    return epochs * (TRAIN_IMAGES if images is None else images)


def longest_point(points: list[CurvePoint], preset: Preset | None = None) -> CurvePoint | None:
    """The longest budget at which every comparison has all its planned seeds (:attr:`CurvePoint.complete`); where
    no point is complete (a re-run on seeds of its own), the longest at which every comparison has two or more.
    None: no such budget. A point still training is passed over for a shorter complete one: a verdict read while
    seeds are added would be a sample stopped when it looked decided. With ``preset``, only a point that trains
    longer than the preset's own runs (more epochs x images: a curve on 20,000 images at 4 epochs trains less
    than the chapter's 4 epochs on 50,000) counts."""
    full = [pt for pt in points if pt.rows and all(r["cmp"].n >= 2 for r in pt.rows)]
    if preset is not None:
        own = _images_seen(preset.epochs, preset.train_subset)
        full = [pt for pt in full if _images_seen(pt.budget, pt.images) > own]
    done = [pt for pt in full if pt.complete]
    return (done or full)[-1] if full else None


def _result(r: dict) -> str:
    """'Scratch-E - Fine-tuned −0.93 [−1.85, −0.00], fine-tuned better'."""
    c = r["cmp"]
    ci = "" if math.isnan(c.low95) else f" [{c.low95:+.2f}, {c.high95:+.2f}]"
    side_a, side_b = r.get("side_a") or side_name(r["a"]), r.get("side_b") or side_name(r["b"])
    if c.outcome == "inconclusive":
        verdict = "inconclusive" + ("" if c.seeds_needed is None else f" (~{c.seeds_needed} seeds)")
    else:
        verdict = c.text(side_a, side_b)
    if c.outcome == "equivalent":  # decided by the 90% interval, which the 95% one beside it can overhang
        verdict += f" (90% interval [{c.low90:+.2f}, {c.high90:+.2f}])"
    return f"{_name(r)}: {c.mean:+.2f}{ci}, {verdict}"


def _results(rows: list[dict], multi: bool) -> str:
    """The comparisons of a claim in words: each one when there are at most three, else the counts of what
    they support and the largest decided difference."""
    named = [{**r, "label": f"{_row_name(r)}: {_name(r)}"} if multi else r for r in rows]
    if len(rows) <= 3:
        return "; ".join(_result(r) for r in named)
    agrees = [_agrees(r) for r in rows]
    counts = ", ".join(f"{agrees.count(k)} {w}" for k, w in (("agrees", "support"), ("disagrees", "contradict"),
                                                              ("undecided", "undecided")) if agrees.count(k))
    decided = [r for r in named if r["cmp"].outcome not in ("inconclusive", "one seed")]
    top = max(decided, key=lambda r: abs(r["cmp"].mean), default=None)
    return f"{len(rows)} comparisons: {counts}" + ("" if top is None else f"; the largest decided: {_result(top)}")


def _name(r: dict) -> str:
    if r.get("label"):
        return r["label"]
    a, b = variant_label(r["a"]), variant_label(r["b"])
    return f"{a} − {b}"


def _agrees(r: dict) -> str:
    claim = r["claim"] if "claim" in r else pair_claim(r["a"], r["b"])
    return "-" if claim is None else agreement(r["cmp"].outcome, claim)


def _overall(agreements: list[str]) -> str:
    a, d = agreements.count("agrees"), agreements.count("disagrees")
    if a and d:
        return "mixed"
    if a:
        return "supports" if a == len(agreements) else "supports (partly decided)"
    if d:
        return "contradicts" if d == len(agreements) else "contradicts (partly decided)"
    return "undecided"


def _needed(rows: list[dict]) -> str:
    needs = [r["cmp"].seeds_needed for r in rows if r["cmp"].outcome == "inconclusive"]
    if not needs:
        return ""
    known = [n for n in needs if n is not None]
    most = f"up to about {max(known)}" if known else "more than 1000"
    return f"; the others need {most} seeds"


def _still_training(points: list[CurvePoint], read: CurvePoint | None, claim: str) -> str:
    """'; 64 epochs is still training (3 of 8 seeds): read when complete' for each point longer than the one
    the headline reads that has this claim's comparisons but not all its seeds ("" where none)."""
    return "".join(f"; {pt.budget} epochs is still training ({pt.seeds_text}): read when complete"
                   for pt in _training_after(points, read, claim))


def _training_after(points: list[CurvePoint], read: CurvePoint | None, claim: str) -> list[CurvePoint]:
    """The points longer than ``read`` with comparisons of ``claim`` that do not have all their seeds yet."""
    return [pt for pt in points if not pt.complete and (read is None or pt.budget > read.budget)
            and any(r["claim_text"] == claim for r in pt.rows)]


def _flat_ints(cfg) -> list[int]:
    """The channel counts of an explicit channel configuration (nested lists; 'M' and other markers dropped)."""
    if isinstance(cfg, (list, tuple)):
        return [n for item in cfg for n in _flat_ints(item)]
    return [cfg] if isinstance(cfg, int) and not isinstance(cfg, bool) else []


def one_channel_layers(ch: Chapter, preset, budget: int, results_dir: str | None = None,
                       dataset: str = "cifar10") -> str:
    """'the pruned models have 4–6 of their 16 layers one channel wide, …' when the pruned runs of ``ch``'s curve
    at ``budget`` have layers a single channel wide (read from their configs in the run store beside the
    results); "" otherwise. A verdict read there compares models through such a bottleneck:
    chapter 2's global threshold at 1/8 width does it at long budgets (its page shows the widths)."""
    from .runs import RunStore

    path = results_path(f"{ch.name}-budget", get_preset(preset), dataset, results_dir)
    if not path.exists():
        return ""
    df = _frame(path)
    ids = df[(df["budget"].astype(int) == budget) & (df["variant"] != "unpruned")]["run_id"].unique()
    store = RunStore(path.parent / "store")
    counts = []
    for run_id in ids:
        widths = _flat_ints((store.record(str(run_id), "config") or {}).get("cfg"))
        if widths:
            counts.append((sum(w == 1 for w in widths), len(widths)))
    if not counts or not any(n for n, _ in counts):
        return ""
    ones, layers = [n for n, _ in counts], {t for _, t in counts}
    span = f"{min(ones)}" if min(ones) == max(ones) else f"{min(ones)}–{max(ones)}"
    of = f" of their {layers.pop()}" if len(layers) == 1 else ""
    return f"the pruned models have {span}{of} layers one channel wide, a bottleneck fine-tuning inherits"


def headline(preset, results_dir: str | None = None, dataset: str = "cifar10",
             rows: list[dict] | None = None) -> pd.DataFrame:
    """The intro's headline: one row per claim, read at the longest budget the book has for it.

    Columns: ``claim`` (in a few words, with its chapter), ``our verdict``, ``at the longest budget`` (where: epochs, images, seeds,
    then each comparison's difference, 95% interval and verdict), ``at <epochs> epochs`` (the same at the
    chapter's own runs, or "same runs" when that is the longest), ``paper (160 epochs)`` (the paper's differences where it reports them); ``our verdict`` is supports /
    contradicts / mixed / undecided, from the longest budget's comparisons and the paper's claim about each, and ``why`` (computed: how many were
    decided, whether the verdict moves with the budget, the seeds the undecided ones need, a longer point still
    training)."""
    p = get_preset(preset)
    rows = book_comparisons(p, results_dir, dataset) if rows is None else rows
    book = [r for r in rows if "same_as" not in r]
    out = []
    for key in dict.fromkeys(r["family"] for r in book):
        short_rows = [r for r in book if r["family"] == key]
        ch: Chapter = short_rows[0]["chapter"]
        claim = short_rows[0]["claim_text"]
        if claim == "no claim tabulated":
            continue
        points = curve_points(ch, p, results_dir, dataset)
        point = longest_point(points, p)
        long_rows = [r for r in point.rows if r["claim_text"] == claim] if point is not None else []
        multi = len({_row_name(r) for r in short_rows}) > 1
        seeds = min(r["cmp"].n for r in short_rows)
        short_where = f"{p.epochs} epochs, {_images(p.train_subset)} images, {seeds} seeds"
        short = f"**{short_where}**: " + _results(short_rows, multi)
        if long_rows:
            where = f"{point.budget} epochs, {_images(point.images)} images, {point.seeds_text}"
            longest = f"**{where}**: " + _results(long_rows, len({_row_name(r) for r in long_rows}) > 1)
            verdict = _overall([_agrees(r) for r in long_rows])
            before = _overall([_agrees(r) for r in short_rows])
        else:
            longest, verdict, before = short, _overall([_agrees(r) for r in short_rows]), None
        decided = long_rows or short_rows
        n_dec = sum(r["cmp"].outcome not in ("inconclusive", "one seed") for r in decided)
        why = f"{n_dec} of {len(decided)} decided"
        if before is not None and before != verdict:
            why += f"; at {p.epochs} epochs it read *{before}*: the verdict moves with training length"
        why += _needed(decided)
        if long_rows and (narrow := one_channel_layers(ch, p, point.budget, results_dir, dataset)):
            why += f"; at {point.budget} epochs {narrow} (the chapter shows the widths)"
        why += _still_training(points, point, claim)
        papers = [f"{_row_name(r) + ': ' if multi else ''}{_name(r)} {r['paper']:+.2f}" for r in short_rows
                  if r.get("paper") is not None]
        out.append({"claim": f"{short_claim(ch, claim)} ({{doc}}`{ch.page}`)", "our verdict": f"**{verdict}**",
                    "at the longest budget": longest,
                    f"at {p.epochs} epochs": "(no longer budget yet)" if not long_rows else short,
                    "paper (160 epochs)": "; ".join(papers) or "none tabulated", "why": why})
    return pd.DataFrame(out)


def _n(count: int, word: str) -> str:
    """'1 epoch', '4 epochs'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def _images(n: int | None) -> str:
    return f"{TRAIN_IMAGES:,}" if n is None else f"{n:,}"


def verdict_summary(preset, results_dir: str | None = None, dataset: str = "cifar10",
                    rows: list[dict] | None = None) -> pd.DataFrame:
    """Every comparison of the book at the preset's budget, one row each (no claim text: the headline has it):
    chapter, row, comparison, our difference with its 95% interval, the p's (Holm within the claim), the
    paper's difference, the verdict and whether it supports the paper's claim. A comparison of runs an
    earlier row compared says so and is not a verdict. Chapters without results are listed as not run."""
    p = get_preset(preset)
    rows = book_comparisons(p, results_dir, dataset) if rows is None else rows
    have = {r["chapter"].name for r in rows}
    out = []
    for ch in CHAPTERS.values():
        if ch.name not in have:
            if not results_path(ch.name, p, dataset, results_dir).exists():
                out.append({"chapter": f"{{doc}}`{ch.page}`", "row": "-", "comparison": "-", "ours": "not run",
                            "p diff / equiv": "-", "paper": "-", "verdict": "-", "supports": "-"})
            continue
        table = report.verdict_rows([r for r in rows if r["chapter"] is ch])
        for (_, t), r in zip(table.iterrows(), [r for r in rows if r["chapter"] is ch]):
            out.append({"chapter": f"{{doc}}`{ch.page}`", "row": _row_name(r), "comparison": t["comparison"],
                        "ours": f"{t['mean diff']:+.2f} {t['95% CI']}", "p diff / equiv": t["p diff / equiv"],
                        "paper": t["paper"], "verdict": t["verdict"], "supports": t["paper's claim"]})
    return pd.DataFrame(out)


def verdict_stats(preset, results_dir: str | None = None, dataset: str = "cifar10") -> list[dict]:
    """The book's comparisons that are verdicts (each once), keys prefixed with the chapter's number: the
    numbers behind :func:`verdict_summary` and the forest plot."""
    return [{**r, "keys": {"chapter": f"{r['chapter'].number}.", **r["keys"]}}
            for r in book_comparisons(preset, results_dir, dataset) if "same_as" not in r]


def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a MyST markdown table (cells with '|' escaped)."""
    head = "| " + " | ".join(df.columns) + " |\n|" + "---|" * len(df.columns) + "\n"
    cell = lambda v: str(v).replace("|", "\\|")  # noqa: E731
    return head + "\n".join("| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False))


def list_table(df: pd.DataFrame, widths: list[int], css: str = "") -> str:
    """A DataFrame as a MyST ``list-table`` (cells are markdown; ``widths`` in relative units, so the table
    keeps to the page's column and long cells wrap)."""
    if df.empty or not len(df.columns):
        return "(none)"
    lines = [":::{list-table}", ":header-rows: 1", f":widths: {' '.join(map(str, widths))}"]
    if css:
        lines.append(f":class: {css}")
    lines.append("")
    for row in [list(df.columns), *df.itertuples(index=False)]:
        cells = [str(v).replace("\n", " ") for v in row]
        lines.append(f"* - {cells[0]}")
        lines += [f"  - {c}" for c in cells[1:]]
    lines.append(":::")
    return "\n".join(lines)


def verdict_markdown(preset, results_dir: str | None = None, dataset: str = "cifar10") -> str:
    """The intro's results as MyST markdown: the headline table (one row per claim), then every comparison in
    a folded table, each computed from the saved results."""
    p = get_preset(preset)
    rows = book_comparisons(p, results_dir, dataset)  # read and settled once for both tables
    head = headline(p, results_dir, dataset, rows)
    every = verdict_summary(p, results_dir, dataset, rows)
    dropped = [r for r in rows if "same_as" in r]
    images = _images(p.budget_subset if p.budget_subset is not None else p.train_subset)
    figure = ["```{figure} _static/verdicts.png", ":alt: each claim's paired differences against the training budget",
              ":width: 100%", "",
              f"Each claim's paired differences (mean over seeds, 95% interval) against the large model's epochs: "
              f"lines are a chapter's budget curve (on {images} training images), hollow markers the chapter's own "
              f"runs at {p.epochs} epochs (on {_images(p.train_subset)} images), the green band the ±{p.margin:g} "
              "margin of the equivalence test and the stars the paper's difference at 160 epochs.", "```"]
    if head.empty:  # no chapter has results at this preset yet
        return (f"No chapter has results at preset `{p.name}` yet.\n\n"
                + list_table(every, [9, 11, 15, 13, 11, 7, 24, 8], "every-comparison") + "\n")
    lines = [list_table(head, [16, 13, 24, 20, 13, 14], "headline"), "", *figure, "",
             f":::{{dropdown}} Every comparison at the preset's budget ({p.epochs} epochs), one row each: {len(every)} "
             "rows" + (f", {len(dropped)} of them the same runs as an earlier row (not counted again)" if dropped else ""),
             "", list_table(every, [9, 11, 15, 13, 11, 7, 24, 8], "every-comparison"), ":::", ""]
    return "\n".join(lines)


def training_time(preset, results_dir: str | None = None, dataset: str = "cifar10", workers: int = 2):
    """What the book's saved results cost to train, chapter by chapter (each curve its own line): runs,
    runs new to the book (a run shared with an earlier chapter is counted there), their summed training wall
    time in hours and training PFLOP, and that time divided by ``workers`` (runs trained at once, one thread
    each: the CPU presets' local executor), the machine time it took; a last row sums the book. Read from
    the results files (each run's own ``wall_time_s``); chapters without results are left out."""
    p = get_preset(preset)
    seen: set[str] = set()
    out = []
    parts = []
    for c in CHAPTERS.values():
        parts.append((f"{c.number}. {c.title}", c.name))
        if c.curve is not None:
            parts.append((f"{c.number}. budget curve", f"{c.name}-budget"))
    for label, name in parts:
        path = results_path(name, p, dataset, results_dir)
        if not path.exists():
            continue
        df = pd.read_csv(path, keep_default_na=False).drop_duplicates("run_id")
        new = df[~df["run_id"].isin(seen)]
        seen.update(df["run_id"])
        out.append({"part": label, "runs": len(df), "new runs": len(new),
                    "run-hours (new)": float(new["wall_time_s"].sum()) / 3600,
                    "training PFLOP (new)": float(new["train_flops"].sum()) / 1e15})
    table = pd.DataFrame(out)
    if not table.empty:
        total = {"part": "book", "runs": int(table["new runs"].sum()), "new runs": int(table["new runs"].sum()),
                 "run-hours (new)": table["run-hours (new)"].sum(), "training PFLOP (new)": table["training PFLOP (new)"].sum()}
        table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
        table[f"machine hours ({workers} at a time)"] = table["run-hours (new)"] / workers
    return table.round(3)


def claim_series(preset, results_dir: str | None = None, dataset: str = "cifar10") -> list[dict]:
    """Per claim of the headline, each comparison's difference against the budget: ``{"claim", "chapter",
    "series": [{"name", "points": [(epochs, mean, low95, high95, curve?)], "paper"}]}``. A chapter's curve gives
    one point per budget (on the curve's images); the chapter's own runs give the point at the preset's
    budget (on its images), drawn apart. The numbers of :func:`verdict_figure`."""
    p = get_preset(preset)
    book = [r for r in book_comparisons(p, results_dir, dataset) if "same_as" not in r]
    out = []
    for key in dict.fromkeys(r["family"] for r in book):
        rows = [r for r in book if r["family"] == key]
        ch, claim = rows[0]["chapter"], rows[0]["claim_text"]
        if claim == "no claim tabulated":
            continue
        multi = len({_row_name(r) for r in rows}) > 1
        series: dict[str, dict] = {}
        for r in rows:
            name = (f"{_row_name(r)}: " if multi else "") + _name(r)
            c = r["cmp"]
            series[name] = {"name": name, "points": [(p.epochs, c.mean, c.low95, c.high95, False)],
                            "paper": r.get("paper")}
        for pt in curve_points(ch, p, results_dir, dataset):
            for r in pt.rows:
                if r["claim_text"] != claim:
                    continue
                name = (f"{_row_name(r)}: " if multi else "") + _name(r)
                c = r["cmp"]
                s = series.setdefault(name, {"name": name, "points": [], "paper": None})
                s["points"].append((pt.budget, c.mean, c.low95, c.high95, True))
        out.append({"claim": short_claim(ch, claim), "chapter": ch, "series": list(series.values())})
    return out


def verdict_figure(preset, results_dir: str | None = None, dataset: str = "cifar10", paper_budget: int = 160):
    """The headline as small multiples: per claim, each comparison's mean paired difference (95% interval)
    against the large model's epochs (log scale): lines for a chapter's curve (on the curve's images), hollow
    markers for the chapter's own runs at the preset's budget, the ±margin band of the equivalence test and
    the paper's difference at ``paper_budget`` epochs (stars). Returns the first Axes (None: no results)."""
    import matplotlib.pyplot as plt

    p = get_preset(preset)
    claims = claim_series(p, results_dir, dataset)
    if not claims:
        return None
    cols = 3
    rows = math.ceil(len(claims) / cols)
    shown_per = [min(len(c["series"]), 6) + (len(c["series"]) > 6) for c in claims]
    # each row of plots gets a legend row as tall as its longest legend, so a short one leaves no blank band
    legend_in = [0.1 + 0.16 * max(shown_per[r * cols:(r + 1) * cols]) for r in range(rows)]
    heights = [h for r in range(rows) for h in (2.9, legend_in[r])]
    fig = plt.figure(figsize=(13, sum(heights) + 0.25 * rows), layout="constrained")
    fig.get_layout_engine().set(h_pad=0.04, hspace=0.0)
    grid = fig.add_gridspec(2 * rows, cols, height_ratios=heights)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    first = None
    for i, claim in enumerate(claims):
        r, c = divmod(i, cols)
        ax = fig.add_subplot(grid[2 * r, c])
        key = fig.add_subplot(grid[2 * r + 1, c])
        key.axis("off")
        first = first or ax
        ax.axhspan(-p.margin, p.margin, color="tab:green", alpha=0.12, lw=0)
        ax.axhline(0, color="0.4", lw=0.8)
        shown = claim["series"][:6]
        for k, s in enumerate(shown):
            colour = colours[k % len(colours)]
            shift = 1 + 0.05 * (k - (len(shown) - 1) / 2)
            curve = sorted(pt for pt in s["points"] if pt[4])
            own = [pt for pt in s["points"] if not pt[4]]
            if curve:
                xs = [pt[0] * shift for pt in curve]
                ax.errorbar(xs, [pt[1] for pt in curve], yerr=_yerr(curve), color=colour, marker="o", ms=4,
                            lw=1.3, capsize=2, label=s["name"])
            for pt in own:
                ax.errorbar([pt[0] * shift * 1.12], [pt[1]], yerr=_yerr([pt]), color=colour, marker="o", ms=6,
                            mfc="white", lw=1, capsize=2, label=None if curve else s["name"])
            if s["paper"] is not None:
                ax.plot([paper_budget * shift], [s["paper"]], marker="*", ms=10, color=colour, ls="none")
        ax.set_xscale("log", base=2)
        ax.set_xlim(1.4, paper_budget * 1.6)
        ticks = [2, 4, 8, 16, 32, 64, paper_budget]
        ax.set_xticks(ticks, [*map(str, ticks[:-1]), f"{paper_budget}\n(paper)"], fontsize=8)
        ax.minorticks_off()
        ax.tick_params(axis="y", labelsize=8)
        ax.set_title(textwrap.fill(f"{claim['chapter'].number}. {claim['claim']}", 48), fontsize=9)
        ax.set_ylabel("difference (points)", fontsize=8)
        more = len(claim["series"]) - len(shown)
        key.legend(*ax.get_legend_handles_labels(), fontsize=7, loc="upper center", ncol=1, frameon=False,
                   borderaxespad=0, title=f"(+{more} more in the table)" if more > 0 else None, title_fontsize=7)
    return first


def _yerr(points) -> list[list[float]]:
    low = [0.0 if math.isnan(pt[2]) else pt[1] - pt[2] for pt in points]
    high = [0.0 if math.isnan(pt[3]) else pt[3] - pt[1] for pt in points]
    return [low, high]


# ------------------------------------------------------------------------------------ a chapter in words
def chapter_stats(run, results_dir: str | None = None) -> list[dict]:
    """A chapter run's comparisons (:class:`nbprune.runner.ChapterRun`) settled as the intro settles them:
    a comparison of runs that an earlier chapter's saved results (under ``results_dir``, None: where the run
    saved its own) already compared is not counted again, and Holm runs within each claim; what the
    chapter's "What this chapter found" section reads."""
    from pathlib import Path

    ch, p = run.chapter, run.preset
    root = results_dir if results_dir is not None else (str(Path(run.saved).parent.parent) if run.saved else None)
    seen: dict = {}
    for earlier in CHAPTERS.values():
        if earlier.number >= ch.number:
            break
        path = results_path(earlier.name, p, run.dataset, root)
        if path.exists():
            report.settle(_chapter_stats(earlier, _frame(path), p, run.dataset), seen=seen, label=_label(earlier))
    rows = _chapter_stats(ch, report.results_frame(run.rows), p, run.dataset)
    return report.settle(rows, family=lambda r: r["claim_text"], seen=seen, label=_label(ch))


def _sentence(r: dict) -> str:
    c = r["cmp"]
    where = f"**{_row_name(r)}, {_name(r)}**"
    if "same_as" in r:
        alias = "; ".join(f"{variant_label(v)} is the {variant_label(w).lower()} runs here"
                          for v, w in r.get("alias", {}).items())
        return f"{where}: the same runs as {r['same_as']}" + (f" ({alias})" if alias else "") + ", so not a second verdict."
    ci = "" if math.isnan(c.low95) else f" (95% interval {c.low95:+.2f} to {c.high95:+.2f})"
    if c.n < 2:
        adj = ""
    elif c.outcome == "equivalent":  # the test that decided it: TOST, read on the 90% interval
        p = (f"Holm-adjusted p {c.p_equiv_adj:.3f} for equivalence over the claim's {c.family} comparisons"
             if c.family > 1 else f"p {c.p_equiv:.3f} for equivalence")
        adj = f"; its 90% interval {c.low90:+.2f} to {c.high90:+.2f} lies inside ±{c.margin:g}, {p}"
    elif c.family > 1:
        adj = f"; Holm-adjusted p {c.p_diff_adj:.3f} for a difference over the claim's {c.family} comparisons"
    else:
        adj = f"; p {c.p_diff:.3f} for a difference"
    side_a, side_b = r.get("side_a") or side_name(r["a"]), r.get("side_b") or side_name(r["b"])
    paper = "" if r.get("paper") is None else f" The paper: {r['paper']:+.2f}."
    agrees = _agrees(r)
    supports = {"agrees": " This supports the paper's claim.", "disagrees": " This contradicts the paper's claim.",
                "undecided": "", "-": ""}[agrees]
    return f"{where}: {c.mean:+.2f} points{ci}, {c.text(side_a, side_b)}{adj}.{paper}{supports}"


def _split(values: list[float]) -> tuple[float, float] | None:
    """The two group means when ``values`` fall into two groups far apart (the largest gap between sorted
    values is over 5 points and over twice the spread within either group), else None."""
    v = sorted(values)
    if len(v) < 4:
        return None
    gaps = [(v[i + 1] - v[i], i) for i in range(len(v) - 1)]
    gap, i = max(gaps)
    low, high = v[:i + 1], v[i + 1:]
    spread = max(max(low) - min(low), max(high) - min(high))
    if gap > 5 and gap > 2 * spread:
        return sum(low) / len(low), sum(high) / len(high)
    return None


def chapter_findings(run, results_dir: str | None = None) -> str:
    """The chapter's "What this chapter found" in markdown, every number computed from its results: each
    comparison with its interval, adjusted p and what it means for the paper's claim; the claim overall at
    this budget; and the likely reasons where they can be read from the data (how far from converged the
    budget is, on chapter 1's curve; seeds that split into groups; comparisons that are the same runs; how
    many seeds the undecided ones need)."""
    p = run.preset
    rows = chapter_stats(run, results_dir)
    df = report.results_frame(run.rows)
    if not rows:
        return "This run has no comparison to report (one seed, or no rows)."
    seeds = max(r["cmp"].n for r in rows)
    lines = [f"At preset `{p.name}` ({_n(p.epochs, 'epoch')} for the large models, {_images(p.train_subset)} "
             f"training images, 1/{round(1 / p.width)} width, {_n(seeds, 'seed')}):", ""]
    lines += [f"- {_sentence(r)}" for r in rows]
    verdicts = [r for r in rows if "same_as" not in r]
    by_claim: dict[str, list[dict]] = {}
    for r in verdicts:
        by_claim.setdefault(r["claim_text"], []).append(r)
    lines.append("")
    for claim, rs in by_claim.items():
        if claim == "no claim tabulated":
            continue
        overall = _overall([_agrees(r) for r in rs])
        verb = {"supports": "support", "contradicts": "contradict", "mixed": "are mixed on",
                "undecided": "do not decide"}[overall.split(" ")[0]]
        lines.append(f"**{short_claim(run.chapter, claim)}**: at this budget the results {verb} the claim"
                     + (" (not every comparison is decided)" if "partly" in overall else "") + ".")
    reasons = []
    unpruned = df[df["variant"] == "unpruned"]["final"]
    if len(unpruned):
        reasons.append(f"the unpruned models reach {unpruned.mean():.1f}% here (the paper's are at 93-94%)")
    gain = _doubling_gain(p, p.epochs, results_dir)
    if gain is not None:
        reasons.append(f"on chapter 1's budget curve doubling the unpruned model's epochs from {p.epochs} to "
                       f"{2 * p.epochs} still adds {gain:.1f} points, so these runs are far from converged and a "
                       "variant given more epochs (Scratch-B, or fine-tuning on top of the large model's) gains "
                       "from the epochs themselves")
    pruned = df[df["variant"] != "unpruned"]
    for (model, row, variant), g in pruned.groupby(["model", "target", "variant"], observed=True, sort=False):
        split = _split(g["final"].tolist())
        if split:
            name = row if str(row).startswith(str(model)) else f"{model} {row}"
            reasons.append(f"{variant_label(variant)} of {name} splits into two groups of seeds "
                           f"(around {split[0]:.1f}% and {split[1]:.1f}%), which widens its interval")
    need = [r["cmp"].seeds_needed for r in verdicts if r["cmp"].outcome == "inconclusive"]
    if need:
        known = [n for n in need if n is not None]
        reasons.append(f"{len(need)} comparison(s) are undecided at {seeds} seeds; "
                       + ((f"deciding them would take about {min(known)} to {max(known)} seeds at 80% power"
                           if min(known) != max(known) else f"deciding it would take about {known[0]} seeds at 80% power")
                          if known else "none would be decided within 1000 seeds"))
    if any("same_as" in r for r in rows):
        reasons.append("some rows compare the same runs under two names and are counted once")
    curve = _curve_findings(run, results_dir)
    if reasons:  # right under the verdicts it explains, before the curve's longer budget is read
        whose = f"the {p.epochs}-epoch runs" if curve else "it"
        lines += ["", f"Why {whose} may read differently from the paper: " + "; ".join(reasons) + "."]
    return "\n".join(lines + curve)


def _curve_findings(run, results_dir: str | None = None) -> list[str]:
    """Markdown lines for :func:`chapter_findings`: the chapter's claims at the longest point of its budget curve
    that the intro's headline reads (:func:`longest_point`), each comparison with its interval and verdict, the
    claim overall there, layers one channel wide in that point's pruned models, and longer points still
    training; [] without such a point."""
    p = run.preset
    points = curve_points(run.chapter, p, results_dir, run.dataset)
    point = longest_point(points, p)
    if point is None:
        return []
    where = f"{_n(point.budget, 'epoch')}, {_images(point.images)} training images, {point.seeds_text}"
    multi = len({_row_name(r) for r in point.rows}) > 1
    lines = ["", f"On the chapter's budget curve, at its longest point with every seed trained ({where}), the one "
             "the intro's headline reads:", ""]
    lines += [f"- {_row_name(r) + ': ' if multi else ''}{_result(r)}" for r in point.rows]
    narrow = one_channel_layers(run.chapter, p, point.budget, results_dir, run.dataset)
    lines.append("")
    for claim in dict.fromkeys(r["claim_text"] for r in point.rows):
        overall = _overall([_agrees(r) for r in point.rows if r["claim_text"] == claim])
        said = [f"**{short_claim(run.chapter, claim)}** at {_n(point.budget, 'epoch')}: *{overall}*."]
        if narrow:
            said.append(f"There {narrow} (the widths are above).")
        said += [f"{pt.budget} epochs is still training ({pt.seeds_text}); the headline reads it once complete."
                 for pt in _training_after(points, point, claim)]
        lines.append(" ".join(said))
    return lines


def _doubling_gain(preset: Preset, epochs: int, results_dir: str | None = None,
                   dataset: str = "cifar10") -> float | None:
    """Chapter 1's curve: the unpruned model's mean gain from ``epochs`` to twice that, paired by seed."""
    return _doubling_gains(preset, [epochs], results_dir, dataset).get(epochs)


def _doubling_gains(preset: Preset, budgets, results_dir: str | None = None,
                    dataset: str = "cifar10") -> dict[int, float]:
    """:func:`_doubling_gain` at each of ``budgets`` the curve has both ends of (the curve's file read once)."""
    path = results_path("predefined-budget", preset, dataset, results_dir)
    if not path.exists():
        return {}
    df = _frame(path)
    u = df[df["variant"] == "unpruned"].groupby(["budget", "seed"])["final"].first()
    have = set(u.index.get_level_values(0))
    out = {}
    for b in budgets:
        if b in have and 2 * b in have and len(gain := (u.loc[2 * b] - u.loc[b]).dropna()):
            out[b] = float(gain.mean())
    return out


# ------------------------------------------------------------------------------------ a chapter's curve
def curve_sections(run) -> list[dict]:
    """A chapter's budget curve, one section per row it re-runs: ``{"row", "name"`` (the row with its model,
    as headings show it), ``"stats"`` (:func:`nbprune.report.
    budget_stats` over the chapter's pairs), ``"paper"`` (label -> the paper's accuracy at 160 epochs, for
    the figure's stars), ``"seeds"`` (per budget: the fewest any pruned variant has there) and ``"title"``}.
    Empty when the chapter has no curve rows."""
    if run.curve is None or not run.curve.rows:
        return []
    df = report.results_frame(run.curve.rows)
    refs = paper_refs(run.grid, run.dataset)
    out = []
    for row, rows in report.curve_rows(df).items():
        stats = report.budget_stats(rows, run.preset.margin, list(run.chapter.pairs))
        if stats.empty:
            continue
        model = str(rows["model"].iloc[-1])
        paper = {}
        for (m, label, variant), (mean, _) in refs.items():
            if m == model and (label == row or (variant == "unpruned" and label == "")):
                paper["unpruned" if variant == "unpruned" else variant_label(variant)] = mean
        # per budget, the fewest seeds any pruned variant has there (a point whose Scratch-B is a seed behind
        # has that many seeds for its comparisons)
        pruned = rows[rows["variant"] != "unpruned"]
        seeds = pruned.groupby(["budget", "variant"])["seed"].nunique().groupby(level=0).min().to_dict()
        name = row if row.startswith(model) else f"{model} {row}"  # "VGG-16-A", "VGG-19 70%"
        out.append({"row": row, "name": name, "stats": stats, "paper": paper, "seeds": seeds,
                    "title": f"{name} against the budget ({run.preset.name})"})
    return out


def curve_note(run) -> str:
    """One paragraph under a chapter's curve: its budgets, images and seeds per point, what is not trained
    yet (and the command that trains it), and chapter 1's doubling gain at the preset's budget, the scale a
    gain from more epochs is read on. Markdown; computed."""
    p = run.preset
    if not run.chapter.curve_for(p, run.dataset):  # the curves are CIFAR-10's (Chapter.curve_for)
        return f"This chapter has no budget curve on {run.dataset} at preset `{p.name}`: the curves run on CIFAR-10."
    images = _images(p.budget_subset if p.budget_subset is not None else p.train_subset)
    seeds = {}
    for s in curve_sections(run):
        for b, n in s["seeds"].items():
            seeds[int(b)] = min(n, seeds.get(int(b), n))
    planned = planned_seeds(run.chapter, p, run.dataset)
    parts = []
    if seeds:
        def trained(b: int, n: int) -> str:
            if planned.get(b, 0) > n:
                return f"{_n(b, 'epoch')} ({n} of {planned[b]} seeds so far)"
            return f"{_n(b, 'epoch')} ({_n(n, 'seed')})"
        alone = _unpruned_only(run, set(seeds))
        parts.append("Points trained: " + ", ".join(trained(b, n) for b, n in sorted(seeds.items()))
                     + "".join(f"; the unpruned model alone at {_n(b, 'epoch')} ({n} of {k} seeds so far)" if n < k
                               else f"; the unpruned model alone at {_n(b, 'epoch')} ({_n(n, 'seed')})"
                               for b, (n, k) in sorted(alone.items()))
                     + f", on {images} training images.")
        if any(planned.get(b, 0) > n for b, n in seeds.items()):
            parts.append("A point without all its seeds is shown as it stands; the intro's headline reads a "
                         "point only once all its seeds are trained.")
    else:
        parts.append("No point of this curve is trained yet.")
    if run.curve_missing:
        parts.append(f"{run.curve_missing} run(s) of the curve are not trained yet (the chapter reads what is "
                     f"finished and trains nothing more unless asked): `nbprune grid {run.chapter.name} --preset "
                     f"{p.name} --curve` trains them, and so does the notebook's parameter `train_curve=True`.")
    parts.append(doubling_sentence(p, [p.epochs, *seeds]))
    return " ".join(x for x in parts if x)


def _unpruned_only(run, pruned_budgets: set[int]) -> dict[int, tuple[int, int]]:
    """Budget -> (seeds trained, seeds planned) of the curve's points where only the unpruned model trains
    (chapter 1's twice-the-longest budget, the far end of its last doubling gain)."""
    planned = {b: k for b, k in planned_seeds(run.chapter, run.preset, run.dataset, unpruned_only=True).items()
               if b not in pruned_budgets}
    if not planned:
        return {}
    df = report.results_frame(run.curve.rows) if run.curve is not None and run.curve.rows else None
    done = {} if df is None else df[df["variant"] == "unpruned"].groupby("budget")["seed"].nunique().to_dict()
    return {b: (int(done.get(b, 0)), k) for b, k in planned.items()}


def doubling_sentence(preset: Preset, budgets, results_dir: str | None = None) -> str:
    """What doubling the unpruned VGG-16's epochs adds on chapter 1's curve at each of ``budgets`` it has both
    ends of (:func:`_doubling_gains`): the scale on which a gain of runs trained longer is read. "" where none."""
    gains = sorted(_doubling_gains(preset, set(budgets), results_dir).items())
    if not gains:
        return ""
    said = [f"{g:.1f} points from {b} to {2 * b} epochs" for b, g in gains]
    said = said[0] if len(said) == 1 else ", ".join(said[:-1]) + " and " + said[-1]
    return (f"On chapter 1's curve, doubling the unpruned VGG-16's epochs adds {said}: a difference of that "
            "order between runs trained for different numbers of epochs (Scratch-B against fine-tuning, say) "
            "can come from the epochs alone.")


def show_curve(run) -> None:
    """Display a chapter's budget curve in its notebook: per row of :func:`curve_sections`, its name, the mean
    accuracies per budget, the paired differences per budget and the figure (:func:`nbprune.report.
    budget_figure`), then :func:`curve_note`. Chapters 2 and 5 call it; nothing is shown but the note when the
    chapter has no curve rows yet."""
    import matplotlib.pyplot as plt
    from IPython.display import Markdown, display

    for section in curve_sections(run):
        accuracies, differences = report.budget_tables(section["stats"])
        display(Markdown(f"**{section['name']}**"))
        display(report.show(accuracies))
        display(report.show(differences, group=["budget"]))
        report.budget_figure(section["stats"], run.preset.margin, section["title"], section["paper"])
        plt.show()
    display(Markdown(curve_note(run)))
