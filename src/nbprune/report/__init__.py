"""Report helpers for the notebooks: seed summaries, paired statistics, tables and figures.

Conventions: accuracies are in %; "final" is the last epoch's test accuracy (this project's primary
number) and "best" the best test accuracy over epochs (the paper's selection). Paired statistics compare
runs that share a seed and a pruned architecture (e.g. Scratch-B - Fine-tuned per seed), with a 95%
t-interval over seeds.

Modules, lowest first (each imports only those before it, and :mod:`nbprune.paper`, :mod:`nbprune.stats`,
:mod:`nbprune.presets` and, inside functions, :mod:`nbprune.flops`, :mod:`nbprune.models`,
:mod:`nbprune.prune.surgery` and :mod:`nbprune.provenance`):

    tables    -- the tidy results frame, paper-shaped tables, the budget ledger, architectures, widths, run box;
                 show / fold / paper_tables: how the book displays a table.
    verdicts  -- paired statistics, verdicts against the paper's claims, the tables of a chapter.
    figures   -- forest plots, accuracy bars, weight histograms, accuracy vs parameters, per-stage sparsity.
    search    -- chapter 4's architectures on curves, their summary and sizes (from the tables' helpers).
    summary   -- the paper's claims and the verdict on each from the saved results (the book's summary).

The paper's own numbers live in :mod:`nbprune.paper`; ``paper_table``, ``paper_value`` and ``paper_wide``
are re-exported here.
"""

from __future__ import annotations

from ..paper import paper_table, paper_value, paper_wide
from ..variants import pair_claim, side_name, variant_label, variant_order
from .figures import (
    FIGSIZE,
    HISTOGRAM_BINS,
    budget_figure,
    chain_states,
    chapter_forest,
    conv_weight_names,
    forest_figure,
    params_curve_figure,
    schedule_figure,
    seeds_figure,
    stage_sparsity_figure,
    weight_distribution_figure,
    weight_histogram,
    weight_histograms,
)
from .search import (
    SEARCH_CURVES,
    fewer_parameters,
    search_figure_groups,
    search_points,
    search_sizes,
    search_summary,
)
from .tables import (
    Html,
    architecture_table,
    budget_tables,
    budget_widths,
    fold,
    ledger_table,
    mean_std,
    paper_rows,
    paper_shaped_table,
    paper_tables,
    results_frame,
    row_label,
    run_box,
    show,
    variant_rows,
    widths_table,
)
from .verdicts import (
    BUDGET_PAIRS,
    CLAIM_WORDS,
    best_schedule,
    budget_stats,
    chapter_tables,
    comparison_label,
    curve_rows,
    paired_stats,
    paired_table,
    random_pruning_stats,
    random_pruning_table,
    search_comparisons,
    search_pairs,
    search_stats,
    settle,
    t_interval,
    verdict_rows,
)

__all__ = [
    "BUDGET_PAIRS", "budget_stats", "budget_figure", "best_schedule", "random_pruning_stats",
    "random_pruning_table", "schedule_figure",
    "CLAIM_WORDS", "FIGSIZE", "HISTOGRAM_BINS", "search_comparisons",
    "pair_claim", "side_name", "variant_label", "variant_order",
    "architecture_table", "seeds_figure", "chapter_forest", "chapter_tables",
    "conv_weight_names", "forest_figure", "ledger_table", "mean_std", "paired_stats", "paired_table",
    "paper_shaped_table", "paper_table", "paper_value", "paper_wide", "params_curve_figure", "results_frame",
    "row_label", "run_box", "search_pairs", "search_stats", "stage_sparsity_figure", "t_interval",
    "weight_distribution_figure", "weight_histogram", "weight_histograms", "chain_states", "widths_table",
    "Html", "budget_tables", "budget_widths", "fold", "paper_rows", "paper_tables", "show", "variant_rows",
    "comparison_label", "settle", "verdict_rows", "curve_rows",
    "SEARCH_CURVES", "fewer_parameters", "search_figure_groups", "search_points", "search_sizes", "search_summary",
]
