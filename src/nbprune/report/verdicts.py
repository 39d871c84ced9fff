"""Paired statistics and verdicts: per-seed differences between two variants, their intervals, the verdict
of :func:`nbprune.stats.compare` and whether it supports the paper's claim (:func:`nbprune.stats.agreement`).

Paired statistics compare runs that share a seed and a pruned architecture (e.g. Scratch-B - Fine-tuned per
seed). The decision rules, for the mean paired difference ``a - b`` at an equivalence ``margin`` fixed before
the runs (see :mod:`nbprune.stats`):

- **equivalent within ±margin** when the 90% t-interval lies inside ``(-margin, +margin)`` (TOST at 5%);
- otherwise **a better** / **b better** when the 95% t-interval lies above / below 0;
- otherwise **inconclusive**, with about how many seeds would decide it at 80% power ("one seed" when there is
  one); within a claim's family the p's are Holm-adjusted first (:func:`settle`).

A verdict *agrees* with the paper's claim when it is one the claim predicts, *disagrees* when it is one the
claim rules out, and is *undecided* otherwise.
"""

from __future__ import annotations

import math

import pandas as pd

from ..stats import agreement, compare, holm
from ..variants import pair_claim, side_name, variant_label, variant_order, variants_in
from .tables import paper_shaped_table, results_frame

# the paper's (and the later work's) claim about each pair (a, b) is registered with variant a
# (:func:`nbprune.variants.pair_claim`, in the terms of :func:`nbprune.stats.agreement`): "a >= b" (training
# from scratch is as good as fine-tuning or as the pruned model) agrees with the verdicts "a better" and
# "equivalent" and disagrees with "b better"; "a <= b" (a winning ticket is no better than a random init)
# agrees with "b better" and "equivalent" and disagrees with "a better"; "a > b" (chapter 6: the later work's
# claims) agrees only with "a better"; an inconclusive verdict is undecided.

def search_comparisons() -> list[tuple[str, str, str | None]]:
    """Section 5's comparisons of architectures at the same fraction of channels (all Scratch-E): (a, b, the
    paper's finding in the terms of :func:`nbprune.stats.agreement`, or None where it tabulates none), as the
    methods registered them (``compared_with`` of :func:`nbprune.prune.register_method`).

    "a > b" agrees only with "a better" and disagrees with "b better" and "equivalent"; "a = b" (about as good)
    agrees only with "equivalent" and disagrees with either side being better."""
    from ..prune import search_comparisons as registered  # the methods' registrations (torch: only here)

    return registered()


CLAIM_WORDS = {"a > b": "{a} better", "b > a": "{b} better", "a = b": "about equal", "a >= b": "{a} as good or better",
               "a <= b": "{a} no better"}
"""A claim of :func:`nbprune.stats.agreement` in words, with ``{a}`` and ``{b}`` the names of the two sides."""


