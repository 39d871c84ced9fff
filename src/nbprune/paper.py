"""The paper's reference numbers (Liu et al. 2019), as shipped in ``nbprune/reference/paper_tables.csv``.

A leaf module: it reads the packaged table and imports no other nbprune module, so any part of the package
(grids, report, the notebooks) can ask for the paper's numbers without pulling in anything else. Accuracies
are in %; metrics ending in ``_drop`` are differences in accuracy points.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import pandas as pd

REFERENCE_CSV = "reference/paper_tables.csv"  # inside the nbprune package


@lru_cache(maxsize=1)
def _paper() -> pd.DataFrame:
    """Every row of the packaged reference CSV (read once); empty ``target`` and ``note`` cells are ''."""
    with resources.files("nbprune").joinpath(REFERENCE_CSV).open() as f:
        df = pd.read_csv(f, dtype={"table": str})
    for col in ("target", "note"):
        df[col] = df[col].fillna("")
    return df


def paper_table(table: str | int | None = None, dataset: str | None = None) -> pd.DataFrame:
    """The paper's tables as tidy rows (table, dataset, model, target, variant, metric, mean, std, note)."""
    df = _paper()
    if table is not None:
        tables = sorted(df["table"].unique(), key=lambda t: (len(t), t))
        if str(table) not in tables:
            raise ValueError(f"table: unknown {str(table)!r}; allowed: {', '.join(tables)}")
        df = df[df["table"] == str(table)]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    return df.reset_index(drop=True)


def paper_value(table: str | int, dataset: str, model: str, target: str, variant: str,
                metric: str = "top1_acc", note: str | None = None) -> tuple[float, float] | None:
    """(mean, std) the paper reports for one cell, or None if it has no such cell."""
    df = paper_table(table, dataset)
    sel = (df["model"] == model) & (df["target"] == target) & (df["variant"] == variant) & (df["metric"] == metric)
    if note is not None:
        sel &= df["note"].str.contains(note, regex=False)
    rows = df[sel]
    if rows.empty:
        return None
    return float(rows["mean"].iloc[0]), float(rows["std"].iloc[0]) if pd.notna(rows["std"].iloc[0]) else float("nan")


def paper_wide(*tables: str | int) -> pd.DataFrame:
    """The paper's numbers for some tables, one row per (table, dataset, model, pruned model), one column per
    variant; '†' marks a cell whose place in the paper's table was inferred from the PDF's layout."""
    if not tables:
        raise ValueError("tables: give at least one of the paper's tables, e.g. paper_wide('1', '2')")
    t = pd.concat([paper_table(table) for table in tables], ignore_index=True)

    def cell(r) -> str:
        value = f"{r['mean']:+.2f}" if r["metric"].endswith("_drop") else f"{r['mean']:.2f}"
        value += "" if pd.isna(r["std"]) else f" ± {r['std']:.2f}"
        return value + (" †" if "UNCERTAIN" in r["note"] else "")

    t = t.assign(value=t.apply(cell, axis=1))
    wide = t.pivot_table(index=["table", "dataset", "model", "target"], columns="variant", values="value",
                         aggfunc=" / ".join, sort=False)
    wide = wide[list(t["variant"].unique())].fillna("")
    wide.index.names = ["table", "dataset", "model", "pruned model"]
    wide.columns.name = None
    return wide