def t_interval(diffs, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): the t-interval of the mean of paired differences (nan bounds for n < 2)."""
    from scipy import stats

    s = pd.Series(list(diffs), dtype=float)
    n = len(s)
    if n == 0:
        return float("nan"), float("nan"), float("nan")
    m = float(s.mean())
    if n < 2:
        return m, float("nan"), float("nan")
    half = float(stats.t.ppf(0.5 + level / 2, n - 1) * s.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half


def _interval(lo: float, hi: float) -> str:
    """'[lo, hi]' to two decimals, 'n/a' for an interval of one seed."""
    return "n/a" if math.isnan(lo) else f"[{lo:.2f}, {hi:.2f}]"


def _verdict_row(keys: dict, label: str, c, verdict: str, paper: str, agrees: str) -> dict:
    """One row of a verdict table from a :class:`nbprune.stats.Comparison` ``c``."""
    return {**keys, "comparison": label, "seeds": c.n, "mean diff": round(c.mean, 2),
            "95% CI": _interval(c.low95, c.high95), "90% CI": _interval(c.low90, c.high90),
            "p diff / equiv": _p(c), "paper": paper, "verdict": verdict, "paper's claim": agrees}


def paired_stats(df: pd.DataFrame, group: list[str], pairs: list[tuple[str, str]], paper: dict | None = None,
                 margin: float = 1.0, value: str = "final") -> list[dict]:
    """Per group and pair (a, b): the per-seed differences a - b compared by :func:`nbprune.stats.compare`
    against ``margin`` (accuracy points), with the paper's difference for the row; numbers, not text.

    Only seeds that have both variants count. A pair whose two sides are the same runs at every seed (chapter
    6's learning-rate rewinding where the replayed epochs are all at the fine-tuning lr) is not a comparison
    and gives no row. Each row: ``keys`` (the group's values), ``a``, ``b``, ``cmp`` (the
    :class:`nbprune.stats.Comparison`, not yet adjusted for multiplicity: see :func:`settle`), ``paper`` (the
    paper's mean a - mean b, or None) and ``ids`` (the run ids of each side, for :func:`settle` to count a
    comparison of the same runs once), and ``alias`` (side -> the variant whose runs it is, where one side is
    the same runs as another variant of the group: Scratch-B of a budget too small to add an epoch is
    Scratch-E, learning-rate rewinding at the fine-tuning lr is fine-tuning).
    """
    out = []
    for keys, g in df.groupby(group, observed=True, sort=False):
        keys = keys if isinstance(keys, tuple) else (keys,)
        alias = _aliases(g)
        for a, b in pairs:
            wide = g[g["variant"].isin([a, b])].pivot_table(index="seed", columns="variant", values=value,
                                                               observed=True)
            if a not in wide or b not in wide:
                continue
            diffs = (wide[a] - wide[b]).dropna()
            if diffs.empty or _same_runs(g, a, b):
                continue
            pa, pb = (paper or {}).get((*keys, a)), (paper or {}).get((*keys, b))
            out.append({"keys": dict(zip(group, keys)), "a": a, "b": b, "cmp": compare(diffs, margin),
                        "paper": None if pa is None or pb is None else pa[0] - pb[0],
                        "ids": (_ids(g, a, diffs.index), _ids(g, b, diffs.index)),
                        "alias": {v: alias[v] for v in (a, b) if v in alias}})
    return out


def _same_runs(g: pd.DataFrame, a: str, b: str) -> bool:
    """Whether variants a and b of one group are the same runs (same run ids at every seed)."""
    if "run_id" not in g:
        return False
    ids = {v: sorted(g.loc[g["variant"] == v, "run_id"]) for v in (a, b)}
    return bool(ids[a]) and ids[a] == ids[b]


def _ids(g: pd.DataFrame, variant: str, seeds) -> tuple[str, ...]:
    """The run ids of ``variant`` at ``seeds`` in ``g`` (empty without a run_id column)."""
    if "run_id" not in g:
        return ()
    rows = g[(g["variant"] == variant) & g["seed"].isin(list(seeds))]
    return tuple(sorted(rows["run_id"].astype(str)))


def _aliases(g: pd.DataFrame) -> dict[str, str]:
    """variant -> the earlier variant of the group (in row order) whose runs it is, seed by seed."""
    if "run_id" not in g:
        return {}
    ids: dict[str, tuple] = {}
    for v, rows in g.groupby("variant", observed=True, sort=False):
        ids[str(v)] = tuple(rows.sort_values("seed")["run_id"].astype(str))
    order = list(dict.fromkeys(g["variant"].astype(str)))
    out = {}
    for i, v in enumerate(order):
        for w in order[:i]:
            if ids[v] and ids[v] == ids[w] and w not in out:
                out[v] = w
                break
    return out


def comparison_label(r: dict) -> str:
    """'Scratch-E - Fine-tuned': a stats row's pair in words."""
    return f"{variant_label(r['a'])} - {variant_label(r['b'])}"


def settle(rows: list[dict], family=None, seen: dict | None = None, label=comparison_label) -> list[dict]:
    """Count each comparison once, then control multiplicity within each family of comparisons.

    A row whose two sides are the same runs as an earlier row's (in either order; in ``seen`` too, which
    maps the run-id pair of every comparison counted so far to its label and is updated) tests nothing new:
    it gets ``same_as`` (the earlier row's label) and is left out of every family. The others are grouped by
    ``family(row)`` (None: one family) and decided again by :func:`nbprune.stats.holm` (Holm's step-down
    over the family's difference tests and, separately, its equivalence tests); each gets ``family`` (the
    key). Rows without run ids are never duplicates. Returns the rows (new dicts) in their order."""
    seen = {} if seen is None else seen
    out, members = [], {}
    for r in rows:
        r = dict(r)
        key = frozenset(r.get("ids", ())) if all(r.get("ids", ())) else None
        if key is not None and len(key) == 2 and key in seen:
            r["same_as"] = seen[key]
        else:
            if key is not None and len(key) == 2:
                seen[key] = label(r)
            fam = None if family is None else family(r)
            r["family"] = fam
            members.setdefault(fam, []).append(len(out))
        out.append(r)
    for idx in members.values():
        for i, c in zip(idx, holm([out[i]["cmp"] for i in idx])):
            out[i]["cmp"] = c
    return out


def _p(c) -> str:
    """'0.012 / 0.430' (difference / equivalence p, Holm-adjusted within the family of m when m > 1)."""
    if math.isnan(c.p_diff_adj):
        return "n/a"
    tail = f" (Holm, {c.family})" if c.family > 1 else ""
    return f"{c.p_diff_adj:.3f} / {c.p_equiv_adj:.3f}{tail}"


def paired_table(df: pd.DataFrame, group: list[str], pairs: list[tuple[str, str]],
                 paper: dict | None = None, margin: float = 1.0, value: str = "final", family=None) -> pd.DataFrame:
    """Per group and pair (a, b): the mean per-seed difference a - b, its 95% and 90% intervals, the p's of
    the difference and equivalence tests, the verdict of :func:`nbprune.stats.compare` at ``margin`` after
    :func:`settle` (each comparison once; Holm within each ``family``, None: the table is one family) and
    whether it supports the paper's claim about the pair.

    The verdict is "equivalent within ±margin", "<side> better", or "inconclusive" with the seeds that would
    decide it at 80% power; a row of the same runs as an earlier one says so instead ("same runs as ...")
    and is no verdict. "paper's claim" applies :func:`nbprune.stats.agreement` to the claim
    :func:`~nbprune.variants.pair_claim` gives for the pair ("agrees", "disagrees", "undecided"; "-" for a pair
    without one or a row that is no verdict).
    """
    return verdict_rows(settle(paired_stats(df, group, pairs, paper, margin, value), family))


def verdict_rows(rows: list[dict]) -> pd.DataFrame:
    """Settled stats rows (:func:`settle`) of :func:`paired_stats`, :func:`search_stats` or
    :func:`random_pruning_stats` as a verdict table (one row each; see :func:`paired_table`)."""
    out = []
    for r in rows:
        a, b, c = r["a"], r["b"], r["cmp"]
        claim = r["claim"] if "claim" in r else pair_claim(a, b)
        label = r.get("label") or comparison_label(r)
        alias = r.get("alias", {})
        if alias:
            label += " (" + "; ".join(f"{variant_label(v)} is the {variant_label(w).lower()} runs here"
                                      for v, w in alias.items()) + ")"
        if "same_as" in r:
            verdict, agrees = f"same runs as {r['same_as']}: not counted again", "-"
        else:
            verdict = c.text(r.get("side_a") or side_name(a), r.get("side_b") or side_name(b))
            agrees = "-" if claim is None else agreement(c.outcome, claim)
        paper = r.get("paper_text") or ("-" if r.get("paper") is None else f"{r['paper']:+.2f}")
        out.append(_verdict_row(r["keys"], label, c, verdict, paper, agrees))
    return pd.DataFrame(out)


def search_stats(df: pd.DataFrame, margin: float = 1.0) -> list[dict]:
    """Section 5's comparisons of architectures at the same fraction pruned (all Scratch-E), paired by seed.

    For each model, fraction (the last word of ``target``) and pair of :func:`search_comparisons`, the
    per-seed differences a - b are compared by :func:`nbprune.stats.compare` at ``margin`` (same rules as
    :func:`paired_stats`); each row also carries the pair's ``claim``.
    """
    points = df[df["variant"] == "scratch-e"]
    points = points.assign(fraction=points["target"].str.split().str[-1])
    pairs = points.pivot_table(index=["model", "fraction", "seed"], columns="method", values="final", observed=True)
    ids = (points.set_index(["model", "fraction", "method", "seed"])["run_id"].astype(str)
           if "run_id" in points else None)
    out, comparisons = [], search_comparisons()
    for (model, fraction), g in pairs.groupby(level=["model", "fraction"], sort=False):
        for a, b, claim in comparisons:
            if a not in g or b not in g:
                continue
            d = (g[a] - g[b]).dropna()
            if not d.empty:
                seeds = d.index.get_level_values("seed")
                side = (lambda m: tuple(sorted(ids.loc[(model, fraction, m, s)] for s in seeds))) if ids is not None \
                    else (lambda m: ())
                out.append({"keys": {"model": model, "pruned": fraction}, "a": a, "b": b, "claim": claim,
                            "cmp": compare(d, margin), "paper": None, "ids": (side(a), side(b)),
                            "label": f"{a} - {b}", "side_a": a, "side_b": b,
                            "paper_text": "-" if claim is None else CLAIM_WORDS[claim].format(a=a, b=b)})
    return out


def search_pairs(df: pd.DataFrame, margin: float = 1.0) -> pd.DataFrame:
    """:func:`search_stats` as a table: interval, verdict and whether it supports the paper's finding.

    "paper" is the finding in words (:data:`CLAIM_WORDS`) and "paper's claim" the verdict of
    :func:`nbprune.stats.agreement` against it ("-" where the paper tabulates none).
    """
    return verdict_rows(settle(search_stats(df, margin), family=search_family))


def search_family(r: dict) -> str:
    """The family of a search comparison for :func:`settle`: its pair of architectures (each tested at every
    fraction), the paper's claim about that pair being one finding."""
    return r["label"]


RANDOM_METHOD = "random-channels"
RANDOM_SCHEDULES = variants_in("retraining")  # the large-lr schedules the random rows are retrained with


def best_schedule(df: pd.DataFrame, model: str) -> str | None:
    """The large-lr retraining schedule with the highest mean final accuracy on ``model``'s L1-norm row (the
    schedule Le & Hua retrain random pruning with); None when the row has none of them."""
    l1 = df[(df["method"] == "l1") & (df["model"] == model) & df["variant"].isin(RANDOM_SCHEDULES)]
    if l1.empty:
        return None
    means = l1.groupby("variant", observed=True)["final"].mean()
    return str(means.idxmax())


def random_pruning_stats(df: pd.DataFrame, margin: float = 1.0) -> list[dict]:
    """Chapter 6's cross-row comparison: randomly pruned filters (method ``random-channels``) retrained with
    the best large-lr schedule (:func:`best_schedule`, chosen on the L1-norm row) minus L1-norm pruning
    fine-tuned, paired by seed (a seed's random value is its mean over the draws), compared by
    :func:`nbprune.stats.compare` at ``margin``. Each row as :func:`paired_stats`' plus ``schedule`` and
    ``draws`` (per seed)."""
    out = []
    rand = df[df["method"] == RANDOM_METHOD]
    for model, g in rand.groupby("model", sort=False):
        schedule = best_schedule(df, model)
        if schedule is None:
            continue
        a = g[g["variant"] == schedule].groupby("seed")["final"]
        b = df[(df["method"] == "l1") & (df["model"] == model) & (df["variant"] == "fine-tuned")]
        b = b.groupby("seed")["final"].mean()
        diffs = (a.mean() - b).dropna()
        if diffs.empty:
            continue
        draws = int(a.size().min())
        rid = lambda rows: tuple(sorted(rows["run_id"].astype(str))) if "run_id" in rows else ()  # noqa: E731
        ra = g[(g["variant"] == schedule) & g["seed"].isin(diffs.index)]
        rb = df[(df["method"] == "l1") & (df["model"] == model) & (df["variant"] == "fine-tuned")
                & df["seed"].isin(diffs.index)]
        label = variant_label(schedule)
        out.append({"keys": {"model": model, "target": str(g["target"].iloc[0])}, "a": f"random + {schedule}",
                    "b": "L1-norm + fine-tuned", "schedule": schedule, "draws": draws,
                    "cmp": compare(diffs, margin), "paper": None, "ids": (rid(ra), rid(rb)), "claim": "a > b",
                    "label": f"random filters ({label}, mean of {draws} draws) - L1-norm fine-tuned",
                    "side_a": "random", "side_b": "L1-norm"})
    return out


def random_pruning_table(df: pd.DataFrame, margin: float = 1.0) -> pd.DataFrame:
    """:func:`random_pruning_stats` as a verdict table; the claim tested (Le & Hua) is "random better"."""
    return verdict_rows(settle(random_pruning_stats(df, margin)))


def chapter_tables(rows: list[dict], refs: dict, pairs: list[tuple[str, str]],
                   margin: float = 1.0, family=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the paper-shaped table, the paired-statistics table at equivalence ``margin``, settled with ``family``:
    see :func:`paired_table`) of a chapter's rows."""
    df = results_frame(rows)
    shaped = paper_shaped_table(df, ["model", "target"], refs)
    paired = paired_table(df[df["variant"] != "unpruned"], ["model", "target"], pairs, refs, margin, family=family)
    return shaped, paired


BUDGET_PAIRS = (("scratch-e", "fine-tuned"), ("scratch-b", "fine-tuned"))


def curve_rows(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """A curve's result rows by the row they re-run (the target without its ", N epochs"), each with the
    unpruned rows of the same budgets (the large models are shared): one frame per row, for
    :func:`budget_stats`."""
    df = results_frame(df.to_dict("records")) if not isinstance(df, pd.DataFrame) else df
    name = df["target"].astype(str).str.replace(r",\s*\d+ epochs$", "", regex=True)
    unpruned = df[df["variant"] == "unpruned"]
    return {row: pd.concat([unpruned, g]) for row, g in df[df["variant"] != "unpruned"].groupby(name, sort=False)}


def budget_stats(df: pd.DataFrame, margin: float = 1.0, pairs=BUDGET_PAIRS) -> pd.DataFrame:
    """The budget curve in numbers, one row per budget (the large model's epochs): mean final accuracy of the
    unpruned model and of each pruned variant over seeds, each pair's paired difference (a - b, by seed) with
    its 95% interval and verdict (:func:`nbprune.stats.compare` at ``margin``, Holm-adjusted over the budget's
    pairs: the comparisons a claim is read from together at that budget), and the gain of doubling the
    unpruned model's epochs (its accuracy at twice the budget minus at the budget, by seed): the scale on which
    a Scratch-B gain, which comes from more epochs, is read. A budget only the unpruned model trained at (the
    doubling gain's far end) has a row with its accuracy alone. Pure: a function of the result rows."""
    df = results_frame(df.to_dict("records")) if not isinstance(df, pd.DataFrame) else df
    unpruned = df[df["variant"] == "unpruned"].groupby(["budget", "seed"])["final"].first()
    out = []
    for budget in sorted(int(b) for b in df.loc[df["variant"] != "unpruned", "budget"].unique()):
        at = df[(df["budget"] == budget) & (df["variant"] != "unpruned")]
        by = {v: g.set_index("seed")["final"] for v, g in at.groupby("variant", observed=True)}
        row = {"budget": budget, "seeds": int(at["seed"].nunique())}
        if budget in unpruned.index.get_level_values(0):
            row["unpruned"] = float(unpruned.loc[budget].mean())
        order = variant_order()
        for v in sorted(by, key=lambda v: order.index(v) if v in order else len(order)):
            row[variant_label(v)] = float(by[v].mean())
        found = [(a, b) for a, b in pairs if a in by and b in by]
        cmps = holm([compare((by[a] - by[b]).dropna().tolist(), margin) for a, b in found])
        for (a, b), c in zip(found, cmps):
            name = f"{variant_label(a)} - {variant_label(b)}"
            row[name] = c.mean
            row[f"{name} 95% CI"] = _interval(c.low95, c.high95)
            row[f"{name} verdict"] = c.text(side_name(a), side_name(b))
            row[f"{name} p"] = _p(c)  # what the verdict read: the p's after Holm over the budget's comparisons
            row[f"_{name}"] = (c.mean, c.low95, c.high95)
        if 2 * budget in unpruned.index.get_level_values(0) and budget in unpruned.index.get_level_values(0):
            gain = (unpruned.loc[2 * budget] - unpruned.loc[budget]).dropna()
            if len(gain):
                c = compare(gain.tolist(), margin)
                row["doubling gain"] = c.mean
                row["doubling gain 95% CI"] = _interval(c.low95, c.high95)
                row["_doubling gain"] = (c.mean, c.low95, c.high95)
        out.append(row)
    # the budgets only the unpruned model trained at (the far end of the last doubling gain): its accuracy
    for budget in sorted(set(int(b) for b in unpruned.index.get_level_values(0)) - {r["budget"] for r in out}):
        at = unpruned.loc[budget]
        out.append({"budget": budget, "seeds": int(at.index.nunique()), "unpruned": float(at.mean())})
    return pd.DataFrame(out).sort_values("budget", ignore_index=True) if out else pd.DataFrame(out)
